"""The X.509 vocabulary in one place: keyUsage bits, EKU names and OIDs, SAN kinds, curves.

Each table row carries every spelling the project meets (RFC 5280 text, asn1crypto's and
cryptography's attribute names, OpenSSL's and GnuTLS's curve names), so no other module keeps
its own copy. Nothing here imports pkcs11: core/p11 reads these tables, never the reverse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # the CLI's parser reads KEY_TYPES; it must not pay for importing cryptography
    from cryptography import x509

# ---- keyUsage (RFC 5280 §4.2.1.3) ---------------------------------------------------------------


@dataclass(frozen=True)
class KeyUsageBit:
    """One keyUsage bit under its three names."""

    name: str  # RFC 5280 / OpenSSL spelling, what operators type and see: "nonRepudiation"
    bit: str  # asn1crypto KeyUsage bit name: "non_repudiation"
    attr: str  # cryptography x509.KeyUsage attribute: "content_commitment"


# In bit order (digitalSignature is bit 0), the order every listing shows them in.
KEY_USAGES: tuple[KeyUsageBit, ...] = (
    KeyUsageBit("digitalSignature", "digital_signature", "digital_signature"),
    KeyUsageBit("nonRepudiation", "non_repudiation", "content_commitment"),
    KeyUsageBit("keyEncipherment", "key_encipherment", "key_encipherment"),
    KeyUsageBit("dataEncipherment", "data_encipherment", "data_encipherment"),
    KeyUsageBit("keyAgreement", "key_agreement", "key_agreement"),
    KeyUsageBit("keyCertSign", "key_cert_sign", "key_cert_sign"),
    KeyUsageBit("cRLSign", "crl_sign", "crl_sign"),
    KeyUsageBit("encipherOnly", "encipher_only", "encipher_only"),
    KeyUsageBit("decipherOnly", "decipher_only", "decipher_only"),
)
# X.509 (2016) renamed nonRepudiation to contentCommitment; both are accepted as input.
_KU_ALIASES = {"contentcommitment": "nonRepudiation"}


def _norm(word: str) -> str:
    """Case, `_`, `-` and spaces do not matter in a typed name: digital_signature = digitalSignature."""
    return word.strip().lower().replace("_", "").replace("-", "").replace(" ", "")


_KU_BY_NORM = {_norm(k.name): k for k in KEY_USAGES} | {
    alias: next(k for k in KEY_USAGES if k.name == name) for alias, name in _KU_ALIASES.items()}


def key_usage_bit(text: str) -> KeyUsageBit | None:
    """The bit an operator means by `text` (any case or separator), None if no bit is called that."""
    return _KU_BY_NORM.get(_norm(text))


def key_usage_names(ku: x509.KeyUsage) -> tuple[str, ...]:
    """RFC 5280 names of the bits set in a cryptography KeyUsage, in bit order."""
    # cryptography raises on encipher_only/decipher_only unless keyAgreement is set.
    return tuple(k.name for k in KEY_USAGES
                 if (ku.key_agreement or k.attr not in ("encipher_only", "decipher_only"))
                 and getattr(ku, k.attr))


# ---- extendedKeyUsage (RFC 5280 §4.2.1.12) ---------------------------------------------------


@dataclass(frozen=True)
class ExtendedKeyUsage:
    """One key purpose: operator name, dotted OID and asn1crypto's KeyPurposeId name."""

    name: str  # "serverAuth"
    oid: str  # "1.3.6.1.5.5.7.3.1"
    asn1: str  # "server_auth"


EXTENDED_KEY_USAGES: tuple[ExtendedKeyUsage, ...] = (
    ExtendedKeyUsage("serverAuth", "1.3.6.1.5.5.7.3.1", "server_auth"),
    ExtendedKeyUsage("clientAuth", "1.3.6.1.5.5.7.3.2", "client_auth"),
    ExtendedKeyUsage("codeSigning", "1.3.6.1.5.5.7.3.3", "code_signing"),
    ExtendedKeyUsage("emailProtection", "1.3.6.1.5.5.7.3.4", "email_protection"),
    ExtendedKeyUsage("timeStamping", "1.3.6.1.5.5.7.3.8", "time_stamping"),
    ExtendedKeyUsage("OCSPSigning", "1.3.6.1.5.5.7.3.9", "ocsp_signing"),
    ExtendedKeyUsage("anyExtendedKeyUsage", "2.5.29.37.0", "any_extended_key_usage"),
)
_EKU_BY_NORM = {_norm(e.name): e for e in EXTENDED_KEY_USAGES}
EKU_NAME_BY_OID = {e.oid: e.name for e in EXTENDED_KEY_USAGES}


def extended_key_usage(text: str) -> ExtendedKeyUsage | None:
    """The purpose an operator means by `text` (any case or separator); None for unknown names."""
    return _EKU_BY_NORM.get(_norm(text))


def eku_names(oids: Iterable[Any]) -> tuple[str, ...]:
    """Names of EKU OIDs (cryptography ObjectIdentifier or dotted str); unknown ones stay dotted."""
    out = []
    for oid in oids:
        dotted = oid if isinstance(oid, str) else oid.dotted_string
        out.append(EKU_NAME_BY_OID.get(dotted, dotted))
    return tuple(out)


# ---- subjectAltName kinds ---------------------------------------------------------------------


