"""Lint X.509 certificates, each finding saying what an operator will see and which client fails.

The findings table lives in findings.py, chain checks in chain.py, name checks in hostnames.py; this
module checks one certificate and re-exports the public names callers already use.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID

from ikm_tui.core.x509.pem import certificate_blobs as split_pem
from ikm_tui.core.x509.chain import MAX_CHAIN_LENGTH, check_chain
from ikm_tui.core.x509.extchecks import critical_extension_findings, serial_length_findings
from ikm_tui.core.x509.findings import (
    CODES, ERROR, INFO, MD5_SIGNATURES, SEVERITY_ORDER, SHA1_SIGNATURES, STRICT, WARNING, Finding, Severity,
    eku, ext, is_ca, is_parser_failure, key_usage, load, reason, run, self_issued,
)
from ikm_tui.core.x509.keyusage import key_usage_findings
from ikm_tui.core.x509.hostnames import check_host, check_ip_as_dns, presence_findings

__all__ = [
    "CODES", "ERROR", "INFO", "MAX_CHAIN_LENGTH", "SEVERITY_ORDER", "WARNING", "Finding", "Severity",
    "assess", "check_chain", "intended_use_of", "lint_certificate", "split_pem", "token_ca_certificates",
]

EXPIRY_WARNING = timedelta(days=30)
MIN_RSA_BITS = 2048

_WANTED_EKU = {
    "server": (ExtendedKeyUsageOID.SERVER_AUTH, "TLS server (serverAuth)",
               "OpenSSL says \"unsuitable certificate purpose\", Chrome NET::ERR_CERT_INVALID, Java "
               "\"Extended key usage does not permit use for TLS server authentication\""),
    "client": (ExtendedKeyUsageOID.CLIENT_AUTH, "TLS client (clientAuth)",
               "the server rejects the handshake (OpenSSL: \"unsuitable certificate purpose\", older "
               "versions \"unsupported certificate purpose\")"),
}


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    # A naive datetime is taken as UTC, like the certificate's own times.
    return now if now.tzinfo else now.replace(tzinfo=timezone.utc)


# --- single-certificate checks ----------------------------------------------------------------


def _check_version(cert: x509.Certificate) -> Iterable[Finding]:
    if cert.version != x509.Version.v3 and len(cert.extensions) > 0:
        yield Finding(
            "v1-with-extensions", ERROR,
            f"The certificate says it is version {cert.version.value + 1} yet carries extensions, which only "
            f"version 3 allows: {STRICT} (\"Using cert extension requires at least X509v3\") and other "
            "clients may ignore its extensions. Reissue it as v3.",
        )


def _check_extensions_parse(cert: x509.Certificate) -> Iterable[Finding]:
    try:
        _ = cert.extensions  # parsed lazily: this is where duplicates and bad encodings raise
    except BaseException as exc:
        if not is_parser_failure(exc):
            raise
        yield Finding(
            "extensions-unparseable", ERROR,
            f"The certificate's extensions cannot be decoded ({reason(exc)}); TLS clients reject "
            "certificates they cannot decode. Reissue it.",
        )


def _check_ca_flags(cert: x509.Certificate) -> Iterable[Finding]:
    ku = key_usage(cert)
    ca = is_ca(cert)
    if ku is not None and ku.key_cert_sign and not ca:
        yield Finding(
            "keycertsign-without-ca", ERROR,
            "keyUsage allows keyCertSign but basicConstraints is not CA:TRUE: Chrome rejects the "
            "certificate with ERR_CERT_INVALID and no reason, and only `openssl verify -x509_strict` "
            "says why (\"Key usage keyCertSign invalid for non-CA cert\"); reissue it without keyCertSign.",
        )
    if ca and ku is not None and not ku.key_cert_sign:
        yield Finding(
            "ca-without-keycertsign", ERROR,
            "basicConstraints says CA:TRUE but keyUsage lacks keyCertSign, so every certificate it "
            "issues is rejected (OpenSSL: \"key usage does not include certificate signing\"); add "
            "keyCertSign, or reissue it as CA:FALSE if it is meant to be an end-entity certificate.",
        )
    if ca and ku is None:
        yield Finding(
            "ca-without-key-usage", WARNING,
            "This CA certificate has no keyUsage extension, which RFC 5280 requires: "
            f"{STRICT} (\"CA cert does not include key usage extension\"); reissue it with "
            "keyUsage keyCertSign, cRLSign.",
        )


def _check_validity(cert: x509.Certificate, now: datetime) -> Iterable[Finding]:
    not_before = cert.not_valid_before_utc
    not_after = cert.not_valid_after_utc
    if now > not_after:
        yield Finding(
            "expired", ERROR,
            f"The certificate expired on {not_after:%Y-%m-%d %H:%M} UTC; clients reject it "
            "(Chrome: NET::ERR_CERT_DATE_INVALID, OpenSSL: \"certificate has expired\"). Renew it.",
        )
    elif now < not_before:
        yield Finding(
            "not-yet-valid", ERROR,
            f"The certificate is not valid until {not_before:%Y-%m-%d %H:%M} UTC; clients reject it "
            "until then (OpenSSL: \"certificate is not yet valid\"). Check the issuing CA's clock.",
        )
    elif not_after - now <= EXPIRY_WARNING:
        days = (not_after - now).days
        yield Finding(
            "expires-soon", WARNING,
            f"The certificate expires on {not_after:%Y-%m-%d %H:%M} UTC, in {days} days; "
            "renew it before clients start rejecting it.",
        )


def _check_key(cert: x509.Certificate) -> Iterable[Finding]:
    try:
        key = cert.public_key()
    except BaseException as exc:
        if not is_parser_failure(exc):
            raise
        yield Finding(
            "unsupported-public-key", WARNING,
            f"The public key cannot be read ({reason(exc)}); most TLS clients will not accept it either.",
        )
        return
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        yield Finding(
            "rsa-key-too-small", ERROR,
            f"The RSA key has only {key.key_size} bits: OpenSSL at security level 2 (Debian's default) "
            f"refuses keys under {MIN_RSA_BITS} bits (verify: \"EE certificate key too weak\", "
            f"s_server: \"ee key too small\"); generate a new key of "
            f"{MIN_RSA_BITS} bits or more.",
        )


def _check_signature(cert: x509.Certificate) -> Iterable[Finding]:
    # The OID, not `signature_hash_algorithm`: the latter raises for algorithms cryptography lacks.
    oid = cert.signature_algorithm_oid
    if oid in SHA1_SIGNATURES:
        code, hash_name = "sha1-signature", "SHA-1"
    elif oid in MD5_SIGNATURES:
        code, hash_name = "md5-signature", "MD5"
    else:
        return
    if self_issued(cert) and is_ca(cert):
        # Nobody checks a trust anchor's self-signature, so a SHA-1 root still works.
        yield Finding(
            code, WARNING,
            f"This root signs itself with {hash_name}; that signature is not checked once the root is "
            "trusted, but scanners flag it and some clients may refuse to import it.",
        )
        return
    yield Finding(
        code, ERROR,
        f"The certificate is signed with {hash_name}, which is broken but not forged: OpenSSL at security "
        "level 2 (Debian's default) refuses it (verify: \"CA signature digest algorithm too weak\", s_server: "
        "\"ca md too weak\", s_client: \"certificate verify failed\") and Chrome shows "
        "NET::ERR_CERT_WEAK_SIGNATURE_ALGORITHM; reissue it with SHA-256.",
    )


def _check_serial(serial: int) -> Iterable[Finding]:
    if serial <= 0:
        yield Finding(
            "serial-not-positive", ERROR,
            f"The serial number is {'zero' if serial == 0 else 'negative'}, which RFC 5280 forbids: Go "
            "refuses negative serials and Python's cryptography warns it will refuse both; reissue "
            "it with a positive random serial.",
        )


def _check_serial_of(cert: x509.Certificate) -> Iterable[Finding]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        serial = cert.serial_number
    return [*_check_serial(serial), *serial_length_findings(serial, "this certificate")]


def _check_san(cert: x509.Certificate, intended_use: str | None) -> Iterable[Finding]:
    if is_ca(cert):
        return
    have = eku(cert)
    is_server = intended_use == "server" or (have is not None and ExtendedKeyUsageOID.SERVER_AUTH in have)
    if is_server and ext(cert, x509.SubjectAlternativeName) is None:
        yield Finding(
            "server-without-san", ERROR,
            "This server certificate has no subjectAltName: Chrome and other modern clients ignore the "
            "CN, so every host name check fails (Chrome: NET::ERR_CERT_COMMON_NAME_INVALID); reissue "
            "it with the host names as SAN DNS entries.",
        )


def _check_eku(cert: x509.Certificate, intended_use: str | None) -> Iterable[Finding]:
    have = eku(cert)
    if have is None or is_ca(cert):  # no EKU: any use is allowed; CA EKUs are chain.py's
        return
    if have == [ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]:
        yield Finding(
            "eku-any-only", ERROR,
            "extendedKeyUsage holds only anyExtendedKeyUsage, which OpenSSL and cryptography do not take as "
            "serverAuth or clientAuth: TLS fails (OpenSSL: \"unsuitable certificate purpose\", Chrome: "
            "NET::ERR_CERT_INVALID); reissue it with serverAuth and/or clientAuth.",
        )
        return
    if intended_use is None:
        return
    wanted, what, consequence = _WANTED_EKU[intended_use]
    if wanted in have:
        return
    names = ", ".join(getattr(o, "_name", o.dotted_string) for o in have) or "nothing"
    yield Finding(
        "eku-mismatch", ERROR,
        f"extendedKeyUsage allows only {names}, not {what}, so using it as a {intended_use} certificate "
        f"fails: {consequence}; reissue it with the right extendedKeyUsage.",
    )


def lint_certificate(
    der: bytes, *, now: datetime | None = None, intended_use: str | None = None, host: str | None = None
) -> list[Finding]:
    """Everything wrong with one DER certificate; never raises on malformed input.

    `now` fixes the clock (tests, previews of a future date); `intended_use` is "server", "client"
    or None (no EKU check; a serverAuth EKU still makes the SAN check apply); `host` is the DNS name
    or IP address clients dial, checked against the SAN.
    """
    if intended_use not in (None, "server", "client"):
        raise ValueError(f"intended_use must be 'server', 'client' or None, not {intended_use!r}")
    at = _now(now)
    cert, why = load(der)
    if cert is None:
        unreadable = [Finding(
            "unparseable", ERROR,
            f"This is not a readable X.509 certificate ({why}); no client will accept it, so check "
            "that the right file or object was chosen and that it is not truncated.",
        )]
        # The serial check survives a parser that refuses non-positive serials outright (cryptography
        # has announced it will), so the operator still learns the cause.
        unreadable.extend(_raw_serial_findings(der))
        return unreadable

    findings: list[Finding] = []
    run(findings, "extensions", lambda: _check_extensions_parse(cert))
    extensions_ok = not findings
    run(findings, "validity", lambda: _check_validity(cert, at))
    run(findings, "public key", lambda: _check_key(cert))
    run(findings, "signature algorithm", lambda: _check_signature(cert))
    run(findings, "serial number", lambda: _check_serial_of(cert))
    if extensions_ok:
        # Each of these reads extensions; with undecodable extensions they would only repeat that.
        _extension_checks(findings, cert, intended_use, host)
    return findings


def _extension_checks(findings: list[Finding], cert: x509.Certificate, intended_use: str | None,
                      host: str | None) -> None:
    run(findings, "version", lambda: _check_version(cert))
    run(findings, "critical extensions", lambda: critical_extension_findings(cert))
    run(findings, "CA flags", lambda: _check_ca_flags(cert))
    run(findings, "keyUsage", lambda: key_usage_findings(cert, intended_use))
    run(findings, "subjectAltName", lambda: _check_san(cert, intended_use))
    run(findings, "subject", lambda: presence_findings(cert))
    run(findings, "extendedKeyUsage", lambda: _check_eku(cert, intended_use))
    if host:
        run(findings, "host name", lambda: check_host(cert, host))
    else:
        run(findings, "SAN addresses", lambda: check_ip_as_dns(cert))


def _raw_serial_findings(der: bytes) -> list[Finding]:
    import asn1crypto.x509 as ax  # only when cryptography refused the cert

    try:
        serial = ax.Certificate.load(bytes(der))["tbs_certificate"]["serial_number"].native
    except BaseException as exc:
        if not is_parser_failure(exc):
            raise
        return []  # "unparseable" already says it all
    return list(_check_serial(serial)) if isinstance(serial, int) else []



# ----- choosing inputs: shared by the CLI (`cert lint`, `cert receive`) and the TUI ---------------


def intended_use_of(eku: Sequence[str]) -> str | None:
    """"server" or "client" from a certificate's EKU names (serverAuth wins); None for neither."""
    if "serverAuth" in eku:
        return "server"
    if "clientAuth" in eku:
        return "client"
    return None


def token_ca_certificates(objects: Sequence[Any], skip: Collection[int] = ()) -> list[bytes]:
    """DER of every CA certificate among listed token objects (CA:TRUE, or filed as authority).

    `objects` are core.model.ObjectInfo; `skip` holds handles not to offer (the leaf itself).
    """
    from ikm_tui.core.model import ObjClass
    from ikm_tui.core.p11.objects import CATEGORY_AUTHORITY

    return [o.value for o in objects
            if o.cls is ObjClass.CERTIFICATE and o.value is not None and o.handle not in skip
            and ((o.cert is not None and o.cert.is_ca) or o.cert_category == CATEGORY_AUTHORITY)]


def assess(der: bytes, candidates: Sequence[bytes], *, now: datetime | None = None,
           intended_use: str | None = None, host: str | None = None) -> list[Finding]:
    """lint_certificate plus, when the DER parsed, check_chain; errors first."""
    findings = lint_certificate(der, now=now, intended_use=intended_use, host=host)
    if not any(f.code == "unparseable" for f in findings):
        findings += check_chain(der, list(candidates), now=now, intended_use=intended_use)
    return sorted(findings, key=lambda f: SEVERITY_ORDER.get(f.severity, 3))
