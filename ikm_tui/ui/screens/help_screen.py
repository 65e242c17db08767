"""HelpScreen: keys, markers and what the panes mean."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

HELP = """\
ikm-tui: keys, certificates and requests on a PKCS#11 token

Keys
  l        log in with the user PIN / log out
  r        reload: list the open token again, still logged in (tpm2-pkcs11:
           re-initialises, as ctrl+r, to show other tools' objects; logs out)
  ctrl+r   rescan: re-initialise the modules (new tokens; logs out)
  c        copy the PKCS#11 URI of the selected token or object
  m        show me the command: pkcs11-tool / openssl / p11tool / runmqakm
           lines for the selected object's actions (PIN as a placeholder)
  tab      move between the token tree, the tables and the details
  1-5      Keys, Certificates, Requests, Mechanisms, Trace tab
  [ ]      previous / next tab
  /        filter the table shown (label, subject, issuer, id); esc clears
  n        new certificate request (key pair made on the token)
  N        new self-signed certificate (runmqakm -cert -create)
  i        receive the CA-signed certificate (file, picker or pasted PEM;
           preview, then apply): stored next to its key, same CKA_ID/label
  a        add a CA / signer certificate      x  save the selected cert
  I        issue a certificate with the selected CA (its key on the token):
           a request file or a pending request; preview, sign, receive here
  p        export the selected key's public key (PEM)
  U        use the selected key elsewhere: Java, NSS, OpenSSL or MQ config
           files and a script that proves them (as `ikm-tui export-config`)
  d        delete the selected key or certificate (type its label)
  R        rename a certificate with its keys  P  change the user PIN
  D        pairing doctor (finds and repairs mislinked pairs)
  E        all tokens: every certificate of every module and remote,
           soonest first (s or a header click sorts, / filters, esc back)
  ctrl+p   command palette (every action by name)
  ?        this help          q  quit

Markers (as runmqakm -cert -list shows them)
  -  personal: a certificate with its private key on the token
  !  signer: a certificate without a private key here (CA, partner)
  #  secret key

Pairing
  A certificate belongs to the private key holding the same public key
  (RSA modulus, or the EC point of the key's public-key object).
  Selecting a certificate moves the Keys cursor to its key; the details
  say "paired with key <label> (id ...)". ID MISMATCH means the public key
  matches but CKA_ID differs: Java and NSS, which pair by CKA_ID, will not
  see the pair. Private keys appear only after login.

Trace and lint
  The Trace tab lists every PKCS#11 call (PIN as ***, result, duration).
  A certificate's details start with its lint findings (error, warning,
  info) and a chain check against the CA certificates on the token.

Requests (pending requests are kept on the token, as data objects)
  s        save the selected request to a PEM file for the CA
  d        delete it (type its label to confirm)    e  re-sign it
  Keys are generated on the token; while that runs you can keep browsing.

PIN
  The PIN dialog shows the token's PIN flags first. It logs in exactly
  once per submit and never retries; on FINAL TRY it asks you to confirm,
  and it does not try a LOCKED PIN at all.
"""


# The dialog is 80 columns less its padding and scrollbar (app.tcss): no line may be wider,
# or it wraps mid-sentence at 80 and 120 columns (tests/unit/test_help_text.py checks).
HELP_WIDTH = 77


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q", "close", "Close", id="help.close", tooltip="Close the help"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog", classes="dialog"):
            yield Static(Content(HELP), id="help-text")
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
