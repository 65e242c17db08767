"""`ikm-tui cert ...`: create (self-signed), receive, add CA certs, extract, delete, rename, doctor, lint."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ikm_tui.cli.certreq import (
    _add_key_options,
    _check_out,
    _confirm_ed25519,
    _csv,
    _DN_HELP,
    _key_id,
    _progress,
    _write,
    usages,
)
from ikm_tui.cli.common import add_common, open_token, out
from ikm_tui.cli.jsonout import add_json, result
from ikm_tui.cli.lint import add_cert_lint
from ikm_tui.core.errors import AlreadyPresentError, IkmError, RefusedError
from ikm_tui.core.files import PUBLIC_MODE, write_error, write_file
from ikm_tui.core.model import CertFields
from ikm_tui.core.hexid import parse_hex_id
from ikm_tui.core.sanitize import safe_text

if TYPE_CHECKING:
    from ikm_tui.cli.common import Subparsers

RAW = argparse.RawDescriptionHelpFormatter

CERT_CREATE_EPILOG = """\
examples:
  ikm-tui cert create --label selfsigned --key-type ec:p256 --subject "CN=test.example.com" \\
      --san DNS:test.example.com --days 365
  ikm-tui cert create --label myca --key-type rsa:4096 --subject "CN=My CA,O=Example" --ca --days 3650

