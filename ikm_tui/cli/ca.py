"""`ikm-tui ca ...`: a CA whose key never leaves the token: create it, sign requests, list what it issued."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ikm_tui.cli.cert import FORCE_HELP, RAW, _say, _write_out
from ikm_tui.cli.certreq import _DN_HELP, _check_out, _csv
from ikm_tui.cli.common import add_common, open_token
from ikm_tui.cli.jsonout import add_json, emit, result

if TYPE_CHECKING:
    from ikm_tui.cli.common import Subparsers
    from ikm_tui.core.ops.ca_issue import IssuePlan
    from ikm_tui.core.p11.service import TokenService

CA_EPILOG = """\
examples:
  ikm-tui ca create --label lab-ca --key-type ec:p384 --subject "CN=Lab CA,O=Example" --days 3650 --path-len 0
  ikm-tui ca sign web1.csr --ca lab-ca --out web1.pem --profile server --days 397
  ikm-tui ca sign mq1.csr --ca lab-ca --out mq1.pem --profile both --san DNS:mq1.example.com --yes
  ikm-tui ca sign --request-label mq2 --request-token "UserPIN (mq2)" --ca lab-ca --out mq2.pem
  ikm-tui ca sign web1.csr --ca lab-ca --out web1.pem --json      # the plan only (exit 3), signs nothing
  ikm-tui ca list lab-ca

The CA key pair is generated on the token (private, sensitive, never extractable) and every
certificate is signed there. A profile decides what an issued certificate carries; a leaf never
gets keyCertSign or CA:TRUE, whatever its request asks. Each issued certificate passes the strict
lint before it is written, and is recorded in the CA's issue log
($XDG_DATA_HOME/ikm-tui/ca/<CA certificate SHA-256>.jsonl, append-only, 0600).

