"""Command palette provider: the same actions as the key bindings, findable by name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (name, action on the App, help). The App forwards token actions to the main screen.
COMMANDS: list[tuple[str, str, str]] = [
    ("Log in / log out", "toggle_login", "Log in with the user PIN, or log out (key l)"),
    ("Reload token", "refresh", "List the open token again, still logged in (key r)"),
    ("Rescan tokens", "rescan", "Re-initialise the modules: finds new tokens; logs out (key ctrl+r)"),
    ("Copy PKCS#11 URI", "copy_uri", "Copy the selected token's or object's URI (key c)"),
    ("New certificate request", "new_request", "Key pair on the token + PKCS#10 request (key n)"),
    ("New self-signed certificate", "new_self_signed", "Key pair on the token + self-signed cert (key N)"),
    ("Save request…", "save_request", "Write the selected pending request to a PEM file (key s)"),
    ("Delete request", "delete_request", "Delete the selected pending request (key d)"),
    ("Re-sign request", "recreate_request", "New request for the selected request's key (key e)"),
    ("Receive signed certificate…", "manage('receive')",
     "Store the CA-signed certificate next to its private key (key i)"),
    ("Add CA certificate…", "manage('add_ca')", "Store a CA / signer certificate from a file (key a)"),
    ("Issue certificate…", "issue_certificate",
     "Sign a request with the selected CA certificate's key on the token (key I)"),
    ("Save certificate…", "manage('extract')", "Write the selected certificate to PEM or DER (key x)"),
    ("Export public key…", "manage('export_public')", "Write the selected key's public key as PEM (key p)"),
    ("Use this key elsewhere…", "manage('use_elsewhere')",
     "Java / NSS / OpenSSL / MQ config for the selected key, with a proving script (key U)"),
    ("Delete selected object…", "manage('delete')", "Delete the selected key or certificate (key d)"),
    ("Rename certificate and keys…", "manage('rename')", "Rename the selected pair together (key R)"),
    ("Change user PIN…", "manage('change_pin')", "Old PIN once, new PIN twice (key P)"),
    ("Pairing doctor", "manage('doctor')", "Keys without certs, certs without keys, mislinked pairs (key D)"),
    ("Keys tab", "tab(0)", "Show the Keys tab (key 1; [ and ] step through the tabs)"),
    ("Certificates tab", "tab(1)", "Show the Certificates tab (key 2)"),
    ("Requests tab", "tab(2)", "Show the pending requests (key 3)"),
    ("Mechanisms tab", "tab(3)", "Show the token's mechanisms (key 4)"),
    ("Trace tab", "tab(4)", "Show every PKCS#11 call (key 5)"),
    ("Filter table…", "filter", "Filter Keys or Certificates by label, subject, issuer or id (key /)"),
    ("Order certificates by expiry", "expiry_order", "Soonest expiry first, again for the token's order (key o)"),
    ("All tokens: expiry", "all_tokens",
     "Every certificate on every token and remote, soonest first; sort, filter (key E)"),
    ("Help", "help", "Keys, markers and pairing explained (key ?)"),
    ("Quit", "quit", "Leave ikm-tui (key q)"),
]


class IkmCommands(Provider):
    def _runner(self, action: str) -> Callable[[], object]:
        # An action name, not a function: the palette needs neither the App class nor a flow.
        return partial(self.app.run_action, action)

    async def discover(self) -> Hits:
        for name, action, help_text in COMMANDS:
            yield DiscoveryHit(name, self._runner(action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, action, help_text in COMMANDS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), self._runner(action), help=help_text)