@dataclass(frozen=True)
class SanKind:
    """A GeneralName choice as operators write it (`DNS:host`) and as the libraries name it."""

    prefix: str  # what listings print before the colon: "DNS"
    spellings: tuple[str, ...]  # lower-case prefixes accepted as input
    asn1: str  # asn1crypto GeneralName choice: "dns_name"
    crypto: str  # cryptography GeneralName class name (by name: see the import note above)


SAN_KINDS: tuple[SanKind, ...] = (
    SanKind("DNS", ("dns",), "dns_name", "DNSName"),
    SanKind("IP", ("ip", "ip address"), "ip_address", "IPAddress"),
    SanKind("email", ("email",), "rfc822_name", "RFC822Name"),
    SanKind("URI", ("uri",), "uniform_resource_identifier", "UniformResourceIdentifier"),
)
_SAN_BY_SPELLING = {s: k for k in SAN_KINDS for s in k.spellings}


def san_kind(prefix: str) -> SanKind | None:
    """The kind an input prefix (`DNS`, `ip`, `IP Address`, ...) names, None if it names none."""
    return _SAN_BY_SPELLING.get(prefix.strip().lower())


def san_text(gn: x509.GeneralName) -> str:
    """`DNS:host`, `IP:addr`, `email:a@b`, `URI:u`, `DirName:dn`; other kinds by their type name."""
    kind_name = type(gn).__name__
    for kind in SAN_KINDS:
        if kind_name == kind.crypto:
            return f"{kind.prefix}:{gn.value}"
    if kind_name == "DirectoryName":
        try:
            return f"DirName:{gn.value.rfc4514_string()}"
        except Exception as exc:  # noqa: BLE001 - a malformed name must not stop the listing
            return f"DirName:<unparsed name: {exc}>"
    return kind_name


# ---- curves -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Curve:
    """A named curve: every name it goes by and what ikm-tui does with it."""

    name: str  # ikm-tui's spelling, as in `ec:p256` and the Keys tab
    oid: str  # the OID in CKA_EC_PARAMS and in SubjectPublicKeyInfo
    bits: int  # key size as listings show it (Ed448: 456, the RFC 8032 encoding)
    kind: Literal["ec", "eddsa"]  # CKK_EC (ECDSA/ECDH) or CKK_EC_EDWARDS
    openssl: str  # OpenSSL's short name (`openssl ecparam -name`, pkcs11-tool --key-type EC:...)
    sec: str  # SEC 2 / cryptography `curve.name` (GnuTLS --curve takes it too)
    aliases: tuple[str, ...] = ()  # other spellings operators type: P-256, nistp256
    generate: bool = False  # offered for key generation (`ec:NAME` / `ed25519`)


CURVES: tuple[Curve, ...] = (
    Curve("p256", "1.2.840.10045.3.1.7", 256, "ec", "prime256v1", "secp256r1", ("P-256", "nistp256"), True),
    Curve("p384", "1.3.132.0.34", 384, "ec", "secp384r1", "secp384r1", ("P-384", "nistp384"), True),
    Curve("p521", "1.3.132.0.35", 521, "ec", "secp521r1", "secp521r1", ("P-521", "nistp521"), True),
    Curve("secp256k1", "1.3.132.0.10", 256, "ec", "secp256k1", "secp256k1"),
    Curve("brainpoolP256r1", "1.3.36.3.3.2.8.1.1.7", 256, "ec", "brainpoolP256r1", "brainpoolP256r1"),
    Curve("brainpoolP384r1", "1.3.36.3.3.2.8.1.1.11", 384, "ec", "brainpoolP384r1", "brainpoolP384r1"),
    Curve("brainpoolP512r1", "1.3.36.3.3.2.8.1.1.13", 512, "ec", "brainpoolP512r1", "brainpoolP512r1"),
    Curve("ed25519", "1.3.101.112", 256, "eddsa", "ED25519", "ed25519", ("edwards25519",), True),
    Curve("ed448", "1.3.101.113", 456, "eddsa", "ED448", "ed448", ("edwards448",)),
)
CURVE_BY_OID = {c.oid: c for c in CURVES}
_CURVE_BY_NAME = {_norm(s): c for c in CURVES for s in (c.name, c.openssl, c.sec, *c.aliases)}


def curve(text: str) -> Curve | None:
    """The curve any of its names means (p256, P-256, prime256v1, secp256r1, ...); None if unknown."""
    return _CURVE_BY_NAME.get(_norm(text))


def require_curve(text: str) -> Curve:
    """Like curve(), but an unknown name is a ValueError listing the curves known."""
    found = curve(text)
    if found is None:
        raise ValueError(f"unknown curve {text!r}; known: {', '.join(c.name for c in CURVES)}")
    return found


def curve_by_oid(oid: str) -> Curve | None:
    """The curve a dotted OID (from CKA_EC_PARAMS or a certificate) names; None if not in the table."""
    return CURVE_BY_OID.get(oid)


def generated_ec_curves() -> tuple[Curve, ...]:
    """The ECDSA curves offered for `ec:NAME` keys, smallest first."""
    return tuple(c for c in CURVES if c.generate and c.kind == "ec")


# The key types offered for generation, as typed (`--key-type`) and listed in capabilities.
RSA_SIZES = (2048, 3072, 4096)
KEY_TYPES: tuple[str, ...] = (
    *(f"rsa:{b}" for b in RSA_SIZES),
    *(f"ec:{c.name}" for c in generated_ec_curves()),
    *(c.name for c in CURVES if c.generate and c.kind == "eddsa"),
)
