"""The `ikm-tui howto ACTION` subcommand: the same action with pkcs11-tool, openssl, p11tool and runmqakm."""

from __future__ import annotations

import argparse
import sys

from ikm_tui.core.x509.names import KEY_TYPES
from ikm_tui.core.text.equivalents import (
    ACTIONS,
    CommandContext,
    equivalent_commands,
    format_equivalents,
    normalise_action,
)
from ikm_tui.core.sanitize import safe_text

# "Not found" in the exit-status table (cli/exitcodes.py), like `explain` for an unknown code.
EXIT_UNKNOWN = 4

_EPILOG = """\
examples:
  ikm-tui howto                             list the actions
  ikm-tui howto certreq create              key pair + request, with placeholders
  ikm-tui howto certreq create --key-type ec:p256 --label web --subject "CN=web,O=SSS"
  ikm-tui --module /usr/lib/softhsm/libsofthsm2.so --token mytoken howto list

Nothing is run and no token is opened: this only prints command lines. The PIN is always a
placeholder: pkcs11-tool and openssl read it from $PIN (--pin env:PIN, -passin env:PIN),
p11tool prompts, runmqakm shows -pw <PIN>.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `howto [ACTION]` to the main CLI's subparsers; the handler is set as `func`."""
    p = subparsers.add_parser(
        "howto",
        help="show how other tools (pkcs11-tool, openssl, p11tool, runmqakm) do an action",
        description="Print the pkcs11-tool / openssl / p11tool / runmqakm command lines for an action, "
                    "with placeholders for what you do not give. A teaching aid: nothing is run.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # nargs="*" so both `howto certreq create` and `howto certreq-create` work.
    p.add_argument("action", metavar="ACTION", nargs="*", help="one of: " + ", ".join(ACTIONS))
    p.add_argument("--label", help="object label (default <LABEL>)")
    p.add_argument("--new-label", help="new label, for rename")
    p.add_argument("--id", dest="key_id", metavar="HEX", help="CKA_ID in hex")
    p.add_argument("--key-type", dest="key_spec", metavar="TYPE",
                   help="|".join(KEY_TYPES) + " (default rsa:2048)")
    p.add_argument("--subject", metavar="DN", help='subject DN, e.g. "CN=colin,O=SSS" (default CN=<name>)')
    p.add_argument("--days", type=int, help="validity of a self-signed certificate (default 365)")
    p.add_argument("--file", dest="in_file", metavar="FILE", help="input file (certificate to receive/add)")
    p.add_argument("--out", dest="out_file", metavar="FILE", help="output file")
    p.add_argument("--type", dest="object_type", choices=["cert", "private", "public", "request"],
                   help="object type, for delete (default cert)")
    from ikm_tui.cli.jsonout import add_json

    add_json(p, "howto", capture=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the equivalents; 0 when the action is known, 4 when it is not."""
    as_json = getattr(args, "json", False)
    if not args.action and as_json:
        from ikm_tui.cli.jsonout import emit

        emit("howto", {"action": None, "summary": None, "ikm_command": None, "commands": [],
                       "actions": [{"name": a.name, "summary": a.summary, "ikm_command": a.ikm_command}
                                   for a in ACTIONS.values()]})
        return 0
    if not args.action:
        width = max(len(a) for a in ACTIONS)
        for a in ACTIONS.values():
            print(f"{a.name:<{width}}  {a.summary}  ({a.ikm_command})")
        return 0
    try:
        action = normalise_action(" ".join(args.action))
    except ValueError as exc:
        print(safe_text(f"ikm-tui howto: {exc}"), file=sys.stderr)
        return EXIT_UNKNOWN
    ctx = CommandContext.from_values(
        module=getattr(args, "module", None), token_label=_token_label(getattr(args, "token", None)),
        label=args.label, new_label=args.new_label, key_id=args.key_id, key_spec=args.key_spec,
        subject=args.subject, days=args.days, in_file=args.in_file, out_file=args.out_file,
        object_type=args.object_type,
    )
    try:
        equivalents = equivalent_commands(action, ctx)
    except ValueError as exc:
        print(safe_text(f"ikm-tui howto: {exc}"), file=sys.stderr)
        return EXIT_UNKNOWN
    info = ACTIONS[action]
    if as_json:
        from ikm_tui.cli.jsonout import emit

        emit("howto", {"action": action, "summary": info.summary, "ikm_command": info.ikm_command, "actions": [],
                       "commands": [{"tool": e.tool, "available": e.available,
                                     "command": e.render() if e.available else None, "note": e.note or None}
                                    for e in equivalents]})
        return 0
    print(safe_text(f"# {info.summary}; with ikm-tui: {info.ikm_command}"))
    for line in format_equivalents(equivalents):
        print(line)
    return 0


def _token_label(token: str | None) -> str | None:
    # --token may be a pkcs11: URI; the tools here want the plain label.
    if token and token.startswith("pkcs11:"):
        from ikm_tui.core.uri import parse_token_selector

        return parse_token_selector(token).get("token")
    return token
