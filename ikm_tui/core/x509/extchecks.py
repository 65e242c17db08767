"""Checks that apply to every certificate of a chain alike: critical extensions, key identifiers, serials."""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509

from ikm_tui.core.sanitize import safe_text
from ikm_tui.core.x509.findings import ERROR, Finding, describe

# The critical extensions OpenSSL 3.0 knows (X509_supported_extension); any other critical one makes it
# fail with "unhandled critical extension", and RFC 5280 says every client must do the same.
OPENSSL_HANDLED_CRITICAL = frozenset({
    "2.16.840.1.113730.1.1",  # netscape cert type
    "2.5.29.15", "2.5.29.17", "2.5.29.19", "2.5.29.32", "2.5.29.37",  # KU, SAN, BC, policies, EKU
    "2.5.29.36", "2.5.29.30", "2.5.29.33", "2.5.29.54",  # policy constraints/mappings, NC, inhibitAnyPolicy
    "1.3.6.1.5.5.7.1.14", "1.3.6.1.5.5.7.1.7", "1.3.6.1.5.5.7.1.8",  # proxy cert info, RFC 3779 blocks
})
_KEY_IDS = {"2.5.29.35": "authorityKeyIdentifier", "2.5.29.14": "subjectKeyIdentifier"}
MAX_SERIAL_OCTETS = 20


def critical_extension_findings(cert: x509.Certificate) -> Iterable[Finding]:
    """Critical extensions OpenSSL does not handle (a critical AKI/SKI is named as such)."""
    who = describe(cert)
    for e in cert.extensions:
        oid = e.oid.dotted_string
        if not e.critical or oid in OPENSSL_HANDLED_CRITICAL:
            continue
        if oid in _KEY_IDS:
            yield Finding(
                "key-identifier-critical", ERROR,
                f"{who} marks its {_KEY_IDS[oid]} critical, which RFC 5280 forbids: OpenSSL rejects the "
                "chain (\"unhandled critical extension\", s_client: \"certificate verify failed\") and "
                "cryptography's verifier reports \"incorrect criticality\"; reissue it with the extension "
                "not critical.",
            )
        else:
            shown = safe_text(getattr(e.oid, "_name", "") or "") or oid
            yield Finding(
                "unhandled-critical-extension", ERROR,
                f"{who} carries the critical extension {shown} ({oid}), which TLS clients do not know, so "
                "RFC 5280 makes them reject the certificate (OpenSSL: \"unhandled critical extension\", Chrome: "
                "NET::ERR_CERT_INVALID, Java: \"Unrecognized critical extension(s)\"); reissue it with that "
                "extension non-critical or left out.",
            )


def serial_length_findings(serial: int, cert_name: str) -> Iterable[Finding]:
    octets = (serial.bit_length() + 8) // 8  # DER INTEGER length: a leading zero when the top bit is set
    if serial > 0 and octets > MAX_SERIAL_OCTETS:
        yield Finding(
            "serial-too-long", ERROR,
            f"The serial number of {cert_name} is {octets} octets long; RFC 5280 allows 20, and cryptography's "
            "verifier (used by Python clients) rejects it (\"certificate must have a serial between 1 and 20 "
            "octets\"), as some Java and Go versions do; reissue it with a serial of at most 20 octets.",
        )


def aki_findings(cert: x509.Certificate) -> list[Finding]:
    """A v3 certificate not self-issued must name its issuer's key (a v1 certificate cannot)."""
    from ikm_tui.core.x509.findings import ext, self_issued

    if cert.version != x509.Version.v3 or self_issued(cert) or ext(cert, x509.AuthorityKeyIdentifier) is not None:
        return []
    return [Finding(
        "chain-missing-aki", ERROR,
        f"The certificate {describe(cert)} has no authorityKeyIdentifier: strict verifiers "
        "(`openssl verify -x509_strict`, Python 3.13+ ssl by default) reject the chain (\"Missing "
        "Authority Key Identifier\"); reissue it from a CA that adds one.",
    )]
