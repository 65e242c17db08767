"""`ikm-tui pin change`: the user PIN, old once and new twice, never from the command line."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from ikm_tui.cli.cert import RAW, _say
from ikm_tui.cli.common import add_common, get_pin, open_token, read_pin_file
from ikm_tui.cli.exitcodes import PinError
from ikm_tui.cli.jsonout import add_json, result
from ikm_tui.core.errors import IkmError

if TYPE_CHECKING:
    from ikm_tui.cli.common import Subparsers


def register(sub: Subparsers) -> None:
    p = sub.add_parser("pin", help="change the user PIN", formatter_class=RAW, description="User PIN.",
                       epilog="examples:\n  ikm-tui pin change\n")
    add_common(p, top=False)
    ps = p.add_subparsers(dest="pin_command", metavar="SUBCOMMAND", required=True)
    q = ps.add_parser("change", help="change the user PIN (old once, new twice)", formatter_class=RAW,
                      description="Change the user PIN. The current PIN comes from --pin-file / IKM_PIN or a "
                                  "prompt; the new one from --new-pin-file or two prompts. Length limits come "
                                  "from the token.",
                      epilog="examples:\n  ikm-tui --token mytoken pin change\n"
                             "  ikm-tui pin change --pin-file old.pin --new-pin-file new.pin\n")
    add_common(q, top=False)
    q.add_argument("--new-pin-file", metavar="FILE", help="read the new PIN from FILE (mode 0600)")
    add_json(q, "pin-change")
    q.set_defaults(func=cmd_pin_change)


def cmd_pin_change(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.pin import change_pin, check_pin_length
    from ikm_tui.core.p11.backend import Backend
    from ikm_tui.core.pin import Pin

    old = get_pin(args, "Current user PIN: ", required=True)
    assert old is not None
    # Logging in with the old PIN checks it once, with the token's PIN-state guards (final try).
    # open_token logs in itself only with --pin-file / IKM_PIN; after a prompt we do it here.
    svc, slot = open_token(args, login=False)
    svc.run(Backend.login, slot, old)
    if args.new_pin_file:
        new = read_pin_file(args.new_pin_file)
    else:
        if not sys.stdin.isatty():
            raise PinError("The new PIN is needed but there is no terminal to ask on.",
                           "Use --new-pin-file FILE (mode 0600).")
        new = Pin(getpass.getpass("New user PIN: "))
        svc.run(check_pin_length, slot, new)
        again = Pin(getpass.getpass("New user PIN again: "))
        if again != new:
            raise IkmError("The two new PINs differ; the PIN was not changed.", "Run the command again.")
    if new == old:
        raise IkmError("The new PIN is the same as the current one; nothing was changed.", "Choose another PIN.")
    svc.run(change_pin, slot, old, new)
    result(args, changed=True)
    _say("user PIN changed")
    return 0
