"""A CA whose key never leaves the token: create it, issue certificates from requests, list the log.

Functions taking the Backend run on the module's owner thread (`svc.run(create_ca, slot, ...)`).
The CA key pair is generated private, sensitive and never extractable (p11/keygen.py); every
signature is made on the token. What a certificate carries is decided by a profile (x509/issue.py),
never by the request, and every issued certificate passes our strict lint before it is returned.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone

from asn1crypto import keys
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization

from ikm_tui.core import journal
from ikm_tui.core.errors import IkmError, NotFoundError, RefusedError, from_exception
from ikm_tui.core.model import ObjClass
from ikm_tui.core.ops import ca_log
from ikm_tui.core.ops import capabilities as caps
from ikm_tui.core.ops.common import require_login
from ikm_tui.core.ops.extract import find_certificate
from ikm_tui.core.ops.pending import key_identity
from ikm_tui.core.ops.requests import cert_create_steps, intend_keygen
from ikm_tui.core.ops.token_signing import check_choice, check_new_label, key_signer, key_spec, pick_hash, subject_name
from ikm_tui.core.x509.signing import sign_certificate
from ikm_tui.core.p11 import objects
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.p11.keygen import KeyPurpose, generate_protected_pair
from ikm_tui.core.p11.keys import KeySpec, key_kind
from ikm_tui.core.p11.objects import CATEGORY_AUTHORITY, TokenObject
from ikm_tui.core.sanitize import safe_text
from ikm_tui.core.x509 import csr as csrlib
from ikm_tui.core.x509 import issue, names
from ikm_tui.core.x509.lint import assess
from ikm_tui.core.x509.pem import encode as pem_encode

CA_KEY_TYPES = ("ec:p256", "ec:p384", "rsa:3072", "rsa:4096")


@dataclass(frozen=True)
class CaResult:
    """A CA made on the token: its key pair and self-signed certificate share label and CKA_ID."""

    label: str
    key_id: bytes
    key_type: str
    der: bytes

    @property
    def pem(self) -> str:
        return pem_encode(self.der, "CERTIFICATE")


@dataclass(frozen=True)
class Issued:
    """A certificate issued (and logged) by a CA on the token."""

    ca_label: str
    profile: str
    der: bytes
    record: ca_log.IssueRecord
    log_path: str
    warnings: tuple[str, ...] = ()

    @property
    def pem(self) -> str:
        return pem_encode(self.der, "CERTIFICATE")


def check_path_len(path_len: int | None) -> None:
    if path_len is not None and (isinstance(path_len, bool) or not isinstance(path_len, int) or path_len < 0):
        raise IkmError(f"--path-len must be a whole number of at least 0, not {path_len!r}.",
                       "Give e.g. --path-len 0 (this CA may sign only leaf certificates).")


def create_ca(backend: Backend, slot_id: int, spec: KeySpec | str, label: str, subject: str, days: int,
              path_len: int | None = None, hash: str | None = None,  # noqa: A002 - the CLI's --hash
              key_id: bytes | None = None) -> CaResult:
    """A non-extractable key pair and its self-signed CA certificate (CA:TRUE, keyCertSign+cRLSign)."""
    spec = key_spec(spec)
    if str(spec) not in CA_KEY_TYPES:
        raise IkmError(f"Key type {spec} is not offered for a CA.", f"Use one of {', '.join(CA_KEY_TYPES)}.")
    check_new_label(label)
    check_path_len(path_len)
    require_login(backend, slot_id, "Creating a CA")
    hash_choice = pick_hash(check_choice(backend, slot_id, spec, CA_KEY_TYPES), hash)
    name = subject_name(subject)
    if not name.chosen:
        raise IkmError("A CA needs a subject DN.", "Give --subject, e.g. 'CN=Lab CA,O=Example'.")
    start, end = validity(days, None)
    # Journaled as cert create (core/ops/requests.py): the pair by label, then the certificate.
    intend_keygen(backend, slot_id, "ca create", cert_create_steps(label, key_id, None, CATEGORY_AUTHORITY))
    pair = generate_protected_pair(backend, slot_id, spec, label, key_id, KeyPurpose())
    cert_obj: TokenObject | None = None
    try:
        signer, sig_alg = key_signer(pair.private, spec.kind, hash_choice)
        spki = keys.PublicKeyInfo.load(pair.info.spki)
        der = sign_certificate(subject=name, spki=spki, issuer=name, sign=signer, sig_alg=sig_alg,
                               not_before=start, not_after=end, serial=issue.random_serial(),
                               extensions=issue.ca_extensions(spki, spki.sha1, path_len))
        csrlib.verify_self_signed(der)
        refuse_on_lint_errors(der, [der], None)
        journal.intend("ca create", cert_create_steps(label, pair.info.key_id, der, CATEGORY_AUTHORITY))
        cert_obj = objects.create_certificate(backend, slot_id, der, label, pair.info.key_id, CATEGORY_AUTHORITY)
    except BaseException as exc:
        if cert_obj is not None:
            objects.destroy_quietly(cert_obj)
        pair.destroy()
        if not isinstance(exc, Exception):
            raise
        raise from_exception(exc, "Creating the CA") from None
    return CaResult(label, pair.info.key_id, str(spec), der)


def validity(days: int, cap: datetime | None, now: datetime | None = None) -> tuple[datetime, datetime]:
    """(notBefore, notAfter) for --days, never past `cap`; IkmError naming --days otherwise."""
    try:
        return issue.validity(days, cap, now)
    except (ValueError, OverflowError) as exc:
        raise IkmError(f"Bad --days: {exc}.", "Give e.g. --days 3650 for a CA, --days 397 for a server.") from None


def refuse_on_lint_errors(der: bytes, chain: list[bytes], intended_use: str | None) -> list[str]:
    """Our strict lint on the new certificate: IkmError on any ERROR, else the warnings' text."""
    findings = assess(der, chain, intended_use=intended_use)
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise RefusedError("The certificate fails the lint, so it was not issued: "
                           + "; ".join(f"{f.code}: {f.message}" for f in errors),
                           "Nothing was written or logged. Fix the request or the profile and retry.")
    return [f"{f.code}: {f.message}" for f in findings if f.severity == "warning"]


