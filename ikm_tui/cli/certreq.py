"""`ikm-tui certreq ...`: requests made and kept on the token; the key options `cert create` shares."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from ikm_tui.cli.common import add_common, open_token, out
from ikm_tui.cli.jsonout import add_json, emit, result
from ikm_tui.cli.exitcodes import UsageError
from ikm_tui.core.errors import RefusedError
from ikm_tui.core.files import PUBLIC_MODE, check_target, write_error, write_file
from ikm_tui.core.hexid import parse_hex_id
from ikm_tui.core.x509.defaults import DEFAULT_EKU, default_key_usage
from ikm_tui.core.x509.names import KEY_TYPES

if TYPE_CHECKING:
    from ikm_tui.cli.common import Subparsers

_DN_HELP = ("subject DN, in any of: RFC 4514 'CN=host,O=Org,C=GB', runmqakm 'cn=host,o=Org,c=GB' or "
            "openssl -subj '/C=GB/O=Org/CN=host'. Order and repeated RDNs are kept as written")

CERTREQ_EPILOG = """\
examples:
  ikm-tui certreq create --label web1 --key-type ec:p256 --subject "CN=web1.example.com,O=Example" \\
      --san DNS:web1.example.com --san IP:192.0.2.10 --eku serverAuth --out web1.csr
  ikm-tui certreq create --label mq1 --key-type rsa:3072 --subject "/C=GB/O=HW/CN=colinpaice" \\
      --key-usage digitalSignature,keyEncipherment --hash sha384 --out mq1.csr
  ikm-tui certreq capabilities          key types and hashes this token can do (and why not)
  ikm-tui certreq list --json           pending requests kept on the token
  ikm-tui certreq details web1
  ikm-tui certreq extract web1 --out web1.csr
  ikm-tui certreq recreate web1 --subject "CN=web1.example.com,O=Example 2" --out web1.csr --force
  ikm-tui certreq delete web1 --yes     the request only; add --with-key to delete the key pair too