Like runmqakm -cert -create: a key pair on the token and a self-signed certificate written next
to it with the same label and CKA_ID.
"""


def _say(text: str) -> None:
    print(safe_text(text))


def _hex_id(text: str) -> bytes:
    try:
        return parse_hex_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "cert", help="receive, add, extract, delete, rename certificates; pairing doctor",
        description="Certificates on the token, kept paired with their keys (same CKA_ID and label, "
                    "as Java keytool, NSS and OpenSSL expect).",
        formatter_class=RAW,
        epilog="examples:\n"
               "  ikm-tui cert receive signed.pem --with-chain\n"
               "  ikm-tui cert add root-ca.pem --label \"Example Root CA\"\n"
               "  ikm-tui cert extract web01 --out web01.pem\n"
               "  ikm-tui cert doctor\n")
    add_common(p, top=False)
    cs = p.add_subparsers(dest="cert_command", metavar="SUBCOMMAND", required=True)

    q = cs.add_parser(
        "receive", help="store the CA-signed certificate next to its private key",
        formatter_class=RAW,
        description="Read FILE (PEM, DER, PKCS#7 .p7b/.p7c, or a PEM bundle with the chain), find the "
                    "certificate whose public key matches a private key on the token, show it, and store it "
                    "with the key's CKA_ID and label. The pending request for that key is removed.",
        epilog="examples:\n"
               "  IKM_PIN=... ikm-tui --token mytoken cert receive web01.pem\n"
               "  ikm-tui cert receive chain.p7b --with-chain --pin-file ~/.pin\n"
               "  ikm-tui cert receive renewed.pem --replace      # swap the key's old certificate\n"
               "A certificate with a lint ERROR is refused (nothing written) unless --force.\n")
    add_common(q, top=False)
    q.add_argument("file", metavar="FILE", help="certificate file from the CA")
    q.add_argument("--with-chain", action="store_true",
                   help="also store the CA certificates of the file as authority certificates")
    q.add_argument("--replace", action="store_true",
                   help="replace the certificate the key already has (the new one is written first)")
    q.add_argument("--id", type=_hex_id, metavar="HEX", help="if several keys match, the CKA_ID of the one to use")
    q.add_argument("--assign-id", action="store_true",
                   help="if the key's CKA_ID is empty, give key, public key and certificate the SHA-1 of the "
                        "public key (Java and NSS pair by CKA_ID)")
    q.add_argument("--force", action="store_true",
                   help="store the certificate even when lint finds an ERROR (clients will reject it)")
    add_json(q, "cert-receive")
    q.set_defaults(func=cmd_receive)

    q = cs.add_parser(
        "add", help="store a CA / signer certificate (category authority)", formatter_class=RAW,
        description="Store the certificate(s) in FILE as CA/signer certificates (no private key).",
        epilog="examples:\n  ikm-tui cert add root.pem --label \"Example Root CA\"\n")
    add_common(q, top=False)
    q.add_argument("file", metavar="FILE")
    q.add_argument("--label", required=True, metavar="L", help="label (Java alias / NSS nickname)")
    add_json(q, "cert-add")
    q.set_defaults(func=cmd_add)

    q = cs.add_parser(
        "extract", help="write a certificate from the token to a file", formatter_class=RAW,
        description="Write the certificate labelled L to FILE (PEM by default).",
        epilog="examples:\n  ikm-tui cert extract web01 --out web01.pem\n"
               "  ikm-tui cert extract web01 --out web01.der --format der --id 01\n")
    add_common(q, top=False)
    q.add_argument("label", metavar="L")
    q.add_argument("--out", required=True, metavar="FILE")
    q.add_argument("--format", choices=("pem", "der"), default="pem")
    q.add_argument("--id", type=_hex_id, metavar="HEX", help="pick among certificates with the same label")
    q.add_argument("--sha256", metavar="PREFIX", help="pick by SHA-256 fingerprint prefix")
    q.add_argument("--force", action="store_true", help=FORCE_HELP)
    add_json(q, "cert-extract")
    q.set_defaults(func=cmd_extract)

    q = cs.add_parser(
        "delete", help="delete one certificate (needs --yes)", formatter_class=RAW,
        description="Delete the certificate labelled L. Prints exactly what it deletes; without --yes it "
                    "only prints. If several certificates carry the label, nothing is deleted and they are "
                    "listed: pick one with --id or --sha256.",
        epilog="examples:\n  ikm-tui cert delete old-web01              # shows what would go\n"
               "  ikm-tui cert delete old-web01 --yes\n  ikm-tui cert delete web01 --id 02 --yes\n")
    add_common(q, top=False)
    q.add_argument("label", metavar="L")
    q.add_argument("--id", type=_hex_id, metavar="HEX")
    q.add_argument("--sha256", metavar="PREFIX")
    q.add_argument("--yes", action="store_true", help="really delete")
    add_json(q, "cert-delete")
    q.set_defaults(func=cmd_delete)

    q = cs.add_parser(
        "rename", help="rename a certificate with its private and public key", formatter_class=RAW,
        description="Set the label of the certificate, private key and public key (and pending request) "
                    "labelled OLD to NEW, then read them back in a fresh session. The Java alias and NSS "
                    "nickname follow.",
        epilog="examples:\n  ikm-tui cert rename web01 web01-2026\n")
    add_common(q, top=False)
    q.add_argument("old", metavar="OLD")
    q.add_argument("new", metavar="NEW")
    q.add_argument("--id", type=_hex_id, metavar="HEX", help="if OLD labels several keys, the CKA_ID to rename")
    add_json(q, "cert-rename")
    q.set_defaults(func=cmd_rename)

    q = cs.add_parser(
        "doctor", help="find keys without certs, certs without keys, mislinked pairs", formatter_class=RAW,
        description="Checks that every key has its certificate under the same CKA_ID and label (what Java "
                    "and NSS need) and shows a repair plan. Changes nothing unless --fix --yes.",
        epilog="examples:\n  ikm-tui cert doctor\n  ikm-tui cert doctor --fix --yes\n")
    add_common(q, top=False)
    q.add_argument("--fix", action="store_true", help="apply the repair plan (with --yes)")
    q.add_argument("--yes", action="store_true")
    q.add_argument("--public-keys", action="store_true",
                   help="also recreate missing public-key objects from the certificates (NSS before login)")
    add_json(q, "cert-doctor")
    q.set_defaults(func=cmd_doctor)

    add_cert_create(cs)
    add_cert_lint(cs)


def add_cert_create(cert_subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add `create` (self-signed, runmqakm -cert -create) to the `cert` group's subparsers."""
    c = cert_subparsers.add_parser("create", help="new key pair and a self-signed certificate on the token",
                                   epilog=CERT_CREATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(c, top=False)
    c.add_argument("--subject", required=True, metavar="DN", help=_DN_HELP)
    _add_key_options(c)
    c.add_argument("--days", type=int, default=365, help="validity in days (default 365)")
    c.add_argument("--ca", action="store_true", help="a CA certificate (basicConstraints CA, keyCertSign)")
    c.add_argument("--out", metavar="FILE", help="also write the certificate (PEM) here")
    c.add_argument("--force", action="store_true", help=FORCE_HELP)
    add_json(c, "cert-create")
    c.set_defaults(func=cmd_cert_create)
    return c

def _cert_lines(f: CertFields, indent: str = "  ") -> list[str]:
    nb = f"{f.not_before:%Y-%m-%d %H:%M}Z" if f.not_before else "?"
    na = f"{f.not_after:%Y-%m-%d %H:%M}Z" if f.not_after else "?"
    return [f"{indent}subject:  {f.subject}", f"{indent}issuer:   {f.issuer}",
            f"{indent}serial:   {f.serial}", f"{indent}validity: {nb} .. {na}",
            f"{indent}sha256:   {f.sha256}"]


def cmd_cert_create(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.requests import create_self_signed

    key_id = _key_id(args)
    _check_out(args.out, args.force)
    _confirm_ed25519(args)
    svc, slot = open_token(args, login=True)
    key_usage, eku = usages(args)
    res = svc.run(create_self_signed, slot, args.key_type, args.label, args.subject, _csv(args.san),
                  key_usage, eku, args.hash, args.days, key_id, is_ca=args.ca, progress=_progress)
    if args.out:
        _write(args.out, res.pem, force=args.force)
    result(args, label=res.label, key_type=res.key_type, key_id=res.key_id.hex(), out=args.out)
    out(f"created {res.key_type} key pair and self-signed certificate {res.label!r} id={res.key_id.hex()} "
        f"on the token" + (f"; certificate written to {args.out}" if args.out else ""))
    return 0

def cmd_receive(args: argparse.Namespace) -> int:
    from ikm_tui.core.x509.certfile import read_cert_file
    from ikm_tui.core.ops.receive import apply_receive, preview_receive
    from ikm_tui.core.ops.receive_gate import preview_findings

    bundle = read_cert_file(args.file)
    svc, slot = open_token(args, login=True)
    pv = svc.run(preview_receive, slot, bundle.certs, bundle.fmt, key_id=args.id)
    result(args, file=args.file, format=bundle.fmt,
           key={"label": pv.key.label, "id": pv.key.id_hex, "key_type": pv.key.key_type, "match": pv.match},
           lint=[{"code": f.code, "severity": f.severity, "message": f.message} for f in preview_findings(pv)])
    _say(f"read {len(bundle.certs)} certificate(s) from {args.file} ({bundle.fmt})")
    _say("certificate:")
    for line in _cert_lines(pv.leaf.fields):
        _say(line)
    _say(f"matches private key {pv.key.label!r} id={pv.key.id_hex} ({pv.key.key_type}) by {pv.match}")
    _say(f"will be stored with label {pv.label!r} id={pv.key.id_hex} (category token user)")
    for e in pv.existing:
        _say(f"existing certificate for this key: {e.label!r} id={e.id.hex()} subject={e.fields.subject} "
             f"serial={e.fields.serial}" + ("  -> will be replaced" if args.replace else ""))
    for c in pv.chain:
        what = c.action if args.with_chain or c.action != "store" else "not stored (no --with-chain)"
        _say(f"chain: {c.cert.fields.subject} -> {what}")
    for r in pv.pending_requests:
        _say(f"pending request {r.label!r} will be removed as fulfilled")
    for w in pv.warnings:
        _say(f"warning: {w}")
    for f in preview_findings(pv):
        _say(f"lint {f.severity.upper()} {f.code}: {f.message}")
    if pv.existing and not args.replace:
        same = any(e.der == pv.leaf.der for e in pv.existing)
        raise RefusedError(f"The key {pv.key.label!r} already has "
                       + ("this very certificate" if same else "a certificate") + " on the token; nothing was written.",
                       "Add --replace to swap it for the new one (the new one is written first).",
                       operation="Receiving the certificate")
    res = svc.run(apply_receive, slot, pv, replace=args.replace, with_chain=args.with_chain,
                  assign_id=getattr(args, "assign_id", False),
                  force=getattr(args, "force", False))
    result(args, written=_ref_json(res.written), removed=[_ref_json(o) for o in res.removed],
           chain_written=[_ref_json(c) for c in res.chain_written],
           chain_skipped=[s.fields.subject for s in res.chain_skipped],
           requests_removed=[r.label for r in res.requests_removed], notes=list(res.notes))
    _say(f"wrote certificate {res.written.label!r} id={res.written.id.hex()} serial={res.written.fields.serial}")
    for old in res.removed:
        _say(f"removed old certificate {old.label!r} id={old.id.hex()} serial={old.fields.serial}")
    for ca in res.chain_written:
        _say(f"stored CA certificate {ca.label!r} id={ca.id.hex()} subject={ca.fields.subject}")
    for skipped in res.chain_skipped:
        _say(f"skipped chain certificate {skipped.fields.subject} (already on the token or not a CA)")
    for req in res.requests_removed:
        _say(f"removed pending request {req.label!r}")
    for n in res.notes:
        _say(f"note: {n}")
    return 0


def _ref_json(ref: Any) -> dict[str, Any]:
    return {"label": ref.label, "id": ref.id.hex(), "subject": ref.fields.subject, "serial": ref.fields.serial}


def cmd_add(args: argparse.Namespace) -> int:
    from ikm_tui.core.x509.certfile import read_cert_file
    from ikm_tui.core.ops.receive import add_authority_cert

    bundle = read_cert_file(args.file)
    if len(bundle.certs) != 1:
        raise IkmError(f"{args.file} holds {len(bundle.certs)} certificates; `cert add` stores one under one label.",
                       "Split the file, or use `cert receive --with-chain` for a chain that came with your cert.")
    svc, slot = open_token(args)
    try:
        ref = svc.run(add_authority_cert, slot, bundle.certs[0], args.label)
    except AlreadyPresentError as err:
        # Re-adding a CA that is there is the state the operator asked for, not a failure.
        result(args, already_present=True)
        _say(f"note: {err.cause}")
        return 0
    result(args, label=ref.label, id=ref.id.hex(), subject=ref.fields.subject, is_ca=ref.fields.is_ca,
           already_present=False)
    _say(f"stored CA certificate {ref.label!r} id={ref.id.hex()} (category authority)")
    for line in _cert_lines(ref.fields):
        _say(line)
    if ref.fields.is_ca is not True:
        _say("warning: this certificate is not marked as a CA (basicConstraints CA:TRUE)")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from ikm_tui.core.x509.pem import encode as pem_encode

    from ikm_tui.core.ops.extract import find_certificate

    svc, slot = open_token(args)
    cert = svc.run(find_certificate, slot, args.label, args.id, args.sha256)
    der = cert.value or b""  # find_certificate returns certificates, which always carry CKA_VALUE
    data = pem_encode(der).encode() if args.format == "pem" else der
    _write_out(args.out, data, force=args.force)
    result(args, label=cert.label, id=cert.id.hex(), out=args.out, format=args.format)
    _say(f"wrote certificate {cert.label!r} id={cert.id.hex()} to {args.out} ({args.format})")
    return 0


FORCE_HELP = "replace FILE if it exists (without --force an existing file is left alone: exit status 3)"


def _write_out(path: str, data: bytes | str, *, force: bool = False) -> None:
    """Write a certificate, request or public key to --out (core/files.py policy, 0644).

    An existing file is replaced only with --force: the TUI asks before it overwrites, and a
    script that reuses a name must say so too.
    """
    try:
        write_file(path, data, overwrite=force, mode=PUBLIC_MODE)
    except OSError as exc:
        raise write_error(path, exc) from None


def print_plan(plan: Any, verb: str) -> None:
    from ikm_tui.core.ops.plans import describe

    for o in plan.objects:
        _say(f"{verb}: {describe(o)}")
    for w in plan.warnings:
        _say(f"warning: {w}")


def _plan_result(args: argparse.Namespace, plan: Any) -> None:
    from ikm_tui.core.ops.plans import describe

    result(args, planned=[describe(o) for o in plan.objects], deleted=[], warnings=list(plan.warnings))


def cmd_delete(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.delete import plan_delete_cert

    svc, slot = open_token(args)
    return delete_planned(args, svc, slot, svc.run(plan_delete_cert, slot, args.label, args.id, args.sha256))


def delete_planned(args: argparse.Namespace, svc: Any, slot: int, plan: Any) -> int:
    """Show the plan; delete exactly what it names only with --yes (`cert delete`, `key delete`)."""
    from ikm_tui.core.ops.delete import apply_delete
    from ikm_tui.core.ops.plans import describe

    _plan_result(args, plan)
    if not args.yes:
        print_plan(plan, "would delete")
        raise RefusedError("Nothing was deleted.", "Add --yes to delete what is listed above.")
    done = svc.run(apply_delete, slot, plan)
    result(args, deleted=[describe(o) for o in done])
    for o in done:
        _say(f"deleted: {describe(o)}")
    for w in plan.warnings:
        _say(f"warning: {w}")
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.rename import apply_rename, plan_rename
    from ikm_tui.core.text.readback import rename_report

    svc, slot = open_token(args, login=True)
    try:
        plan = svc.run(plan_rename, slot, args.old, args.new, args.id)
    except ValueError as exc:
        raise IkmError(f"Cannot rename to {safe_text(args.new)!r}: {exc}.", "Give another label.") from None
    for w in plan.warnings:
        _say(f"warning: {w}")
    report = rename_report(svc.run(apply_rename, slot, plan), args.new)
    result(args, old=args.old, new=args.new, ok=report.ok)
    for line in report.lines("renamed ", "read back "):
        _say(line)
    if not report.ok:
        raise IkmError(f"{report.problem} (read back in a fresh session).",
                       "Rename those with another tool or recreate them; see the lines above.",
                       operation="Renaming")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.doctor import apply_repairs, diagnose
    from ikm_tui.core.ops.leftovers import diagnose_leftovers, remove_temporary
    from ikm_tui.core.ops.plans import describe

    from ikm_tui.cli import doctor_ids

    svc, slot = open_token(args, login=True)
    rep = svc.run(diagnose, slot)
    ids = doctor_ids.report(svc, slot, getattr(args, "public_keys", False))
    left = svc.run(diagnose_leftovers, slot)  # what an interrupted (killed) write left behind
    for line in left.lines():
        _say(line)
    for k in rep.keys_without_certs:
        _say(f"key without certificate (Java keytool will not list it): {describe(k)}")
    for c in rep.certs_without_keys:
        _say(f"certificate without a key on this token: {describe(c)}")
    for group in rep.duplicate_certs:
        _say("several certificates for one key: " + "; ".join(describe(c) for c in group))
    for r in rep.repairs:
        # A cert's label is the Java alias and NSS nickname: say so before anyone relies on the old one.
        alias = f"  (Java alias / NSS nickname become {r.set_label!r})" if r.set_label and not r.blocked else ""
        _say(f"repair: {r.describe()}{alias}")
    healthy = rep.healthy and ids.healthy and not ids.public_keys and not left.any
    todo = [r for r in rep.repairs if r.blocked is None]
    n = len(todo) + doctor_ids.todo(ids) + len(left.temporary)
    result(args, healthy=healthy, planned=n, applied=0, failed=0)
    if healthy:
        _say("every key has its certificate under the same CKA_ID and label")
        return 0
    if not n:
        return 0
    if not args.fix:
        _say(f"{n} repair(s) planned; nothing changed. Apply with --fix --yes.")
        return 0
    if not args.yes:
        doctor_ids.require_yes(n)
    bad = 0
    if left.temporary:
        for rb in svc.run(remove_temporary, slot, left):
            bad += not rb.ok
            _say(f"removed leftover {describe(rb.obj)} ({'ok' if rb.ok else rb.actual})")
        rep, ids = svc.run(diagnose, slot), doctor_ids.report(svc, slot, getattr(args, "public_keys", False))
        todo = [r for r in rep.repairs if r.blocked is None]
    # ID groups first: the cert repairs below re-read the token and refuse if it changed under them.
    bad += doctor_ids.apply(svc, slot, ids)
    if todo:
        rep = svc.run(diagnose, slot)
    for rb in svc.run(apply_repairs, slot, rep):
        ok = "ok" if rb.ok else f"READ BACK {rb.actual!r}"
        bad += not rb.ok
        _say(f"repaired {describe(rb.obj)}: now label|id {rb.wanted!r} ({ok})")
    result(args, applied=n - bad, failed=bad)
    if bad:
        raise IkmError(f"{bad} repair(s) did not stick on the token.", "See the lines above.")
    return 0
