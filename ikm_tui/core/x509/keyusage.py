"""keyUsage of an end-entity certificate: empty, useless for TLS, or not fitting its key type."""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from ikm_tui.core.x509.findings import ERROR, WARNING, Finding, is_ca, key_usage

_BITS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
         "key_agreement", "key_cert_sign", "crl_sign")
# What OpenSSL's purpose check wants (v3_purp.c): a server any of these, a client the first or the last.
_TLS_BITS = {"server": ("digital_signature", "key_encipherment", "key_agreement"),
             "client": ("digital_signature", "key_agreement"),
             None: ("digital_signature", "key_encipherment", "key_agreement")}


def _set_bits(ku: x509.KeyUsage) -> set[str]:
    bits = {b for b in _BITS if getattr(ku, b)}
    if ku.key_agreement:
        bits |= {b for b in ("encipher_only", "decipher_only") if getattr(ku, b)}
    return bits


def _wrong_for_key(cert: x509.Certificate, bits: set[str]) -> list[str]:
    try:
        key = cert.public_key()
    except Exception:  # noqa: BLE001 - an unreadable key is _check_key's finding, not this one's
        return []
    if isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        wrong = {"key_encipherment", "data_encipherment"}
        if not isinstance(key, ec.EllipticCurvePublicKey):
            wrong.add("key_agreement")  # EdDSA keys only sign
        return sorted(bits & wrong)
    if isinstance(key, rsa.RSAPublicKey):
        return sorted(bits & {"key_agreement"})  # RSA has no key agreement
    return []


def key_usage_findings(cert: x509.Certificate, intended_use: str | None) -> Iterable[Finding]:
    ku = key_usage(cert)
    if ku is None or is_ca(cert):
        return
    bits = _set_bits(ku)
    if not bits:
        yield Finding(
            "key-usage-empty", ERROR,
            "keyUsage is present with no bit set, which RFC 5280 forbids: OpenSSL marks the certificate "
            "invalid and then reports the misleading \"unable to get local issuer certificate\" (s_client: "
            "\"certificate verify failed\"); reissue it with digitalSignature (and keyEncipherment for RSA).",
        )
        return
    if not bits & set(_TLS_BITS[intended_use]):
        have = ", ".join(sorted(bits))
        yield Finding(
            "key-usage-not-for-tls", ERROR,
            f"keyUsage allows only {have}, none of which a TLS {intended_use or 'peer'} needs "
            "(digitalSignature, or keyEncipherment/keyAgreement): OpenSSL rejects it (\"unsuitable certificate "
            "purpose\"), Chrome with NET::ERR_CERT_INVALID; reissue it with digitalSignature.",
        )
    wrong = _wrong_for_key(cert, bits)
    if wrong:
        yield Finding(
            "key-usage-wrong-for-key", WARNING,
            f"keyUsage asserts {', '.join(wrong)}, which this key type cannot do (RFC 8813/8410/4055): OpenSSL "
            "and most clients ignore it, but linters (pkilint, zlint) flag it and public CAs refuse such "
            "requests; drop those bits when the certificate is next reissued.",
        )