The key pair is generated on the token (private, sensitive, never extractable) and the request
is signed there. The request is kept on the token as a data object (application "ikm-tui request",
label = the key's label) until the signed certificate is received, so it travels with the token.
The PIN comes from a prompt, --pin-file FILE or $IKM_PIN, never from the command line.
"""



def _csv(values: list[str] | None) -> list[str]:
    """Options given repeatedly and/or comma-separated, flattened."""
    out_list: list[str] = []
    for v in values or []:
        out_list.extend(p.strip() for p in v.split(",") if p.strip())
    return out_list


def key_type(text: str) -> str:
    """argparse type for --key-type: a refusal that says why, not argparse's bare "invalid choice"."""
    value = text.strip().lower()
    if value in KEY_TYPES:
        return value
    kind, _, size = value.partition(":")
    if kind == "rsa" and size.isdigit() and int(size) < 2048:
        raise argparse.ArgumentTypeError(
            f"{text!r} refused: RSA keys under 2048 bits are disallowed (NIST SP 800-131A since 2013; "
            "browsers, Java and OpenSSL at security level 2 reject them). Use rsa:2048 or larger, or ec:p256")
    raise argparse.ArgumentTypeError(f"unknown key type {text!r}: use one of {', '.join(KEY_TYPES)}")


def _add_key_options(p: argparse.ArgumentParser, *, key: bool = True) -> None:
    if key:
        p.add_argument("--label", required=True, help="label of the new key pair (and of its request/certificate)")
        p.add_argument("--key-type", required=True, type=key_type, metavar="TYPE",
                       help=f"one of {', '.join(KEY_TYPES)} (only those the token supports work; "
                            "see `certreq capabilities`)")
        p.add_argument("--id", metavar="HEX", help="CKA_ID in hex; default: SHA-1 of the public key "
                                                   "(RSA modulus / EC point), the NSS/OpenSC convention")
    p.add_argument("--san", action="append", metavar="KIND:VALUE",
                   help="subject alternative name DNS:name, IP:addr, email:addr or URI:uri; repeat or comma-separate")
    p.add_argument("--key-usage", action="append", metavar="LIST",
                   help="e.g. digitalSignature,keyEncipherment. Decrypt/unwrap are only enabled on the key "
                        "for keyEncipherment/dataEncipherment." + (
                            " Default, as in the TUI form: digitalSignature (+keyEncipherment for RSA); "
                            "--key-usage '' for none" if key else ""))
    p.add_argument("--eku", action="append", metavar="LIST",
                   help="e.g. serverAuth,clientAuth" + (
                       f". Default, as in the TUI form: {DEFAULT_EKU}; --eku '' for none" if key else ""))
    p.add_argument("--hash", choices=("sha256", "sha384", "sha512"),
                   help="signature hash (default: matched to the key; not for ed25519)")
    p.add_argument("--yes", action="store_true", help="confirm without asking (needed for ed25519 off a terminal)")


def register(subparsers: Subparsers) -> None:
    """Add the `certreq` group (`cert create` is in cli/cert.py)."""
    p = subparsers.add_parser("certreq", help="certificate requests made and kept on the token",
                              description="Create PKCS#10 requests with keys generated on the token; "
                                          "keep, list, extract, recreate and delete pending requests.",
                              epilog=CERTREQ_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(p, top=False)
    sub = p.add_subparsers(dest="certreq_command", metavar="ACTION", required=True)

    c = sub.add_parser("create", help="new key pair on the token and a request for it",
                       epilog=CERTREQ_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(c, top=False)
    c.add_argument("--subject", required=True, metavar="DN", help=_DN_HELP)
    _add_key_options(c)
    c.add_argument("--out", required=True, metavar="FILE", help="write the request (PEM) here")
    c.add_argument("--force", action="store_true", help=FORCE_OUT_HELP)
    c.add_argument("--store", choices=("auto", "token", "file"), default="auto",
                   help="keep the pending request on the token (auto: falls back to a file if the token "
                        "refuses data objects)")
    add_json(c, "certreq-create")
    c.set_defaults(func=cmd_create)

    c = sub.add_parser("capabilities", help="key types and hashes this token can generate and sign with",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  ikm-tui certreq capabilities\n  ikm-tui certreq capabilities --json\n")
    add_common(c, top=False)
    add_json(c, "certreq-capabilities", capture=False)
    c.set_defaults(func=cmd_capabilities)

    c = sub.add_parser("list", help="pending requests (on the token, and files kept for it)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  ikm-tui certreq list\n  ikm-tui certreq list --json\n")
    add_common(c, top=False)
    add_json(c, "certreq-list", capture=False)
    c.set_defaults(func=cmd_list)

    c = sub.add_parser("details", help="show one pending request",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  ikm-tui certreq details web1\n  ikm-tui certreq details web1 --json\n")
    add_common(c, top=False)
    c.add_argument("label")
    add_json(c, "certreq-details", capture=False)
    c.set_defaults(func=cmd_details)

    c = sub.add_parser("extract", help="write a pending request to a PEM file",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  ikm-tui certreq extract web1 --out web1.csr\n"
                              "  ikm-tui certreq extract web1 --out web1.csr --force   # replace the file\n")
    add_common(c, top=False)
    c.add_argument("label")
    c.add_argument("--out", required=True, metavar="FILE")
    c.add_argument("--force", action="store_true", help=FORCE_OUT_HELP)
    add_json(c, "certreq-extract")
    c.set_defaults(func=cmd_extract)

    c = sub.add_parser("delete", help="delete a pending request (and with --with-key its key pair)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  ikm-tui certreq delete web1 --yes\n"
                              "  ikm-tui certreq delete web1 --yes --with-key   # the key pair too\n")
    add_common(c, top=False)
    c.add_argument("label")
    c.add_argument("--yes", action="store_true", help="really delete (required)")
    c.add_argument("--with-key", action="store_true",
                   help="also delete the key pair (refused when a certificate uses it)")
    add_json(c, "certreq-delete")
    c.set_defaults(func=cmd_delete)

    c = sub.add_parser("recreate", help="a new request for an existing key (re-signed on the token)",
                       description="Sign a new request with the key labelled LABEL. Subject, SANs, key "
                                   "usage and EKU default to the pending request's.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  ikm-tui certreq recreate web1 --out web1-new.csr\n"
                              "  ikm-tui certreq recreate web1 --out web1.csr --force   # replace the old file\n"
                              "  ikm-tui certreq recreate web1 --subject \"CN=web1,O=New\" --out web1.csr\n")
    add_common(c, top=False)
    c.add_argument("label")
    c.add_argument("--subject", metavar="DN", help=_DN_HELP)
    _add_key_options(c, key=False)
    c.add_argument("--out", required=True, metavar="FILE")
    c.add_argument("--force", action="store_true", help=FORCE_OUT_HELP)
    add_json(c, "certreq-recreate")
    c.set_defaults(func=cmd_recreate)


# ---- handlers ----------------------------------------------------------------------------------

def _key_id(args: argparse.Namespace) -> bytes | None:
    if not getattr(args, "id", None):
        return None
    try:
        value = parse_hex_id(args.id)
    except ValueError:
        raise UsageError(f"--id {args.id!r} is not hex.", "Give it as hex digits, e.g. --id 01a2.") from None
    if not value:
        raise UsageError("--id is empty.", "Give at least one byte, or leave --id out.")
    return value


FORCE_OUT_HELP = "replace FILE if it exists (without --force an existing file is left alone: exit status 3)"


def _check_out(path: str | None, force: bool = False) -> None:
    # Checked before the keygen: failing to write afterwards would leave a request the user never got.
    if path is None:
        return
    check_target(path)  # a directory, symlink, FIFO or device there; no writable directory
    if not force and os.path.lexists(path):
        # The TUI asks before it overwrites a file; the CLI needs --force for it.
        raise RefusedError(f"{path} exists; nothing was created and the file was not replaced.",
                           "Give another --out, or add --force to replace it.")


def _confirm_ed25519(args: argparse.Namespace) -> None:
    from ikm_tui.core.ops.capabilities import ED25519_WARNING

    if args.key_type != "ed25519":
        return
    print(f"warning: {ED25519_WARNING}", file=sys.stderr)
    if args.yes:
        return
    if sys.stdin.isatty():
        answer = input("Create an Ed25519 key on this token anyway? [y/N] ").strip().lower()
        if answer in ("y", "yes"):
            return
    raise RefusedError("Ed25519 key not created: it needs confirmation.", "Add --yes to confirm.")


def usages(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """--key-usage and --eku, or the TUI form's defaults for a new key (none for a CA: --ca sets its own)."""
    ca = getattr(args, "ca", False)
    ku = args.key_usage if args.key_usage is not None else ([] if ca else [default_key_usage(args.key_type)])
    eku = args.eku if args.eku is not None else ([] if ca else [DEFAULT_EKU])
    return _csv(ku), _csv(eku)


def _progress(stage: str, text: str) -> None:
    if stage != "done":
        print(f"{text}...", file=sys.stderr, flush=True)


def _write(path: str, text: str, *, force: bool = False) -> None:
    # Every --out needs --force to replace a file (checked by _check_out before any keygen, which
    # a refusal afterwards would strand), as the TUI asks before it overwrites.
    try:
        write_file(path, text, overwrite=force, mode=PUBLIC_MODE)
    except OSError as exc:
        raise write_error(path, exc) from None


def cmd_create(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.requests import create_request
    from ikm_tui.core.x509.request_lint import request_warnings

    key_id = _key_id(args)
    _check_out(args.out, args.force)
    # Before the key exists and long before a CA sees the request: what would make the certificate fail.
    for w in request_warnings(args.key_type, args.subject, _csv(args.san), _csv(args.key_usage), _csv(args.eku)):
        print(f"warning: {w}", file=sys.stderr)
    _confirm_ed25519(args)
    svc, slot = open_token(args, login=True)
    key_usage, eku = usages(args)
    res = svc.run(create_request, slot, args.key_type, args.label, args.subject, _csv(args.san),
                  key_usage, eku, args.hash, key_id, progress=_progress, store=args.store)
    _write(args.out, res.pem, force=args.force)
    where = "on the token" if res.where == "token" else f"in {res.path}"
    result(args, label=res.label, key_type=res.key_type, key_id=res.key_id.hex(), out=args.out, stored=res.where,
           path=res.path, warnings=list(res.warnings))
    out(f"created {res.key_type} key pair {res.label!r} id={res.key_id.hex()} on the token; "
        f"request written to {args.out} and kept {where}")
    for w in res.warnings:
        if "Ed25519" not in w:  # already shown before the keygen
            print(f"warning: {w}", file=sys.stderr)
    return 0


def cmd_capabilities(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.capabilities import capabilities

    svc, slot = open_token(args)
    caps = svc.run(capabilities, slot)
    if args.json:
        emit("certreq-capabilities", {"key_types": [
            {"key_type": c.key_type, "supported": c.supported, "reason": c.reason, "warning": c.warning,
             "default_hash": c.default_hash,
             "hashes": [{"hash": h.name or None, "supported": h.supported, "mechanism": h.mechanism,
                         "reason": h.reason} for h in c.hashes]}
            for c in caps.choices]})
        return 0
    for c in caps.choices:
        if c.supported:
            hashes = ", ".join(f"{h.name or 'built-in'} ({h.mechanism})" for h in c.hashes if h.supported)
            out(f"  {c.key_type:<9} yes  {hashes}")
        else:
            out(f"  {c.key_type:<9} no   {c.reason}")
    return 0


def _req_json(r: Any) -> dict[str, Any]:
    return {"label": r.label, "where": r.where, "path": r.path, "subject": r.subject, "sans": list(r.sans),
            "key_usage": list(r.key_usage), "eku": list(r.eku), "key_type": r.key_type,
            "signature_algorithm": r.signature_algorithm, "signature_valid": r.signature_valid,
            "key_id": r.key_id.hex(), "has_key": r.has_key, "error": r.error or None}


def cmd_list(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.pending import list_requests

    svc, slot = open_token(args)
    reqs = svc.run(list_requests, slot)
    if args.json:
        emit("certreq-list", {"requests": [_req_json(r) for r in reqs]})
        return 0
    if not reqs:
        print("no pending requests")
    for r in reqs:
        key = {True: "key present", False: "KEY MISSING", None: "key not checked (log in)"}[r.has_key]
        text = r.error or f"{r.key_type} {r.subject}"
        out(f"{r.label!r:<24} {r.where:<5} {text}  [{key}]")
    return 0


def cmd_details(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.pending import request_details

    svc, slot = open_token(args)
    r = svc.run(request_details, slot, args.label)
    if args.json:
        emit("certreq-details", _req_json(r))
        return 0
    for k, v in _req_json(r).items():
        if isinstance(v, list):
            v = ", ".join(v) or "-"
        out(f"{k + ':':<21} {v if v is not None else '-'}")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.pending import extract

    _check_out(args.out, args.force)
    svc, slot = open_token(args)
    _write(args.out, svc.run(extract, slot, args.label), force=args.force)
    result(args, label=args.label, out=args.out)
    out(f"request {args.label!r} written to {args.out}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.pending import delete

    if not args.yes:
        raise RefusedError(f"Not deleting request {args.label!r} without --yes.", "Add --yes to confirm.")
    svc, slot = open_token(args, login=True if args.with_key else None)
    done = svc.run(delete, slot, args.label, with_key=args.with_key)
    result(args, label=args.label, deleted=list(done), with_key=bool(args.with_key))
    out(f"deleted {', '.join(done)} of {args.label!r}")
    if not args.with_key:
        out("the key pair stays on the token (use --with-key to delete it too)")
    return 0


def cmd_recreate(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.requests import recreate

    _check_out(args.out, args.force)
    svc, slot = open_token(args, login=True)
    res = svc.run(recreate, slot, args.label, args.subject,
                  _csv(args.san) if args.san else None, _csv(args.key_usage) if args.key_usage else None,
                  _csv(args.eku) if args.eku else None, args.hash, progress=_progress)
    _write(args.out, res.pem, force=args.force)
    result(args, label=res.label, key_id=res.key_id.hex(), out=args.out, warnings=list(res.warnings))
    out(f"new request for {res.label!r} (id={res.key_id.hex()}) written to {args.out}; it replaces the pending one")
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0