@dataclass(frozen=True)
class TokenCa:
    label: str
    der: bytes
    cert: cx509.Certificate
    private: TokenObject
    ski: bytes
    sha256: str


def find_ca(backend: Backend, slot_id: int, label: str) -> TokenCa:
    """The CA certificate labelled `label` and its private key (same CKA_ID) on this token."""
    info = find_certificate(backend, slot_id, label)
    assert info.value is not None  # find_certificate refuses an empty one
    cert = cx509.load_der_x509_certificate(info.value)
    try:
        bc = cert.extensions.get_extension_for_class(cx509.BasicConstraints).value
        ku = cert.extensions.get_extension_for_class(cx509.KeyUsage).value
        is_ca = bc.ca and ku.key_cert_sign
    except cx509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise RefusedError(f"The certificate {safe_text(label)!r} is not a CA certificate "
                           "(it lacks CA:TRUE or keyCertSign).", "Name a CA made by `ikm-tui ca create`.")
    privs = objects.find_objects(backend, slot_id, ObjClass.PRIVATE_KEY, key_id=info.id)
    if len(privs) != 1:
        raise NotFoundError(f"No single private key with the CA's id {info.id.hex()} on this token "
                            f"({len(privs)} found).", "The CA key must be on this token; log in first.")
    try:
        ski = cert.extensions.get_extension_for_class(cx509.SubjectKeyIdentifier).value.digest
    except cx509.ExtensionNotFound:
        ski = keys.PublicKeyInfo.load(cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).sha1
    return TokenCa(label, info.value, cert, privs[0], ski, hashlib.sha256(info.value).hexdigest())


def ca_signer(backend: Backend, slot_id: int, ca: TokenCa, hash: str | None) -> tuple[csrlib.Signer, str]:  # noqa: A002
    """A signer with the CA key, its mechanism from the token's list (as the request form picks it)."""
    key_type, _ = key_identity(ca.cert.public_key())
    choice = caps.capabilities(backend, slot_id).choice(key_type)
    return key_signer(ca.private, key_kind(ca.private), pick_hash(choice, hash))


def read_request(csr_der: bytes) -> issue.RequestView:
    try:
        csrlib.verify_csr(csr_der)
        return issue.read_request(csr_der)
    except (ValueError, TypeError) as exc:
        raise IkmError(f"The request cannot be used: {exc}.",
                       "Give a PKCS#10 request whose signature verifies (PEM or DER).") from None


def request_warnings(req: issue.RequestView, profile: str) -> list[str]:
    """What the request asked for and will not get: said, never silently granted."""
    out = []
    if profile != "subca" and req.asks_ca:
        out.append("The request asks for CA:TRUE; the certificate is a leaf (CA:FALSE), as the profile says.")
    if profile != "subca" and req.asks_cert_sign:
        out.append("The request asks for keyCertSign/cRLSign; a leaf never gets them (profile "
                   f"{profile!r}: digitalSignature only, +keyEncipherment for RSA).")
    return out


def issue_record(der: bytes, profile: str) -> ca_log.IssueRecord:
    cert = cx509.load_der_x509_certificate(der)
    try:
        san_ext = cert.extensions.get_extension_for_class(cx509.SubjectAlternativeName).value
        sans = [names.san_text(n) for n in san_ext]
    except cx509.ExtensionNotFound:
        sans = []
    return ca_log.IssueRecord(
        serial=f"{cert.serial_number:X}", subject=cert.subject.rfc4514_string(), sans=sans,
        not_after=cert.not_valid_after_utc.isoformat(), sha256=hashlib.sha256(der).hexdigest(),
        issued_at=datetime.now(timezone.utc).replace(microsecond=0).isoformat(), profile=profile)


def issued_by(backend: Backend, slot_id: int, ca_label: str) -> tuple[str, list[ca_log.IssueRecord]]:
    """(log path, records) of the CA labelled `ca_label` on this token; needs no login."""
    info = find_certificate(backend, slot_id, ca_label)
    digest = hashlib.sha256(info.value or b"").hexdigest()
    return str(ca_log.log_path(digest)), ca_log.read(digest)
