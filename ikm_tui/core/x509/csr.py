"""PKCS#10 requests and self-signed certificates built with asn1crypto, signed by a pluggable Signer."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from asn1crypto import algos, core, keys
from asn1crypto import csr as asn1_csr
from asn1crypto import x509 as asn1_x509
from cryptography import x509 as crypto_x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ikm_tui.core.x509.dn import parse_san

# Takes the to-be-signed DER bytes and returns the signature as X.509 carries it: RSA PKCS#1 v1.5
# raw signature; ECDSA as a DER Ecdsa-Sig-Value (not raw r||s); Ed25519 as its raw 64 bytes.
Signer = Callable[[bytes], bytes]


@dataclass(frozen=True)
class _SigAlg:
    key: str  # "rsa", "ec" or "ed25519": the SubjectPublicKeyInfo algorithm it needs
    hash: str | None  # hashlib name; None for Ed25519, which hashes internally


# Names are asn1crypto's SignedDigestAlgorithmId names, so they go straight into the DER.
_SIG_ALGS: dict[str, _SigAlg] = {
    "sha256_rsa": _SigAlg("rsa", "sha256"),
    "sha384_rsa": _SigAlg("rsa", "sha384"),
    "sha512_rsa": _SigAlg("rsa", "sha512"),
    "sha256_ecdsa": _SigAlg("ec", "sha256"),
    "sha384_ecdsa": _SigAlg("ec", "sha384"),
    "sha512_ecdsa": _SigAlg("ec", "sha512"),
    "ed25519": _SigAlg("ed25519", None),
}


class SigningPlan(NamedTuple):
    """How to sign on a token: which mechanism, which X.509 algorithm, who hashes."""

    mechanism: str  # "CKM_..." as the Mechanisms tab names it; python-pkcs11 name without "CKM_"
    sig_alg: str  # a key of _SIG_ALGS
    hash_locally: bool  # True: hash the TBS bytes here and give the token only the digest


# Plain table keyed by (key type, hash). RSA uses the combined hash-and-sign mechanisms, which
# every token we target has. SoftHSM (and many cards) have no CKM_ECDSA_SHA256/384/512, so ECDSA
# always hashes locally and signs the digest with raw CKM_ECDSA, which returns r||s. Ed25519
# (PureEdDSA) hashes inside the algorithm, so there is no hash to choose.
_PLANS: dict[tuple[str, str | None], SigningPlan] = {
    ("rsa", "sha256"): SigningPlan("CKM_SHA256_RSA_PKCS", "sha256_rsa", False),
    ("rsa", "sha384"): SigningPlan("CKM_SHA384_RSA_PKCS", "sha384_rsa", False),
    ("rsa", "sha512"): SigningPlan("CKM_SHA512_RSA_PKCS", "sha512_rsa", False),
    ("ec", "sha256"): SigningPlan("CKM_ECDSA", "sha256_ecdsa", True),
    ("ec", "sha384"): SigningPlan("CKM_ECDSA", "sha384_ecdsa", True),
    ("ec", "sha512"): SigningPlan("CKM_ECDSA", "sha512_ecdsa", True),
    ("ed25519", None): SigningPlan("CKM_EDDSA", "ed25519", False),
}


def signing_plan(key_type: str, hash_name: str | None) -> SigningPlan:
    """Look up the plan for a key type ("rsa", "ec", "ed25519") and hash ("sha256"...).

    For Ed25519 pass None (or ""): its hash is fixed by the algorithm.
    """
    kt = key_type.strip().lower()
    hn = hash_name.strip().lower().replace("-", "") if hash_name else None
    if kt == "ed25519" and hn is not None:
        raise ValueError(f"Ed25519 has a fixed hash (SHA-512 inside the algorithm); do not pass {hash_name!r}")
    plan = _PLANS.get((kt, hn))
    if plan is None:
        if not any(k == kt for k, _ in _PLANS):
            raise ValueError(f"unsupported key type {key_type!r}; expected rsa, ec or ed25519")
        raise ValueError(f"unsupported hash {hash_name!r} for {kt}; expected sha256, sha384 or sha512")
    return plan


def ecdsa_raw_to_der(raw: bytes) -> bytes:
    """CKM_ECDSA's r||s (two equal halves) to X.509's DER Ecdsa-Sig-Value.

    Same result as python-pkcs11's `pkcs11.util.ec.encode_ecdsa_signature`, without importing
    the PKCS#11 extension into pure code.
    """
    if not raw or len(raw) % 2:
        raise ValueError(f"an ECDSA r||s signature has an even, non-zero length, not {len(raw)} bytes")
    return bytes(algos.DSASignature.from_p1363(raw).dump())


def token_signer(plan: SigningPlan, sign_with_mechanism: Callable[[bytes], bytes]) -> Signer:
    """Adapt "sign these bytes with plan.mechanism on the token" into a Signer.

    Hashes locally when the plan says so, and turns the raw ECDSA r||s into DER.
    """
    alg = _SIG_ALGS[plan.sig_alg]

    def sign(tbs: bytes) -> bytes:
        if plan.hash_locally:
            assert alg.hash is not None
            data = hashlib.new(alg.hash, tbs).digest()
        else:
            data = tbs
        raw = bytes(sign_with_mechanism(data))
        if alg.key == "ec":
            return ecdsa_raw_to_der(raw)
        return raw

    return sign


# ---- SubjectPublicKeyInfo from PKCS#11 attributes ---------------------------------------------

_ED25519_OID_DER = bytes.fromhex("06032b6570")  # 1.3.101.112
_ED25519_PRINTABLE_DER = b"\x13\x0cedwards25519"  # the PKCS#11 3.0 curve-name form


def _unwrap_octet_string(value: bytes) -> bytes | None:
    """The contents if `value` is exactly one DER OCTET STRING, else None."""
    if value[:1] != b"\x04":  # asn1crypto's load() does not check the tag against the spec
        return None
    try:
        return bytes(core.OctetString.load(value, strict=True).native)
    except ValueError:
        return None


def _ec_point(point: bytes, raw_lengths: Iterable[int]) -> bytes:
    # CKA_EC_POINT is, per PKCS#11, a DER OCTET STRING around the point (SoftHSM does this), but
    # some modules return the raw point. The lengths cannot collide: a raw point is 1+2n (or
    # 1+n compressed) bytes for a curve of n-byte coordinates, the wrapped one 2 or 3 bytes more.
    if len(point) in raw_lengths:
        return point
    inner = _unwrap_octet_string(point)
    if inner is not None and len(inner) in raw_lengths:
        return inner
    raise ValueError(f"CKA_EC_POINT of {len(point)} bytes is neither a point for this curve nor "
                     "a DER OCTET STRING around one")


def _as_int(value: bytes | int, what: str) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, (bytes, bytearray)) and value:
        return int.from_bytes(value, "big")  # CKA_MODULUS etc. are unsigned big-endian
    raise ValueError(f"{what} is missing or empty")


def spki_from_token_attrs(
    key_type: str,
    modulus: bytes | int | None = None,
    public_exponent: bytes | int | None = None,
    ec_params: bytes | None = None,
    ec_point: bytes | None = None,
) -> bytes:
    """SubjectPublicKeyInfo DER from the public key attributes a token returns.

    rsa: CKA_MODULUS, CKA_PUBLIC_EXPONENT. ec: CKA_EC_PARAMS (a named-curve OID) and CKA_EC_POINT.
    ed25519: CKA_EC_PARAMS (OID 1.3.101.112 or PrintableString "edwards25519") and CKA_EC_POINT.
    The key is loaded by cryptography, so a point off the curve or a bad modulus fails here.
    """
    kt = key_type.strip().lower()
    if kt == "rsa":
        n = _as_int(modulus if modulus is not None else b"", "CKA_MODULUS")
        e = _as_int(public_exponent if public_exponent is not None else b"", "CKA_PUBLIC_EXPONENT")
        try:
            pub: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey = (
                rsa.RSAPublicNumbers(e, n).public_key())
        except ValueError as exc:
            raise ValueError(f"not a usable RSA public key: {exc}") from None
    elif kt in ("ec", "ed25519", "ec_edwards"):
        if not ec_params or ec_point is None:
            raise ValueError(f"{kt} key needs CKA_EC_PARAMS and CKA_EC_POINT")
        params = bytes(ec_params)
        if params in (_ED25519_OID_DER, _ED25519_PRINTABLE_DER):
            if kt == "ec":
                raise ValueError("CKA_EC_PARAMS names Ed25519 but the key type is EC")
            raw = _ec_point(bytes(ec_point), (32,))
            pub = ed25519.Ed25519PublicKey.from_public_bytes(raw)
        elif kt != "ec":
            raise ValueError(f"unsupported EdDSA curve in CKA_EC_PARAMS {params.hex()}; only Ed25519")
        else:
            curve = _named_curve(params)
            size = (curve.key_size + 7) // 8
            raw = _ec_point(bytes(ec_point), (1 + 2 * size, 1 + size))
            try:
                pub = ec.EllipticCurvePublicKey.from_encoded_point(curve, raw)
            except ValueError:
                raise ValueError(f"CKA_EC_POINT is not a point on {curve.name}") from None
    else:
        raise ValueError(f"unsupported key type {key_type!r}; expected rsa, ec or ed25519")
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _named_curve(params: bytes) -> ec.EllipticCurve:
    try:
        parsed = keys.ECDomainParameters.load(params, strict=True)
    except ValueError:
        raise ValueError(f"CKA_EC_PARAMS is not DER ECParameters: {params.hex()}") from None
    if parsed.name != "named":
        raise ValueError("CKA_EC_PARAMS uses explicit or implicit curve parameters; only named curves "
                         "are supported")
    dotted = parsed.chosen.dotted
    try:
        return ec.get_curve_for_oid(crypto_x509.ObjectIdentifier(dotted))()
    except LookupError:
        raise ValueError(f"unsupported curve OID {dotted}") from None


# ---- extensions --------------------------------------------------------------------------------

# Accepted spellings (lower-cased, no separators) -> asn1crypto KeyUsage bit names.
_KU: dict[str, str] = {
    "digitalsignature": "digital_signature",
    "nonrepudiation": "non_repudiation", "contentcommitment": "non_repudiation",
    "keyencipherment": "key_encipherment",
    "dataencipherment": "data_encipherment",
    "keyagreement": "key_agreement",
    "keycertsign": "key_cert_sign",
    "crlsign": "crl_sign",
    "encipheronly": "encipher_only",
    "decipheronly": "decipher_only",
}

# Key usages that make sense for each key algorithm (RFC 4055 §1.2, RFC 5480 §3, RFC 8410 §5):
# an EC or Ed25519 key cannot encrypt, and only ECDH keys agree.
_KU_FOR_KEY: dict[str, frozenset[str]] = {
    "rsa": frozenset({"digital_signature", "non_repudiation", "key_encipherment", "data_encipherment",
                      "key_cert_sign", "crl_sign"}),
    "ec": frozenset({"digital_signature", "non_repudiation", "key_agreement", "key_cert_sign", "crl_sign",
                     "encipher_only", "decipher_only"}),
    "ed25519": frozenset({"digital_signature", "non_repudiation", "key_cert_sign", "crl_sign"}),
}

_EKU: dict[str, str] = {
    "serverauth": "server_auth",
    "clientauth": "client_auth",
    "codesigning": "code_signing",
    "emailprotection": "email_protection",
    "timestamping": "time_stamping",
    "ocspsigning": "ocsp_signing",
    "anyextendedkeyusage": "any_extended_key_usage",
}


def _norm(word: str) -> str:
    return word.strip().lower().replace("_", "").replace("-", "").replace(" ", "")


def _no_bare_str(value: object, what: str) -> None:
    if isinstance(value, str):
        raise TypeError(f"{what} takes a list of names, not one string")


def _key_usage(names: Iterable[str], key_alg: str) -> set[str]:
    _no_bare_str(names, "key_usage")
    out: set[str] = set()
    for name in names:
        bit = _KU.get(_norm(name))
        if bit is None:
            raise ValueError(f"unknown key usage {name!r}; expected one of digitalSignature, "
                             "nonRepudiation, keyEncipherment, dataEncipherment, keyAgreement, "
                             "keyCertSign, cRLSign, encipherOnly, decipherOnly")
        if bit not in _KU_FOR_KEY[key_alg]:
            raise ValueError(f"key usage {name!r} is not possible with an {key_alg.upper()} key")
        out.add(bit)
    if out & {"encipher_only", "decipher_only"} and "key_agreement" not in out:
        raise ValueError("encipherOnly/decipherOnly only mean something together with keyAgreement")
    return out


def _eku(names: Iterable[str]) -> list[str]:
    _no_bare_str(names, "eku")
    out: list[str] = []
    for name in names:
        text = name.strip()
        purpose = _EKU.get(_norm(text))
        if purpose is None:
            try:
                purpose = core.ObjectIdentifier(text).dotted  # a dotted OID
            except ValueError:
                raise ValueError(f"unknown extended key usage {name!r}; expected serverAuth, clientAuth, "
                                 "codeSigning, emailProtection, timeStamping, OCSPSigning or a dotted OID") from None
        if purpose not in out:
            out.append(purpose)
    return out


def _sans(sans: Sequence[str] | asn1_x509.GeneralNames) -> asn1_x509.GeneralNames:
    if isinstance(sans, asn1_x509.GeneralNames):
        return sans
    return parse_san(sans)  # refuses a bare str, which would otherwise be read letter by letter


def _ext(name: str, value: object, critical: bool) -> asn1_x509.Extension:
    return asn1_x509.Extension({"extn_id": name, "critical": critical, "extn_value": value})


def _common_extensions(
    subject: asn1_x509.Name,
    sans: Sequence[str] | asn1_x509.GeneralNames,
    key_usage: Iterable[str],
    eku: Iterable[str],
    key_alg: str,
) -> tuple[list[asn1_x509.Extension], set[str]]:
    exts: list[asn1_x509.Extension] = []
    ku = _key_usage(key_usage, key_alg)
    general_names = _sans(sans)
    if ku:
        # RFC 5280 §4.2.1.3: conforming CAs SHOULD mark it critical.
        exts.append(_ext("key_usage", asn1_x509.KeyUsage(ku), True))
    purposes = _eku(eku)
    if purposes:
        exts.append(_ext("extended_key_usage", asn1_x509.ExtKeyUsageSyntax(purposes), False))
    if len(general_names):
        # RFC 5280 §4.2.1.6: critical exactly when the subject is empty.
        exts.append(_ext("subject_alt_name", general_names, len(subject.chosen) == 0))
    return exts, ku


# ---- the builders ------------------------------------------------------------------------------

def _check_inputs(subject: asn1_x509.Name, spki_der: bytes, sig_alg: str) -> tuple[keys.PublicKeyInfo, _SigAlg]:
    if not isinstance(subject, asn1_x509.Name):
        raise TypeError("subject must be an asn1crypto x509.Name (use dn.parse_dn)")
    if not isinstance(spki_der, (bytes, bytearray)):
        raise TypeError("spki_der must be bytes")
    alg = _SIG_ALGS.get(sig_alg)
    if alg is None:
        raise ValueError(f"unknown signature algorithm {sig_alg!r}; expected one of {', '.join(_SIG_ALGS)}")
    try:
        spki = keys.PublicKeyInfo.load(bytes(spki_der), strict=True)
        key_alg = spki.algorithm
        serialization.load_der_public_key(bytes(spki_der))  # only to prove the key is usable
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"spki_der is not a SubjectPublicKeyInfo cryptography can use: {exc}") from None
    if key_alg != alg.key:
        raise ValueError(f"{sig_alg} needs an {alg.key.upper()} key, but the public key is {key_alg}")
    return spki, alg


def _signature_algorithm(sig_alg: str, alg: _SigAlg) -> algos.SignedDigestAlgorithm:
    # RFC 4055 §5: parameters NULL for the RSA PKCS#1 v1.5 OIDs; RFC 5758 §3.2 and RFC 8410 §3:
    # absent for ECDSA and Ed25519.
    if alg.key == "rsa":
        return algos.SignedDigestAlgorithm({"algorithm": sig_alg, "parameters": core.Null()})
    return algos.SignedDigestAlgorithm({"algorithm": sig_alg})


def _sign(sign: Signer, tbs: bytes, alg: _SigAlg) -> bytes:
    sig = sign(tbs)
    if not isinstance(sig, (bytes, bytearray)):
        raise TypeError(f"the signer returned {type(sig).__name__}, not bytes")
    sig = bytes(sig)
    if alg.key == "ec" and not sig.startswith(b"\x30"):
        raise ValueError("the signer returned a raw ECDSA signature; X.509 needs it DER-encoded "
                         "(use ecdsa_raw_to_der or token_signer)")
    if alg.key == "ed25519" and len(sig) != 64:
        raise ValueError(f"an Ed25519 signature is 64 bytes, the signer returned {len(sig)}")
    return sig


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
    exts, _ = _common_extensions(subject, sans, key_usage, eku, alg.key)
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
    sig = _sign(sign, tbs, alg)
    req = asn1_csr.CertificationRequest({
        # Loaded back from the exact bytes that were signed, so the two cannot differ.
        "certification_request_info": asn1_csr.CertificationRequestInfo.load(tbs),
        "signature_algorithm": _signature_algorithm(sig_alg, alg),
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


def _time(when: datetime) -> asn1_x509.Time:
    # RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
    if when.year < 2050:
        return asn1_x509.Time(name="utc_time", value=when)
    return asn1_x509.Time(name="general_time", value=when)


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
        not_after = not_before + timedelta(days=days)
    except OverflowError:
        raise ValueError(f"{days} days from now is past the year 9999") from None

    key_usage = list(key_usage)
    if is_ca and not key_usage:
        key_usage = ["keyCertSign", "cRLSign"]
    exts, ku = _common_extensions(subject, sans, key_usage, eku, alg.key)
    # RFC 5280 §4.2.1.9 / §4.2.1.3: keyCertSign if and only if the certificate is a CA.
    if is_ca and "key_cert_sign" not in ku:
        raise ValueError("a CA certificate needs keyCertSign in its key usage")
    if not is_ca and "key_cert_sign" in ku:
        raise ValueError("keyCertSign needs a CA certificate (is_ca)")
    ski = spki.sha1
    exts = [
        _ext("basic_constraints", asn1_x509.BasicConstraints({"ca": is_ca}), True),
        _ext("key_identifier", core.OctetString(ski), False),
        # Optional for self-signed certificates (RFC 5280 §4.2.1.1), but chain builders and
        # `openssl verify -x509_strict` look for it.
        _ext("authority_key_identifier", asn1_x509.AuthorityKeyIdentifier({"key_identifier": ski}), False),
        *exts,
    ]
    signature_algorithm = _signature_algorithm(sig_alg, alg)
    tbs_cert = asn1_x509.TbsCertificate({
        "version": "v3",
        "serial_number": _serial(serial),
        "signature": signature_algorithm,
        "issuer": subject,
        "validity": {"not_before": _time(not_before), "not_after": _time(not_after)},
        "subject": subject,
        "subject_public_key_info": spki,
        "extensions": exts,
    })
    tbs = bytes(tbs_cert.dump(force=True))
    sig = _sign(sign, tbs, alg)
    cert = asn1_x509.Certificate({
        "tbs_certificate": asn1_x509.TbsCertificate.load(tbs),
        "signature_algorithm": _signature_algorithm(sig_alg, alg),
        "signature_value": sig,
    })
    der = bytes(cert.dump())
    verify_self_signed(der)
    return der


def check_extensions(
    *,
    subject: asn1_x509.Name,
    key_alg: str,
    sans: Sequence[str] | asn1_x509.GeneralNames = (),
    key_usage: Iterable[str] = (),
    eku: Iterable[str] = (),
) -> None:
    """Raise TypeError/ValueError for SANs, key usage or EKU an `key_alg` key cannot carry.

    Lets a caller refuse bad input before it spends a key generation on the token.
    """
    if key_alg not in _KU_FOR_KEY:
        raise ValueError(f"unsupported key type {key_alg!r}; expected rsa, ec or ed25519")
    _common_extensions(subject, sans, key_usage, eku, key_alg)
