"""Certificates a CA issues: the profile decides the extensions, never the request (RFC 5280 §4.2)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from asn1crypto import core, keys
from asn1crypto import csr as asn1_csr
from asn1crypto import x509 as asn1_x509

from ikm_tui.core.x509.extensions import extension
from ikm_tui.core.x509.san import parse_san

# Profile name -> EKU purposes (asn1crypto names); None for a CA certificate (no EKU).
PROFILES: dict[str, tuple[str, ...] | None] = {
    "server": ("server_auth",),
    "client": ("client_auth",),
    "both": ("server_auth", "client_auth"),
    "subca": None,
}


@dataclass(frozen=True)
class RequestView:
    """What a PKCS#10 request asks for, read once; the profile decides what of it is used."""

    subject: asn1_x509.Name
    spki: keys.PublicKeyInfo
    key_alg: str  # "rsa", "ec" or "ed25519"
    sans: asn1_x509.GeneralNames | None
    asks_ca: bool  # basicConstraints CA:TRUE requested
    asks_cert_sign: bool  # keyCertSign (or cRLSign) requested


def read_request(der: bytes) -> RequestView:
    """Parse a DER request (its signature is checked by the caller, with cryptography)."""
    req = asn1_csr.CertificationRequest.load(bytes(der))
    info = req["certification_request_info"]
    sans: asn1_x509.GeneralNames | None = None
    asks_ca = asks_sign = False
    for attr in info["attributes"]:
        if attr["type"].native != "extension_request":
            continue
        for exts in attr["values"]:
            for ext in exts:
                name = ext["extn_id"].native
                value = ext["extn_value"].parsed
                if name == "subject_alt_name":
                    sans = value
                elif name == "basic_constraints":
                    asks_ca = bool(value["ca"].native)
                elif name == "key_usage":
                    asks_sign = bool({"key_cert_sign", "crl_sign"} & set(value.native))
    spki = info["subject_pk_info"]
    alg = spki.algorithm
    return RequestView(info["subject"], spki, "ed25519" if alg == "ed25519" else alg, sans, asks_ca, asks_sign)


def random_serial() -> int:
    """A positive serial of 16 random-based bytes: top bit clear (positive), next bit set (fixed length)."""
    return (int.from_bytes(secrets.token_bytes(16), "big") & ((1 << 127) - 1)) | (1 << 126)


def ca_extensions(spki: keys.PublicKeyInfo, issuer_ski: bytes, path_len: int | None) -> list[asn1_x509.Extension]:
    """basicConstraints critical CA:TRUE (+pathLen), keyUsage critical keyCertSign+cRLSign, SKI, AKI."""
    bc: dict[str, object] = {"ca": True}
    if path_len is not None:
        bc["path_len_constraint"] = path_len
    return [
        extension("basic_constraints", asn1_x509.BasicConstraints(bc), True),
        extension("key_usage", asn1_x509.KeyUsage({"key_cert_sign", "crl_sign"}), True),
        extension("key_identifier", core.OctetString(spki.sha1), False),
        extension("authority_key_identifier", asn1_x509.AuthorityKeyIdentifier({"key_identifier": issuer_ski}),
                  False),
    ]


def leaf_extensions(profile: str, subject: asn1_x509.Name, spki: keys.PublicKeyInfo,
                    sans: asn1_x509.GeneralNames | None, issuer_ski: bytes) -> list[asn1_x509.Extension]:
    """CA:FALSE, digitalSignature (+keyEncipherment for RSA), the profile's EKU, SAN, SKI, AKI.

    Never keyCertSign nor CA:TRUE, whatever the request asked: those come only from ca_extensions.
    """
    purposes = PROFILES[profile]
    if purposes is None:
        raise ValueError(f"profile {profile!r} is not a leaf profile")
    ku = {"digital_signature"} | ({"key_encipherment"} if spki.algorithm == "rsa" else set())
    exts = [
        extension("basic_constraints", asn1_x509.BasicConstraints({"ca": False}), True),
        extension("key_usage", asn1_x509.KeyUsage(ku), True),
        extension("extended_key_usage", asn1_x509.ExtKeyUsageSyntax(list(purposes)), False),
    ]
    if sans is not None and len(sans):
        # RFC 5280 §4.2.1.6: critical exactly when the subject is empty.
        exts.append(extension("subject_alt_name", sans, len(subject.chosen) == 0))
    exts += [
        extension("key_identifier", core.OctetString(spki.sha1), False),
        extension("authority_key_identifier", asn1_x509.AuthorityKeyIdentifier({"key_identifier": issuer_ski}),
                  False),
    ]
    return exts


def sans_from(texts: Sequence[str], requested: asn1_x509.GeneralNames | None) -> asn1_x509.GeneralNames | None:
    """--san values when given (they replace the request's), else the request's SAN."""
    return parse_san(list(texts)) if texts else requested


def validity(days: int, not_after_cap: datetime | None = None,
             now: datetime | None = None) -> tuple[datetime, datetime]:
    """(notBefore, notAfter) in whole UTC seconds from `now` (default: the clock); notAfter never past
    the issuer's (`not_after_cap`)."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a whole number of at least 1, not {days!r}")
    start = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    end = start + timedelta(days=days)
    if not_after_cap is not None and end > not_after_cap:
        end = not_after_cap
    return start, end


