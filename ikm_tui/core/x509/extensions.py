"""The extensions ikm-tui puts in requests and certificates: keyUsage, extendedKeyUsage, subjectAltName."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from asn1crypto import core
from asn1crypto import x509 as asn1_x509

from ikm_tui.core.x509 import names as vocab
from ikm_tui.core.x509.san import parse_san

# Key usages that make sense for each key algorithm (RFC 4055 §1.2, RFC 5480 §3, RFC 8410 §5):
# an EC or Ed25519 key cannot encrypt, and only ECDH keys agree.
_KU_FOR_KEY: dict[str, frozenset[str]] = {
    "rsa": frozenset({"digital_signature", "non_repudiation", "key_encipherment", "data_encipherment",
                      "key_cert_sign", "crl_sign"}),
    "ec": frozenset({"digital_signature", "non_repudiation", "key_agreement", "key_cert_sign", "crl_sign",
                     "encipher_only", "decipher_only"}),
    "ed25519": frozenset({"digital_signature", "non_repudiation", "key_cert_sign", "crl_sign"}),
}


def _no_bare_str(value: object, what: str) -> None:
    if isinstance(value, str):
        raise TypeError(f"{what} takes a list of names, not one string")


def _key_usage(names: Iterable[str], key_alg: str) -> set[str]:
    _no_bare_str(names, "key_usage")
    out: set[str] = set()
    for name in names:
        known = vocab.key_usage_bit(name)
        if known is None:
            raise ValueError(f"unknown key usage {name!r}; expected one of "
                             + ", ".join(k.name for k in vocab.KEY_USAGES))
        if known.bit not in _KU_FOR_KEY[key_alg]:
            raise ValueError(f"key usage {name!r} is not possible with an {key_alg.upper()} key")
        out.add(known.bit)
    if out & {"encipher_only", "decipher_only"} and "key_agreement" not in out:
        raise ValueError("encipherOnly/decipherOnly only mean something together with keyAgreement")
    return out


def _eku(names: Iterable[str]) -> list[str]:
    _no_bare_str(names, "eku")
    out: list[str] = []
    for name in names:
        text = name.strip()
        known = vocab.extended_key_usage(text)
        purpose = known.asn1 if known else None
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


def extension(name: str, value: object, critical: bool) -> asn1_x509.Extension:
    """One asn1crypto Extension; `name` is asn1crypto's extn_id name."""
    return asn1_x509.Extension({"extn_id": name, "critical": critical, "extn_value": value})


def common_extensions(
    subject: asn1_x509.Name,
    sans: Sequence[str] | asn1_x509.GeneralNames,
    key_usage: Iterable[str],
    eku: Iterable[str],
    key_alg: str,
) -> tuple[list[asn1_x509.Extension], set[str]]:
    """keyUsage, extendedKeyUsage and subjectAltName for a `key_alg` key, and the key usage bits."""
    exts: list[asn1_x509.Extension] = []
    ku = _key_usage(key_usage, key_alg)
    general_names = _sans(sans)
    if ku:
        # RFC 5280 §4.2.1.3: conforming CAs SHOULD mark it critical.
        exts.append(extension("key_usage", asn1_x509.KeyUsage(ku), True))
    purposes = _eku(eku)
    if purposes:
        exts.append(extension("extended_key_usage", asn1_x509.ExtKeyUsageSyntax(purposes), False))
    if len(general_names):
        # RFC 5280 §4.2.1.6: critical exactly when the subject is empty.
        exts.append(extension("subject_alt_name", general_names, len(subject.chosen) == 0))
    return exts, ku


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
    common_extensions(subject, sans, key_usage, eku, key_alg)
