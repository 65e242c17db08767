"""Issuing with a CA on the token in two steps: a plan to show (and confirm), then the signature.

`plan_issue` reads and verifies the request and decides everything the certificate will carry
(profile extensions, SANs, validity, serial) without touching the key; `issue_planned` signs
exactly that plan on the token, lints the result and records it. The CLI prints the plan and asks;
the TUI shows it in the issue preview. Functions taking the Backend run on the owner thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import x509 as asn1_x509
from cryptography import x509 as cx509

from ikm_tui.core.errors import IkmError, RefusedError, from_exception
from ikm_tui.core.files import read_input
from ikm_tui.core.ops import ca_log
from ikm_tui.core.ops.ca import (Issued, check_path_len, ca_signer, find_ca, issue_record, read_request,
                                 refuse_on_lint_errors, request_warnings, validity)
from ikm_tui.core.ops.common import require_login
from ikm_tui.core.ops.pending import key_identity
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.x509 import issue, names, pem
from ikm_tui.core.x509.dn import format_dn
from ikm_tui.core.x509.signing import sign_certificate

_LINT_USE = {"server": "server", "both": "server", "client": "client"}
_SAN_PREFIX = {"dns_name": "DNS", "ip_address": "IP", "rfc822_name": "email",
               "uniform_resource_identifier": "URI", "directory_name": "DirName"}


@dataclass(frozen=True)
class IssuePlan:
    """What `issue_planned` will sign: shown to the operator first, nothing on the token changed."""

    ca_label: str
    ca_subject: str
    ca_sha256: str
    profile: str
    subject: str
    key_type: str
    sans: tuple[str, ...]
    key_usage: tuple[str, ...]
    eku: tuple[str, ...]
    basic_constraints: str
    not_before: datetime
    not_after: datetime
    capped: bool  # notAfter was cut to the CA's own
    serial: str  # hex, as `ca list` shows it
    hash: str | None
    warnings: tuple[str, ...]
    source: str  # where the request came from: a file, or "pending request L on token T"
    csr_der: bytes = field(repr=False)
    extensions: tuple[asn1_x509.Extension, ...] = field(repr=False, compare=False)

    def rows(self) -> list[tuple[str, str]]:
        """(field, value) lines of the preview, in the order the CLI and the TUI show them."""
        days = (self.not_after - self.not_before).days
        cut = " (cut to the CA's own notAfter)" if self.capped else ""
        return [
            ("CA", f"{self.ca_label} ({self.ca_subject})"),
            ("request", self.source),
            ("subject", self.subject or "(empty)"),
            ("key", self.key_type),
            ("SANs", ", ".join(self.sans) or "(none)"),
            ("profile", self.profile),
            ("basic constr.", self.basic_constraints),
            ("key usage", ", ".join(self.key_usage)),
            ("ext. key use", ", ".join(self.eku) or "(none: a CA certificate)"),
            ("validity", f"{self.not_before:%Y-%m-%d %H:%M}Z .. {self.not_after:%Y-%m-%d %H:%M}Z "
                         f"({days} days){cut}"),
            ("serial", self.serial),
        ]

    def as_json(self) -> dict[str, object]:
        return {"ca": self.ca_label, "request": self.source, "subject": self.subject, "key_type": self.key_type,
                "sans": list(self.sans), "profile": self.profile, "basic_constraints": self.basic_constraints,
                "key_usage": list(self.key_usage), "eku": list(self.eku),
                "not_before": self.not_before.isoformat(), "not_after": self.not_after.isoformat(),
                "serial": self.serial, "warnings": list(self.warnings)}


def _san_texts(sans: asn1_x509.GeneralNames | None) -> tuple[str, ...]:
    out = []
    for gn in sans or ():
        prefix = _SAN_PREFIX.get(gn.name, gn.name)
        value = format_dn(gn.chosen) if gn.name == "directory_name" else str(gn.native)
        out.append(f"{prefix}:{value}")
    return tuple(out)


def _described(exts: Sequence[asn1_x509.Extension]) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(basicConstraints, keyUsage names, EKU names) of the extensions the profile chose."""
    bc = ""
    ku: tuple[str, ...] = ()
    eku: tuple[str, ...] = ()
    for ext in exts:
        name, value = ext["extn_id"].native, ext["extn_value"].parsed
        if name == "basic_constraints":
            path_len = value["path_len_constraint"].native
            bc = ("CA:TRUE" + (f", pathlen {path_len}" if path_len is not None else "")
                  if value["ca"].native else "CA:FALSE")
        elif name == "key_usage":
            ku = tuple(k.name for k in names.KEY_USAGES if k.bit in value.native)
        elif name == "extended_key_usage":
            eku = names.eku_names(p.dotted for p in value)
    return bc, ku, eku


def _fresh_serial(ca_sha256: str) -> str:
    taken = ca_log.serials(ca_sha256)
    serial = issue.random_serial()
    while f"{serial:X}" in taken:  # 2^-126 per try; the log is the authority on "never repeats"
        serial = issue.random_serial()
    return f"{serial:X}"


