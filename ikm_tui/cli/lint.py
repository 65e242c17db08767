"""`ikm-tui cert lint FILE|LABEL` (and the `ikm-tui lint` alias): what is wrong with a certificate.

FILE is PEM (every CERTIFICATE block) or DER: the first certificate is linted, the others join
the chain candidates. Anything else is taken as the label of a certificate on the token. The
chain is checked against the token's CA certificates too (for a FILE only when a token was
named with --module/--token or $IKM_MODULE: linting a file needs no token). Exit status 1 when
any finding is an error, so scripts can gate on it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ikm_tui.cli.common import add_common, open_token
from ikm_tui.cli.jsonout import add_json, emit
from ikm_tui.core.errors import IkmError, NotFoundError
from ikm_tui.core.sanitize import safe_text

LINT_EPILOG = """\
examples:
  ikm-tui cert lint server.pem --use server     lint a file (its other certs help build the chain)
  ikm-tui cert lint mq-server --json            lint the certificate labelled mq-server on the token
  ikm-tui --token "UserPIN (mytoken)" lint chain.pem   also chain-check against the token's CAs
  ikm-tui cert lint mq-server --host 10.1.2.3   does the SAN name the address clients dial?

exit status: 0 no errors (warnings and infos allowed), 1 at least one error or a failure
"""


def register(subparsers: Any) -> None:
    """Top-level `lint` (an alias of `cert lint`, which cli/cert.py wires with add_cert_lint)."""
    _add_lint(subparsers, "lint")


def add_cert_lint(cert_subparsers: Any) -> argparse.ArgumentParser:
    """Add `lint` to the `cert` group's subparsers (for ikm_tui/cli/cert.py)."""
    return _add_lint(cert_subparsers, "lint")


def _add_lint(subparsers: Any, name: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        name, help="lint a certificate (file or token label) and check its chain",
        description="Check a certificate the way TLS clients will: keyCertSign without CA, CA without "
                    "keyCertSign, validity, key sizes, SHA-1/MD5, SAN (and --host), EKU, keyUsage, serial, "
                    "critical extensions, version; then build its chain and judge every CA on it "
                    "(like `openssl verify -x509_strict -auth_level 2 -purpose sslserver|sslclient`).",
        epilog=LINT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(p, top=False)
    p.add_argument("target", metavar="FILE|LABEL", help="a PEM/DER file, or the label of a certificate on the token")
    p.add_argument("--use", choices=("server", "client"),
                   help="intended use, checked against the EKU (default: what the EKU says)")
    p.add_argument("--host", metavar="NAME|IP",
                   help="the host name or IP address clients dial: checked against the SAN (implies --use server)")
    p.add_argument("--at", metavar="DATE", type=_date,
                   help="judge validity at DATE (YYYY-MM-DD[THH:MM], UTC) instead of now")
    add_json(p, "lint", capture=False)
    p.set_defaults(func=cmd_lint)
    return p


def _date(text: str) -> Any:
    from datetime import datetime, timezone

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def intended_use_of(der: bytes) -> str | None:
    """"server"/"client" from the certificate's EKU (serverAuth wins), None if neither or unreadable."""
    from ikm_tui.core.x509 import lint
    from ikm_tui.core.x509.info import parse_certificate

    return lint.intended_use_of(parse_certificate(der).eku)


def _token_ca_certs(listing: Any, skip: set[int] | None = None) -> list[bytes]:
    from ikm_tui.core.x509.lint import token_ca_certificates

    return token_ca_certificates(listing.objects, skip or set())


def _token_named(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "module", None) or getattr(args, "token", None) or os.environ.get("IKM_MODULE"))


def _targets(args: argparse.Namespace) -> tuple[list[tuple[str, bytes]], list[bytes]]:
    """[(name, leaf DER)] and the chain candidates."""
    from ikm_tui.core.p11.backend import Backend
    from ikm_tui.core.x509.pem import certificate_blobs as split_pem

    if os.path.isfile(args.target):
        from ikm_tui.core.files import read_input

        blobs = split_pem(read_input(args.target, what="certificate file"))
        if not blobs:
            raise IkmError(f"{safe_text(args.target)} holds no certificate.", "Give a PEM or DER certificate file.")
        candidates = list(blobs[1:])
        if _token_named(args):
            svc, slot = open_token(args)
            candidates += _token_ca_certs(svc.run(Backend.list_objects, slot))
        return [(args.target, blobs[0])], candidates
    from ikm_tui.core.model import ObjClass

    svc, slot = open_token(args)
    listing = svc.run(Backend.list_objects, slot)
    certs = [o for o in listing.objects if o.cls is ObjClass.CERTIFICATE]
    hits = [o for o in certs if o.label == args.target and o.value is not None]
    if not hits:
        labels = ", ".join(repr(o.label) for o in certs) or "none"
        raise NotFoundError(f"No file and no certificate labelled {args.target!r} on token {listing.token.label!r}.",
                       f"Give a file, or one of the certificate labels: {labels}.")
    # Duplicate labels: every certificate of that label is linted (and named by its CKA_ID).
    named = [(f"{o.label} (id {o.id.hex() or '-'})" if len(hits) > 1 else o.label, o.value or b"") for o in hits]
    return named, _token_ca_certs(listing, {o.handle for o in hits})


def cmd_lint(args: argparse.Namespace) -> int:
    from ikm_tui.core.x509.lint import assess

    targets, candidates = _targets(args)
    report = []
    errors = 0
    host = getattr(args, "host", None)
    for name, der in targets:
        # A host to dial means a TLS server; otherwise the EKU says what the certificate is for.
        use = args.use or ("server" if host else intended_use_of(der))
        findings = assess(der, candidates, now=args.at, intended_use=use, host=host)
        errors += sum(f.severity == "error" for f in findings)
        report.append((name, use, findings))
    if args.json:
        emit("lint", {"certificates": [
            {"name": name, "intended_use": use,
             "findings": [{"code": f.code, "severity": f.severity, "message": f.message} for f in findings]}
            for name, use, findings in report], "errors": errors})
    else:
        for name, use, findings in report:
            print(safe_text(f"{name}" + (f" (intended use: {use})" if use else "")))
            if not findings:
                print("  no problems found")
            for f in findings:
                print(safe_text(f"  {f.severity.upper():<7} {f.code}: {f.message}"))
        print(f"{errors} error(s)", file=sys.stderr)
    return 1 if errors else 0
