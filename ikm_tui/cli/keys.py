"""`ikm-tui key ...` (export the public key, delete a key pair) and `ikm-tui pin change`."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from ikm_tui.cli.cert import RAW, _hex_id, _say, _write_out, print_plan
from ikm_tui.cli.common import add_common, get_pin, open_token, read_pin_file
from ikm_tui.core.errors import IkmError


def register(sub: Any) -> None:
    p = sub.add_parser("key", help="export a public key, delete a key pair", formatter_class=RAW,
                       description="Keys on the token.",
                       epilog="examples:\n  ikm-tui key export-public web01 --out web01.pub.pem\n"
                              "  ikm-tui key delete old-web01 --yes\n")
    add_common(p, top=False)
    ks = p.add_subparsers(dest="key_command", metavar="SUBCOMMAND", required=True)

    q = ks.add_parser("export-public", help="write the public key (SubjectPublicKeyInfo PEM)",
                      formatter_class=RAW,
                      description="Write the public key of the key labelled L as a PEM SubjectPublicKeyInfo "
                                  "(what `openssl pkey -pubin` reads).",
                      epilog="examples:\n  ikm-tui key export-public web01 --out web01.pub.pem\n")
    add_common(q, top=False)
    q.add_argument("label", metavar="L")
    q.add_argument("--out", required=True, metavar="FILE")
    q.add_argument("--id", type=_hex_id, metavar="HEX", help="pick among keys with the same label")
    q.set_defaults(func=cmd_export_public)

    q = ks.add_parser("delete", help="delete a private key and its public key (needs --yes)",
                      formatter_class=RAW,
                      description="Delete the private key labelled L and its public-key object. Prints what "
                                  "it deletes; without --yes it only prints. Its certificate, if any, stays "
                                  "(and is reported as becoming an orphan).",
                      epilog="examples:\n  ikm-tui key delete old-web01\n  ikm-tui key delete old-web01 --yes\n")
    add_common(q, top=False)
    q.add_argument("label", metavar="L")
    q.add_argument("--id", type=_hex_id, metavar="HEX")
    q.add_argument("--yes", action="store_true", help="really delete")
    q.set_defaults(func=cmd_key_delete)

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
    q.set_defaults(func=cmd_pin_change)


def cmd_export_public(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.export import export_public_key

    svc, slot = open_token(args)
    key, pem = svc.run(export_public_key, slot, args.label, args.id)
    _write_out(args.out, pem.encode("ascii"))
    _say(f"wrote the public key of {key.label!r} id={key.id.hex()} to {args.out}")
    return 0


def cmd_key_delete(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.delete import apply_delete, plan_delete_key
    from ikm_tui.core.ops.plans import describe

    svc, slot = open_token(args, login=True)
    plan = svc.run(plan_delete_key, slot, args.label, args.id)
    if not args.yes:
        print_plan(plan, "would delete")
        raise IkmError("Nothing was deleted.", "Add --yes to delete what is listed above.")
    for o in svc.run(apply_delete, slot, plan):
        _say(f"deleted: {describe(o)}")
    for w in plan.warnings:
        _say(f"warning: {w}")
    return 0


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
            raise IkmError("The new PIN is needed but there is no terminal to ask on.",
                           "Use --new-pin-file FILE (mode 0600).")
        new = Pin(getpass.getpass("New user PIN: "))
        svc.run(check_pin_length, slot, new)
        again = Pin(getpass.getpass("New user PIN again: "))
        if again != new:
            raise IkmError("The two new PINs differ; the PIN was not changed.", "Run the command again.")
    if new == old:
        raise IkmError("The new PIN is the same as the current one; nothing was changed.", "Choose another PIN.")
    svc.run(change_pin, slot, old, new)
    _say("user PIN changed")
    return 0