`ca sign` first shows what it will issue (subject, SANs, key usage, EKU, validity, profile,
serial) and asks on a terminal; --yes issues without asking. Without a terminal (or with --json)
and without --yes it prints the plan and exits 3, having signed nothing.
A request pending on another token of this machine is named by its label (--request-label),
with --request-token when several tokens hold one of that label. Every module is searched: the
CA's, the others ikm-tui finds (`ikm-tui tokens` lists them) and each --remote.
"""

CA_KEY_TYPES = ("ec:p256", "ec:p384", "rsa:3072", "rsa:4096")
# RFC 5280 §5.3.1 reason names, as core/x509/crl.py REASONS (kept here: the parser imports no core).
REASONS = ("unspecified", "key_compromise", "ca_compromise", "affiliation_changed", "superseded",
           "cessation_of_operation", "certificate_hold", "privilege_withdrawn")


def _ca_key_type(text: str) -> str:
    value = text.strip().lower()
    if value not in CA_KEY_TYPES:
        raise argparse.ArgumentTypeError(f"key type {text!r} is not offered for a CA: use one of "
                                         f"{', '.join(CA_KEY_TYPES)}")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 0")
    return value


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def register(sub: Subparsers) -> None:
    p = sub.add_parser("ca", help="a CA whose key stays on the token: create, sign requests, list issued",
                       formatter_class=RAW, epilog=CA_EPILOG,
                       description="A certificate authority whose key pair is generated on the token.")
    add_common(p, top=False)
    cs = p.add_subparsers(dest="ca_command", metavar="SUBCOMMAND", required=True)

    q = cs.add_parser("create", help="CA key pair on the token and its self-signed CA certificate",
                      formatter_class=RAW, epilog=CA_EPILOG)
    add_common(q, top=False)
    q.add_argument("--label", required=True, help="label of the CA key pair and certificate")
    q.add_argument("--key-type", required=True, type=_ca_key_type, metavar="TYPE",
                   help=f"one of {', '.join(CA_KEY_TYPES)}")
    q.add_argument("--subject", required=True, metavar="DN", help=_DN_HELP)
    q.add_argument("--days", type=_positive, default=3650, help="validity in days (default 3650)")
    q.add_argument("--path-len", type=_non_negative, metavar="N",
                   help="pathLenConstraint: how many CA levels may follow (0: only leaf certificates)")
    q.add_argument("--hash", choices=("sha256", "sha384", "sha512"),
                   help="signature hash (default: matched to the key)")
    q.add_argument("--out", metavar="FILE", help="also write the CA certificate (PEM) here")
    q.add_argument("--force", action="store_true", help=FORCE_HELP)
    add_json(q, "ca-create")
    q.set_defaults(func=cmd_create)

    q = cs.add_parser("sign", help="issue a certificate for a PKCS#10 request, signed on the token",
                      formatter_class=RAW, epilog=CA_EPILOG)
    add_common(q, top=False)
    q.add_argument("request", metavar="REQUEST", nargs="?",
                   help="the PKCS#10 request file (PEM or DER); or name a pending one with --request-label")
    q.add_argument("--request-label", metavar="LABEL",
                   help="sign the request pending under LABEL on any token of any module (`certreq list`)")
    q.add_argument("--request-token", metavar="LABEL|URI",
                   help="the token holding that pending request (default: the one token that has it)")
    q.add_argument("--ca", required=True, metavar="L", help="label of the CA certificate and key on this token")
    q.add_argument("--out", required=True, metavar="FILE", help="write the certificate (PEM) here")
    q.add_argument("--profile", choices=("server", "client", "both", "subca"), default="server",
                   help="what the certificate is for; decides its extensions (default server)")
    q.add_argument("--days", type=_positive, default=397,
                   help="validity in days (default 397; never past the CA's own)")
    q.add_argument("--san", action="append", metavar="KIND:VALUE",
                   help="subject alternative names replacing the request's (DNS:, IP:, email:, URI:)")
    q.add_argument("--path-len", type=_non_negative, default=0, metavar="N",
                   help="pathLenConstraint of a subca certificate (default 0)")
    q.add_argument("--hash", choices=("sha256", "sha384", "sha512"), help="signature hash")
    q.add_argument("--force", action="store_true", help=FORCE_HELP)
    q.add_argument("--yes", action="store_true", help="issue what the plan shows without asking")
    add_json(q, "ca-sign")
    q.set_defaults(func=cmd_sign)

    q = cs.add_parser("revoke", help="revoke a certificate the CA issued (the next CRL lists it)",
                      formatter_class=RAW, epilog="examples:\n  ikm-tui ca revoke lab-ca 4F1A...\n"
                                                  "  ikm-tui ca revoke lab-ca 4F1A... --reason key_compromise\n")
    add_common(q, top=False)
    q.add_argument("label", metavar="L")
    q.add_argument("serial", metavar="SERIAL", help="serial in hex, as `ikm-tui ca list` shows it")
    q.add_argument("--reason", choices=REASONS, default="unspecified", help="RFC 5280 reason code")
    add_json(q, "ca-revoke")
    q.set_defaults(func=cmd_revoke)

    q = cs.add_parser("crl", help="write the CA's CRL, signed on the token", formatter_class=RAW,
                      epilog="examples:\n  ikm-tui ca crl lab-ca --out lab-ca.crl.pem --days 7\n")
    add_common(q, top=False)
    q.add_argument("label", metavar="L")
    q.add_argument("--out", required=True, metavar="FILE", help="write the CRL (PEM) here")
    q.add_argument("--days", type=_positive, default=7, help="until nextUpdate (default 7)")
    q.add_argument("--hash", choices=("sha256", "sha384", "sha512"), help="signature hash")
    q.add_argument("--force", action="store_true", help=FORCE_HELP)
    add_json(q, "ca-crl")
    q.set_defaults(func=cmd_crl)

    q = cs.add_parser("list", help="certificates the CA issued (its issue log)", formatter_class=RAW,
                      epilog="examples:\n  ikm-tui ca list lab-ca\n  ikm-tui ca list lab-ca --json\n")
    add_common(q, top=False)
    q.add_argument("label", metavar="L")
    add_json(q, "ca-list", capture=False)
    q.set_defaults(func=cmd_list)


def cmd_create(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.ca import create_ca

    _check_out(args.out, args.force)
    svc, slot = open_token(args, login=True)
    res = svc.run(create_ca, slot, args.key_type, args.label, args.subject, args.days, args.path_len, args.hash)
    if args.out:
        _write_out(args.out, res.pem, force=args.force)
    result(args, label=res.label, key_type=res.key_type, key_id=res.key_id.hex(), out=args.out)
    _say(f"created CA {res.label!r}: {res.key_type} key pair (never extractable) and self-signed CA "
         f"certificate id={res.key_id.hex()} on the token" + (f"; written to {args.out}" if args.out else ""))
    return 0


def _read_csr(path: str) -> bytes:
    from ikm_tui.core.ops.ca_issue import read_request_file

    return read_request_file(path)


def _request_source(args: argparse.Namespace, svc: TokenService, csr_der: bytes | None) -> tuple[bytes, str]:
    """(DER request, where it came from): the REQUEST file or the pending request --request-label."""
    from ikm_tui.cli.exitcodes import UsageError
    from ikm_tui.core.ops.pending_machine import find_pending
    from ikm_tui.core.p11.modules import discover
    from ikm_tui.core.p11.service import get_service

    if (args.request is None) == (args.request_label is None):
        raise UsageError("Give either a REQUEST file or --request-label LABEL (one of them).",
                         "e.g. `ikm-tui ca sign web1.csr --ca lab-ca --out web1.pem`.")
    if args.request_token and args.request_label is None:
        raise UsageError("--request-token names where --request-label is pending.", "Add --request-label.")
    if csr_der is not None:
        return csr_der, f"file {args.request}"
    # Every module of the machine (other libraries, --remote ones), not only the CA's.
    found = find_pending(svc, discover(getattr(args, "module", None)), get_service, args.request_label,
                         args.request_token)
    return found.request.der, found.source


def _confirmed(args: argparse.Namespace, plan: IssuePlan) -> None:
    """Print the plan; return when it may be signed (--yes, or 'y' on a terminal), else RefusedError."""
    from ikm_tui.core.errors import RefusedError

    result(args, plan=plan.as_json(), issued=False)
    for name, value in plan.rows():
        _say(f"{name:<14} {value}")
    for w in plan.warnings:
        _say(f"warning: {w}")
    if args.yes:
        return
    if not getattr(args, "json", False) and sys.stdin.isatty():
        sys.stderr.write("Issue this certificate, signed on the token? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() in ("y", "yes"):
            return
        raise RefusedError("Nothing was issued: not confirmed.", "Run it again and answer y, or add --yes.")
    raise RefusedError("Nothing was issued: issuing needs confirmation.",
                       "Check the plan above, then add --yes to issue it.")


def cmd_sign(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.ca_issue import issue_planned, plan_issue

    # A bad file is said before the PIN is asked for.
    from_file = _read_csr(args.request) if args.request is not None else None
    _check_out(args.out, args.force)
    svc, slot = open_token(args, login=True)
    csr_der, source = _request_source(args, svc, from_file)
    plan = svc.run(plan_issue, slot, args.ca, csr_der, args.profile, args.days, _csv(args.san), args.hash,
                   args.path_len, source=source)
    _confirmed(args, plan)
    res = svc.run(issue_planned, slot, plan)
    _write_out(args.out, res.pem, force=args.force)
    r = res.record
    result(args, ca=res.ca_label, profile=res.profile, serial=r.serial, subject=r.subject, sans=r.sans,
           not_after=r.not_after, sha256=r.sha256, out=args.out, log=res.log_path, warnings=list(res.warnings),
           issued=True)
    _say(f"issued serial {r.serial} to {r.subject!r} (profile {res.profile}), valid until {r.not_after}")
    for w in res.warnings[len(plan.warnings):]:
        _say(f"warning: {w}")
    _say(f"wrote {args.out}; recorded in {res.log_path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ikm_tui.core.ops.ca import issued_by

    svc, slot = open_token(args)
    path, records = svc.run(issued_by, slot, args.label)
    if getattr(args, "json", False):
        emit("ca-list", {"ca": args.label, "log": path, "issued": [asdict(r) for r in records]})
        return 0
    _say(f"CA {args.label!r}: {len(records)} certificate(s) issued (log {path})")
    for r in records:
        _say(f"  {r.issued_at}  serial {r.serial}  {r.subject}  until {r.not_after}  {r.profile}"
             + (f"  [{', '.join(r.sans)}]" if r.sans else ""))
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.ca_crl import revoke

    svc, slot = open_token(args, login=True)
    res = svc.run(revoke, slot, args.label, args.serial, args.reason)
    result(args, ca=args.label, serial=res.serial, revoked_at=res.revoked_at, reason=res.reason,
           already=res.already)
    if res.already:
        _say(f"serial {res.serial} was already revoked at {res.revoked_at} ({res.reason}); nothing changed")
    else:
        _say(f"revoked serial {res.serial} ({res.reason}); the next `ikm-tui ca crl {args.label}` lists it")
    return 0


def cmd_crl(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.ca_crl import make_crl

    _check_out(args.out, args.force)
    svc, slot = open_token(args, login=True)
    res = svc.run(make_crl, slot, args.label, args.days, args.hash)
    _write_out(args.out, res.pem, force=args.force)
    result(args, ca=args.label, out=args.out, crl_number=str(res.number), revoked=res.revoked,
           this_update=res.this_update, next_update=res.next_update)
    _say(f"wrote the CRL of {args.label!r} to {args.out}: {res.revoked} revoked, number {res.number}, "
         f"next update {res.next_update}")
    return 0