def read_request_file(path: str) -> bytes:
    """The DER request in `path` (PEM `CERTIFICATE REQUEST`/`NEW CERTIFICATE REQUEST`, or DER)."""
    data = read_input(path, what="request file", limit=1 << 20)
    if not pem.is_pem(data):
        return data
    try:
        return pem.decode(data, "CERTIFICATE REQUEST")
    except pem.PemError:
        try:
            return pem.decode(data, "NEW CERTIFICATE REQUEST")
        except pem.PemError as exc:
            raise IkmError(f"{path} holds no single PEM request: {exc}.",
                           "Give the .csr file made by `openssl req` or `ikm-tui certreq create`.") from None


def plan_issue(backend: Backend, slot_id: int, ca_label: str, csr_der: bytes, profile: str = "server",
               days: int = 397, sans: Sequence[str] = (), hash: str | None = None,  # noqa: A002
               path_len: int | None = 0, *, source: str = "", now: datetime | None = None) -> IssuePlan:
    """What the CA `ca_label` would issue for `csr_der`: checked, decided, nothing signed yet."""
    if profile not in issue.PROFILES:
        raise IkmError(f"Unknown profile {profile!r}.", f"Use one of {', '.join(issue.PROFILES)}.")
    require_login(backend, slot_id, "Signing a request")
    ca = find_ca(backend, slot_id, ca_label)
    req = read_request(csr_der)
    try:
        san_names = issue.sans_from(sans, req.sans)
    except (ValueError, TypeError) as exc:
        raise IkmError(f"Bad --san: {exc}.", "Write DNS:name, IP:addr, email:addr or URI:uri.") from None
    if profile == "subca":
        check_path_len(path_len)
        exts = issue.ca_extensions(req.spki, ca.ski, path_len)
    else:
        exts = issue.leaf_extensions(profile, req.subject, req.spki, san_names, ca.ski)
    start, end = validity(days, ca.cert.not_valid_after_utc, now)
    ca_signer(backend, slot_id, ca, hash)  # refuses now a hash the token cannot sign with
    bc, ku, eku = _described(exts)
    key_type, _ = key_identity(cx509.load_der_x509_csr(csr_der).public_key())
    return IssuePlan(
        ca_label=ca_label, ca_subject=ca.cert.subject.rfc4514_string(), ca_sha256=ca.sha256, profile=profile,
        subject=format_dn(req.subject), key_type=key_type, sans=_san_texts(san_names), key_usage=ku, eku=eku,
        basic_constraints=bc, not_before=start, not_after=end, capped=end == ca.cert.not_valid_after_utc,
        serial=_fresh_serial(ca.sha256), hash=hash, warnings=tuple(request_warnings(req, profile)),
        source=source, csr_der=csr_der, extensions=tuple(exts))


def issue_planned(backend: Backend, slot_id: int, plan: IssuePlan) -> Issued:
    """Sign `plan` with the CA key on the token, lint the certificate, log it and return it."""
    require_login(backend, slot_id, "Signing a request")
    ca = find_ca(backend, slot_id, plan.ca_label)
    if ca.sha256 != plan.ca_sha256:
        raise RefusedError(f"The CA certificate {plan.ca_label!r} changed since the preview.",
                           "Nothing was signed. Start again to see what would be issued now.")
    if plan.serial in ca_log.serials(ca.sha256):
        raise RefusedError(f"Serial {plan.serial} is already in the CA's issue log.",
                           "Nothing was signed. Start again: a new plan draws a new serial.")
    req = read_request(plan.csr_der)
    signer, sig_alg = ca_signer(backend, slot_id, ca, plan.hash)
    issuer = asn1_x509.Certificate.load(ca.der).subject
    try:
        der = sign_certificate(subject=req.subject, spki=req.spki, issuer=issuer, sign=signer,
                               sig_alg=sig_alg, not_before=plan.not_before, not_after=plan.not_after,
                               serial=int(plan.serial, 16), extensions=list(plan.extensions))
        cx509.load_der_x509_certificate(der).verify_directly_issued_by(ca.cert)
    except Exception as exc:  # noqa: BLE001 - a token or encoding failure, said in operator terms
        raise from_exception(exc, "Signing the certificate") from None
    warnings = list(plan.warnings) + refuse_on_lint_errors(der, [ca.der], _LINT_USE.get(plan.profile))
    record = issue_record(der, plan.profile)
    path = ca_log.append(ca.sha256, record)
    return Issued(plan.ca_label, plan.profile, der, record, str(path), tuple(warnings))


def sign_request(backend: Backend, slot_id: int, ca_label: str, csr_der: bytes, profile: str = "server",
                 days: int = 397, sans: Sequence[str] = (), hash: str | None = None,  # noqa: A002
                 path_len: int | None = 0) -> Issued:
    """Plan and issue in one call (no preview): for scripts and tests that decided already."""
    plan = plan_issue(backend, slot_id, ca_label, csr_der, profile, days, sans, hash, path_len)
    return issue_planned(backend, slot_id, plan)
