"""PKCS#10 requests and self-signed certificates built with asn1crypto, signed by a pluggable Signer."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone

from asn1crypto import core, keys
from asn1crypto import csr as asn1_csr
from asn1crypto import x509 as asn1_x509
from cryptography import x509 as crypto_x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from ikm_tui.core.x509.extensions import check_extensions, common_extensions, extension
from ikm_tui.core.x509.signing import sign_certificate
from ikm_tui.core.x509.signing import (
    SIG_ALGS,
    SigAlg,
    Signer,
    SigningPlan,
    checked_signature,
    ecdsa_raw_to_der,
    signature_algorithm,
    signing_plan,
    token_signer,
)
from ikm_tui.core.x509.spki import spki_from_token_attrs

# Callers and tests import the signing seam, the SPKI helper and check_extensions from here too.
__all__ = [
    "Signer", "SigningPlan", "build_csr", "build_self_signed", "check_extensions", "ecdsa_raw_to_der",
    "signing_plan", "spki_from_token_attrs", "token_signer", "verify_csr", "verify_self_signed",
]

# ---- the builders ------------------------------------------------------------------------------

def _check_inputs(subject: asn1_x509.Name, spki_der: bytes, sig_alg: str) -> tuple[keys.PublicKeyInfo, SigAlg]:
    if not isinstance(subject, asn1_x509.Name):
        raise TypeError("subject must be an asn1crypto x509.Name (use dn.parse_dn)")
    if not isinstance(spki_der, (bytes, bytearray)):
        raise TypeError("spki_der must be bytes")
    alg = SIG_ALGS.get(sig_alg)
    if alg is None:
        raise ValueError(f"unknown signature algorithm {sig_alg!r}; expected one of {', '.join(SIG_ALGS)}")
    try:
        spki = keys.PublicKeyInfo.load(bytes(spki_der), strict=True)
        key_alg = spki.algorithm
        serialization.load_der_public_key(bytes(spki_der))  # only to prove the key is usable
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"spki_der is not a SubjectPublicKeyInfo cryptography can use: {exc}") from None
    if key_alg != alg.key:
        raise ValueError(f"{sig_alg} needs an {alg.key.upper()} key, but the public key is {key_alg}")
    return spki, alg


_BAD_SIGNATURE = ("the signature does not verify with the public key: wrong key for this public key, "
                  "or a mechanism/hash that does not match the signature algorithm")


def build_csr(
    *,
    subject: asn1_x509.Name,
    spki_der: bytes,
    sign: Signer,
    sig_alg: str,
    sans: Sequence[str] | asn1_x509.GeneralNames = (),
    key_usage: Iterable[str] = (),
    eku: Iterable[str] = (),
) -> bytes:
    """A DER PKCS#10 CertificationRequest (RFC 2986), verified before it is returned.

    SAN, key usage and EKU go into one extensionRequest attribute (PKCS#9), the form OpenSSL and
    CAs read. Raises ValueError for bad input or a signature that does not verify.
    """
    spki, alg = _check_inputs(subject, spki_der, sig_alg)
    exts, _ = common_extensions(subject, sans, key_usage, eku, alg.key)
    attributes = []
    if exts:
        attributes.append(asn1_csr.CRIAttribute({
            "type": "extension_request",
            "values": [asn1_x509.Extensions(exts)],
        }))
    info = asn1_csr.CertificationRequestInfo({
        "version": "v1",
        "subject": subject,
        "subject_pk_info": spki,
        "attributes": attributes,
    })
    tbs = bytes(info.dump(force=True))
    sig = checked_signature(sign, tbs, alg)
    req = asn1_csr.CertificationRequest({
        # Loaded back from the exact bytes that were signed, so the two cannot differ.
        "certification_request_info": asn1_csr.CertificationRequestInfo.load(tbs),
        "signature_algorithm": signature_algorithm(sig_alg, alg),
        "signature": sig,
    })
    der = bytes(req.dump())
    verify_csr(der)
    return der


def verify_csr(der: bytes) -> None:
    """Raise ValueError unless `der` is a CertificationRequest whose self-signature verifies."""
    try:
        req = crypto_x509.load_der_x509_csr(bytes(der))
        ok = req.is_signature_valid
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"not a usable PKCS#10 request: {exc}") from None
    if not ok:
        raise ValueError(_BAD_SIGNATURE)


def verify_self_signed(der: bytes) -> None:
    """Raise ValueError unless `der` is a certificate that its own key signed (issuer = subject)."""
    try:
        cert = crypto_x509.load_der_x509_certificate(bytes(der))
        cert.verify_directly_issued_by(cert)
    except InvalidSignature:
        raise ValueError(_BAD_SIGNATURE) from None
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"not a usable self-signed certificate: {exc}") from None


def _serial(serial: int | None) -> int:
    if serial is None:
        # RFC 5280 §4.1.2.2: positive, at most 20 octets; CA/B Forum wants >= 64 random bits.
        # 158 random bits under a fixed top bit give 159-bit serials of a constant length.
        return secrets.randbits(158) | (1 << 158)
    if isinstance(serial, bool) or not isinstance(serial, int):
        raise TypeError("serial must be an int")
    if serial <= 0 or serial.bit_length() > 159:
        raise ValueError("serial must be positive and fit in 20 octets (at most 159 bits)")
    return serial


def _validity(days: int, now: datetime | None) -> tuple[datetime, datetime]:
    """(notBefore, notAfter) in UTC, whole seconds, `days` apart; TypeError/ValueError for bad input."""
    if isinstance(days, bool) or not isinstance(days, int):
        raise TypeError("days must be an int")
    if days < 1:
        raise ValueError("days must be at least 1")
    if now is None:
        now = datetime.now(timezone.utc)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    not_before = now.astimezone(timezone.utc).replace(microsecond=0)
    try:
        return not_before, not_before + timedelta(days=days)
    except OverflowError:
        raise ValueError(f"{days} days from now is past the year 9999") from None


def _self_signed_extensions(
    subject: asn1_x509.Name,
    spki: keys.PublicKeyInfo,
    sans: Sequence[str] | asn1_x509.GeneralNames,
    key_usage: Iterable[str],
    eku: Iterable[str],
    is_ca: bool,
    key_alg: str,
) -> list[asn1_x509.Extension]:
    """basicConstraints, key identifiers, then SAN/KU/EKU; a CA without key_usage gets keyCertSign, cRLSign."""
    key_usage = list(key_usage)
    if is_ca and not key_usage:
        key_usage = ["keyCertSign", "cRLSign"]
    exts, ku = common_extensions(subject, sans, key_usage, eku, key_alg)
    # RFC 5280 §4.2.1.9 / §4.2.1.3: keyCertSign if and only if the certificate is a CA.
    if is_ca and "key_cert_sign" not in ku:
        raise ValueError("a CA certificate needs keyCertSign in its key usage")
    if not is_ca and "key_cert_sign" in ku:
        raise ValueError("keyCertSign needs a CA certificate (is_ca)")
    ski = spki.sha1
    return [
        extension("basic_constraints", asn1_x509.BasicConstraints({"ca": is_ca}), True),
        extension("key_identifier", core.OctetString(ski), False),
        # Optional for self-signed certificates (RFC 5280 §4.2.1.1), but chain builders and
        # `openssl verify -x509_strict` look for it.
        extension("authority_key_identifier", asn1_x509.AuthorityKeyIdentifier({"key_identifier": ski}), False),
        *exts,
    ]


def build_self_signed(
    *,
    subject: asn1_x509.Name,
    spki_der: bytes,
    sign: Signer,
    sig_alg: str,
    days: int,
    serial: int | None = None,
    sans: Sequence[str] | asn1_x509.GeneralNames = (),
    key_usage: Iterable[str] = (),
    eku: Iterable[str] = (),
    is_ca: bool = False,
    now: datetime | None = None,
) -> bytes:
    """A DER v3 certificate with issuer = subject, signed by the key itself, verified before return.

    Carries basicConstraints (critical), subjectKeyIdentifier (RFC 5280 method 1: SHA-1 of the
    public key BIT STRING), an authorityKeyIdentifier equal to it, and the optional SAN, key
    usage and EKU. A CA certificate without key_usage gets keyCertSign and cRLSign.
    """
    spki, alg = _check_inputs(subject, spki_der, sig_alg)
    not_before, not_after = _validity(days, now)
    exts = _self_signed_extensions(subject, spki, sans, key_usage, eku, is_ca, alg.key)
    der = sign_certificate(subject=subject, spki=spki, issuer=subject, sign=sign, sig_alg=sig_alg,
                           not_before=not_before, not_after=not_after, serial=_serial(serial), extensions=exts)
    verify_self_signed(der)
    return der
