"""Parse a certificate's DER into CertFields, tolerating anything a token may hold."""

from __future__ import annotations

import hashlib
import warnings
from datetime import timezone
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from ikm_tui.core.model import CertFields
from ikm_tui.core.x509 import names

def _hex_serial(n: int) -> str:
    return ("-" if n < 0 else "") + format(abs(n), "x")


def _name(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except Exception as exc:  # noqa: BLE001 - malformed names must not stop the listing
        return f"<unparsed name: {exc}>"


_SHORT_NAMES = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
                "2.5.4.11": "OU", "0.9.2342.19200300.100.1.25": "DC",
                "1.2.840.113549.1.9.1": "emailAddress"}


def _lenient_name(der: bytes, which: str) -> str:
    """A DN that cryptography refused (e.g. a UTF8String that is not UTF-8), read attribute by
    attribute from the raw bytes with undecodable bytes escaped, so the operator still sees it."""
    from asn1crypto import x509 as ax

    try:
        name = ax.Certificate.load(der)["tbs_certificate"][which]
        parts: list[str] = []
        for rdn in name.chosen:
            for atv in rdn:
                oid = atv["type"].dotted
                value = atv["value"]
                raw = value.chosen.contents if hasattr(value, "chosen") else value.contents
                text = bytes(raw or b"").decode("utf-8", "backslashreplace")
                parts.append(f"{_SHORT_NAMES.get(oid, oid)}={text}")
        return ",".join(reversed(parts))
    except Exception as exc:  # noqa: BLE001 - a hostile name must not stop the listing
        return f"<unparsed name: {exc}>"


def _san_strings(ext: x509.SubjectAlternativeName) -> tuple[str, ...]:
    return tuple(names.san_text(gn) for gn in ext)


def public_key_identity(pub: object) -> tuple[str, int | None, str | None, str]:
    """(key_type, bits, curve, identity hex) of a cryptography public key.

    Identity is what the token exposes: the RSA modulus or the raw EC/EdDSA point.
    """
    if isinstance(pub, rsa.RSAPublicKey):
        n = pub.public_numbers().n
        # The same text the token's CKA_MODULUS gives (minimal big-endian bytes as hex): a bare
        # format(n, "x") drops a leading zero nibble and would then never match the key.
        return "rsa", pub.key_size, None, n.to_bytes((n.bit_length() + 7) // 8, "big").hex()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        point = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        known = names.curve(pub.curve.name)
        return "ec", pub.curve.key_size, known.name if known else pub.curve.name, point.hex()
    if isinstance(pub, ed25519.Ed25519PublicKey):
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return "ed25519", 256, "ed25519", raw.hex()
    if isinstance(pub, ed448.Ed448PublicKey):
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return "ed448", 456, "ed448", raw.hex()
    if isinstance(pub, dsa.DSAPublicKey):
        return "dsa", pub.key_size, None, format(pub.public_numbers().y, "x")
    return "unknown", None, None, ""


@lru_cache(maxsize=8192)
def parse_certificate(der: bytes) -> CertFields:
    """Parse DER; on failure return CertFields with `error` and the fingerprints only.

    Cached by DER: the same cert is listed on every refresh.
    """
    sha256 = hashlib.sha256(der).hexdigest()
    sha1 = hashlib.sha1(der).hexdigest()  # noqa: S324 - a fingerprint operators compare, not security
    # cryptography warns (and will later refuse) on RFC 5280 violations such as a negative
    # serial: record the warning as a finding instead of printing it on the operator's stderr.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fields = _parse(der, sha256, sha1)
    notes = sorted({str(w.message).split(". ")[0] for w in caught})
    if notes:
        extra = "; ".join(notes)
        error = fields.get("error")
        fields["error"] = f"{str(error)[:-1]}; {extra})" if error else f"malformed ({extra})"
    return CertFields(**fields)  # type: ignore[arg-type]


def _parse_extensions(cert: x509.Certificate, fields: dict[str, object], errors: list[str]) -> None:
    """SAN, key usage, EKU and basic constraints into `fields`; what does not parse into `errors`."""
    try:
        exts = cert.extensions
    except Exception as exc:  # noqa: BLE001
        errors.append(f"extensions: {exc}")
        exts = x509.Extensions([])
    for ext in exts:
        try:
            val = ext.value
            if isinstance(val, x509.SubjectAlternativeName):
                fields["sans"] = _san_strings(val)
            elif isinstance(val, x509.KeyUsage):
                fields["key_usage"] = names.key_usage_names(val)
            elif isinstance(val, x509.ExtendedKeyUsage):
                fields["eku"] = names.eku_names(val)
            elif isinstance(val, x509.BasicConstraints):
                fields["is_ca"] = val.ca
                fields["path_len"] = val.path_length
            elif isinstance(val, x509.UnrecognizedExtension) and ext.critical:
                # RFC 5280 §4.2: a relying party must reject a cert with a critical extension it
                # does not understand; the operator should know ikm-tui did not understand it.
                errors.append(f"unknown critical extension {ext.oid.dotted_string}")
        except Exception as exc:  # noqa: BLE001
            errors.append(f"extension {ext.oid.dotted_string}: {exc}")


def _parse(der: bytes, sha256: str, sha1: str) -> dict[str, object]:
    """CertFields keyword arguments from DER; every part that cannot be read is named in "error"."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except Exception as exc:  # noqa: BLE001
        return {"sha256": sha256, "sha1": sha1, "error": f"unparsed ({exc})"}
    fields: dict[str, object] = {"sha256": sha256, "sha1": sha1}
    errors: list[str] = []
    for attr, which in (("subject", "subject"), ("issuer", "issuer")):
        try:
            fields[attr] = _name(getattr(cert, attr))
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{attr}: {exc}")
            fields[attr] = _lenient_name(der, which)
    fields["self_signed"] = fields.get("subject") == fields.get("issuer")
    try:
        fields["serial"] = _hex_serial(cert.serial_number)
    except Exception as exc:  # noqa: BLE001
        errors.append(f"serial: {exc}")
    try:
        fields["not_before"] = cert.not_valid_before_utc.astimezone(timezone.utc)
        fields["not_after"] = cert.not_valid_after_utc.astimezone(timezone.utc)
    except Exception as exc:  # noqa: BLE001
        errors.append(f"validity: {exc}")
    try:
        fields["version"] = cert.version.value + 1
    except Exception as exc:  # noqa: BLE001
        errors.append(f"version: {exc}")
    try:
        fields["signature_algorithm"] = (
            cert.signature_algorithm_oid._name  # noqa: SLF001 - cryptography's readable OID name
            if cert.signature_algorithm_oid._name != "Unknown OID"  # noqa: SLF001
            else cert.signature_algorithm_oid.dotted_string
        )
    except Exception as exc:  # noqa: BLE001
        errors.append(f"signature algorithm: {exc}")
    try:
        kt, bits, curve, ident = public_key_identity(cert.public_key())
        fields.update(key_type=kt, bits=bits, curve=curve, public_key_id=ident or None)
    except Exception as exc:  # noqa: BLE001
        fields["key_type"] = "unknown"
        errors.append(f"public key: {exc}")
    _parse_extensions(cert, fields, errors)
    if errors:
        fields["error"] = "partly unparsed (" + "; ".join(errors) + ")"
    return fields
