"""The lint findings table: severities, every finding code, and the helpers the checks share."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import SignatureAlgorithmOID

from ikm_tui.core.sanitize import safe_text

Severity = Literal["error", "warning", "info"]
ERROR: Severity = "error"
WARNING: Severity = "warning"
INFO: Severity = "info"
SEVERITY_ORDER = {ERROR: 0, WARNING: 1, INFO: 2}

# What the operator is told strict verifiers do; OpenSSL's own error text follows in each message.
STRICT = "strict verifiers (`openssl verify -x509_strict`, Python 3.13+ ssl by default) reject the chain"

SHA1_SIGNATURES = {
    SignatureAlgorithmOID.RSA_WITH_SHA1,
    SignatureAlgorithmOID._RSA_WITH_SHA1,  # noqa: SLF001 - the old OIW OID, still seen in old certs
    SignatureAlgorithmOID.ECDSA_WITH_SHA1,
    SignatureAlgorithmOID.DSA_WITH_SHA1,
}
MD5_SIGNATURES = {SignatureAlgorithmOID.RSA_WITH_MD5}

# Every code lint can report: stable ids that tests, docs and `ikm-tui explain` key on.
CODES = frozenset({
    "unparseable", "extensions-unparseable", "lint-check-failed", "unsupported-public-key",
    "keycertsign-without-ca", "ca-without-keycertsign", "ca-without-key-usage",
    "expired", "not-yet-valid", "expires-soon",
    "rsa-key-too-small", "sha1-signature", "md5-signature", "serial-not-positive", "serial-too-long",
    "v1-with-extensions", "server-without-san", "eku-mismatch", "eku-any-only",
    "unhandled-critical-extension", "key-identifier-critical", "key-usage-empty", "key-usage-not-for-tls",
    "key-usage-wrong-for-key", "san-empty", "subject-empty-san-not-critical", "san-ip-as-dns", "host-mismatch",
    "chain-missing-issuer", "chain-bad-signature", "chain-issuer-not-ca", "chain-ca-without-keycertsign",
    "chain-ca-without-key-usage", "chain-ca-basic-constraints-not-critical", "chain-ca-missing-ski",
    "chain-missing-aki", "chain-pathlen-exceeded", "chain-ca-expired", "chain-ca-not-yet-valid",
    "chain-self-signed-leaf", "chain-candidate-unparseable", "chain-too-long", "chain-rejected-by-verifier",
    "chain-aki-mismatch", "chain-ca-eku-mismatch", "chain-ca-key-too-weak", "chain-ca-weak-signature",
    "chain-name-constraints",
})


@dataclass(frozen=True)
class Finding:
    """One problem found in a certificate or chain."""

    code: str  # one of CODES
    severity: Severity
    message: str  # one sentence for an operator, including what breaks because of it

    def __post_init__(self) -> None:
        # A typo in a code would silently escape the golden tests and the docs: fail loudly instead.
        if self.code not in CODES:
            raise ValueError(f"unknown finding code {self.code!r}")
        if self.severity not in (ERROR, WARNING, INFO):
            raise ValueError(f"unknown severity {self.severity!r}")


def is_parser_failure(exc: BaseException) -> bool:
    """True for anything a malformed certificate can raise.

    cryptography parses in Rust; a panic there surfaces as pyo3's PanicException, which derives from
    BaseException. Treat it like any other parse failure; let KeyboardInterrupt, SystemExit and
    cancellation through.
    """
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    # Parser messages can be long Rust debug dumps; the first line is enough for an operator.
    return safe_text(text.splitlines()[0][:200])


def load(der: bytes) -> tuple[x509.Certificate | None, str]:
    """(certificate, "") or (None, why it cannot be read); never raises on malformed input."""
    try:
        # cryptography warns (and will one day refuse) on serial numbers <= 0; we report those as a
        # finding, and a warning printed on stderr would tear through the TUI. catch_warnings is not
        # thread-safe before Python 3.14: a concurrent caller may briefly see this filter, which only
        # hides the same deprecation warning there.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return x509.load_der_x509_certificate(bytes(der)), ""
    except BaseException as exc:
        if not is_parser_failure(exc):
            raise
        return None, reason(exc)


def serial_of(cert: x509.Certificate) -> int:
    """The serial number, without cryptography's deprecation warning for non-positive ones on stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return int(cert.serial_number)


def describe(cert: x509.Certificate) -> str:
    try:
        return f"\"{safe_text(cert.subject.rfc4514_string())}\""
    except Exception:  # noqa: BLE001 - a malformed name must not hide the finding
        return "(unreadable subject)"


def ext(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def is_ca(cert: x509.Certificate) -> bool:
    bc = ext(cert, x509.BasicConstraints)
    return bc is not None and bool(bc.value.ca)  # type: ignore[attr-defined]


def key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    ku = ext(cert, x509.KeyUsage)
    return ku.value if ku is not None else None  # type: ignore[return-value]


def eku(cert: x509.Certificate) -> list[x509.ObjectIdentifier] | None:
    found = ext(cert, x509.ExtendedKeyUsage)
    return list(found.value) if found is not None else None  # type: ignore[call-overload]


def self_issued(cert: x509.Certificate) -> bool:
    return bool(cert.subject == cert.issuer)


def run(findings: list[Finding], name: str, check: Callable[[], Iterable[Finding]]) -> None:
    """Run one check; a certificate that breaks it costs that check only, never the whole lint."""
    try:
        findings.extend(check())
    except BaseException as exc:
        if not is_parser_failure(exc):
            raise
        findings.append(Finding(
            "lint-check-failed", WARNING,
            f"The {name} check could not read this certificate ({reason(exc)}), "
            "so many clients will likely fail to parse it too.",
        ))


def safe(fn: Callable[[], bool], default: bool) -> bool:
    try:
        return fn()
    except BaseException as exc:
        if not is_parser_failure(exc):
            raise
        return default
