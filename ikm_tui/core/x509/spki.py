"""SubjectPublicKeyInfo DER from the public-key attributes a PKCS#11 token returns (bytes in, bytes out)."""

from __future__ import annotations

from collections.abc import Iterable

from asn1crypto import core, keys
from cryptography import x509 as crypto_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ikm_tui.core.x509 import names

_ED25519_OID_DER = core.ObjectIdentifier(names.require_curve("ed25519").oid).dump()
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
