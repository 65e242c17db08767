"""`ikm-tui key ...`: export the public key, delete a key pair."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ikm_tui.cli.cert import FORCE_HELP, RAW, _hex_id, _say, _write_out, delete_planned
from ikm_tui.cli.common import add_common, open_token
from ikm_tui.cli.jsonout import add_json, result

if TYPE_CHECKING:
    from ikm_tui.cli.common import Subparsers


def register(sub: Subparsers) -> None:
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
    q.add_argument("--force", action="store_true", help=FORCE_HELP)
    add_json(q, "key-export-public")
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
    add_json(q, "key-delete")
    q.set_defaults(func=cmd_key_delete)


def cmd_export_public(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.export import export_public_key

    svc, slot = open_token(args)
    key, pem = svc.run(export_public_key, slot, args.label, args.id)
    _write_out(args.out, pem.encode("ascii"), force=args.force)
    result(args, label=key.label, id=key.id.hex(), out=args.out)
    _say(f"wrote the public key of {key.label!r} id={key.id.hex()} to {args.out}")
    return 0


def cmd_key_delete(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.delete import plan_delete_key

    svc, slot = open_token(args, login=True)
    return delete_planned(args, svc, slot, svc.run(plan_delete_key, slot, args.label, args.id))

