"""PKCS#11 attribute vocabulary: which attributes a listing reads per class, how they decode, and
how they become an ObjectInfo. Pure tables and functions; no session, no owner thread needed."""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from functools import lru_cache
from struct import error as struct_error
from typing import Any, cast

from pkcs11 import Attribute, KeyType, Mechanism, Object, ObjectClass, TokenFlag
from pkcs11.attributes import AttributeMapper

from ikm_tui.core import uri as uris
from ikm_tui.core.model import ObjClass, ObjectInfo, PinState, TokenInfo
from ikm_tui.core.p11.fastpath import Template
from ikm_tui.core.x509 import names

CLASS_MAP = {
    ObjectClass.PRIVATE_KEY: ObjClass.PRIVATE_KEY,
    ObjectClass.PUBLIC_KEY: ObjClass.PUBLIC_KEY,
    ObjectClass.CERTIFICATE: ObjClass.CERTIFICATE,
    ObjectClass.SECRET_KEY: ObjClass.SECRET_KEY,
    ObjectClass.DATA: ObjClass.DATA,
}

CLASS_ORDER = {ObjClass.CERTIFICATE: 0, ObjClass.PRIVATE_KEY: 1, ObjClass.PUBLIC_KEY: 2,
                ObjClass.SECRET_KEY: 3, ObjClass.DATA: 4, ObjClass.OTHER: 5}

_KEY_TYPE_NAMES = {
    KeyType.RSA: "rsa",
    KeyType.EC: "ec",
    KeyType.EC_EDWARDS: "ed25519",
    KeyType.DSA: "dsa",
    KeyType.DH: "dh",
    KeyType.AES: "aes",
    KeyType.DES3: "des3",
    KeyType.GENERIC_SECRET: "generic",
}


_KEY_FLAG_ATTRS = [
    (Attribute.SENSITIVE, "sensitive"),
    (Attribute.EXTRACTABLE, "extractable"),
    (Attribute.NEVER_EXTRACTABLE, "never_extractable"),
    (Attribute.ALWAYS_SENSITIVE, "always_sensitive"),
    (Attribute.LOCAL, "local"),
    (Attribute.SIGN, "sign"),
    (Attribute.VERIFY, "verify"),
    (Attribute.ENCRYPT, "encrypt"),
    (Attribute.DECRYPT, "decrypt"),
    (Attribute.WRAP, "wrap"),
    (Attribute.UNWRAP, "unwrap"),
    (Attribute.DERIVE, "derive"),
    (Attribute.MODIFIABLE, "modifiable"),
]
COMMON = [Attribute.CLASS, Attribute.LABEL, Attribute.ID, Attribute.PRIVATE]
_KEY_ATTRS = COMMON + [Attribute.KEY_TYPE] + [a for a, _ in _KEY_FLAG_ATTRS]
ATTRS_BY_CLASS: dict[Any, list[Attribute]] = {
    ObjectClass.PRIVATE_KEY: _KEY_ATTRS + [Attribute.MODULUS, Attribute.EC_PARAMS],
    ObjectClass.PUBLIC_KEY: _KEY_ATTRS + [Attribute.MODULUS, Attribute.MODULUS_BITS,
                                          Attribute.EC_PARAMS, Attribute.EC_POINT],
    ObjectClass.SECRET_KEY: _KEY_ATTRS + [Attribute.VALUE_LEN],
    ObjectClass.CERTIFICATE: COMMON + [Attribute.VALUE, Attribute.CERTIFICATE_CATEGORY,
                                        Attribute.TRUSTED],
    ObjectClass.DATA: COMMON + [Attribute.APPLICATION, Attribute.VALUE],
}

# The first read of every object asks for all of these; CKA_VALUE is read apart (see
# Backend._list_batched).
UNION = list(dict.fromkeys(a for attrs in ATTRS_BY_CLASS.values() for a in attrs
                            if a != Attribute.VALUE))
UNION_SET = frozenset(int(a) for a in UNION)
WANTED_BY_CLASS = {k: frozenset(int(a) for a in v) for k, v in ATTRS_BY_CLASS.items()}
COMMON_SET = frozenset(int(a) for a in COMMON)


_ULONG_SIZE = struct.calcsize("L")


def ulong_pack(value: int) -> bytes:
    return struct.pack("L", int(value))


def _ulong_unpack(data: bytes) -> int:
    return int(struct.unpack("L", data)[0]) if len(data) == _ULONG_SIZE else 0


CLASS_UNMAP = {v: k for k, v in CLASS_MAP.items()}
# Buffers big enough for nearly every object, so one C_GetAttributeValue reads it; a bigger value
# (a certificate over 8 KiB, say) costs one size query and one more read, nothing else.
_BUFFER_SIZES = {
    Attribute.LABEL: 256, Attribute.ID: 256, Attribute.APPLICATION: 256,
    Attribute.MODULUS: 1024, Attribute.EC_PARAMS: 256, Attribute.EC_POINT: 512,
    Attribute.VALUE: 8192,
}
_ULONG_ATTRS = {Attribute.CLASS, Attribute.KEY_TYPE, Attribute.MODULUS_BITS, Attribute.VALUE_LEN,
                Attribute.CERTIFICATE_CATEGORY}


# Values that become enum members: a vendor class or key type has none.
ENUM_ATTRS = {Attribute.CLASS, Attribute.KEY_TYPE}


def tolerant_unpack(unpack: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def tolerant(value: bytes) -> Any:
        try:
            return unpack(value)
        except (ValueError, struct_error):
            return _ulong_unpack(value)

    return tolerant


_DATA_NO_ID = frozenset({int(Attribute.ID)})
_RSA_ONLY = frozenset({int(Attribute.MODULUS), int(Attribute.MODULUS_BITS)})
_EC_ONLY = frozenset({int(Attribute.EC_PARAMS), int(Attribute.EC_POINT)})


def read_template(attrs: Sequence[Attribute]) -> Template:
    """A read template reused for every object of a class (made per listing: it owns buffers)."""
    sizes = [_BUFFER_SIZES.get(a, _ULONG_SIZE if a in _ULONG_ATTRS else 1) for a in attrs]
    fixed = [a not in _BUFFER_SIZES for a in attrs]
    return Template([int(a) for a in attrs], sizes, fixed)


def not_applicable(values: dict[int, Any]) -> frozenset[int]:
    """Attributes of the union template this object does not have: absent, not too big.

    The class decides (a certificate has no CKA_MODULUS), then the key type (PKCS#11 §2.3/§2.4:
    an EC key has no modulus, an RSA key no EC point).
    """
    klass = values.get(int(Attribute.CLASS))
    skip = UNION_SET - WANTED_BY_CLASS.get(klass, COMMON_SET)
    if klass == ObjectClass.DATA:
        skip |= _DATA_NO_ID  # PKCS#11 §4.5: data objects have no CKA_ID (SoftHSM: TYPE_INVALID)
    kt = values.get(int(Attribute.KEY_TYPE))
    if kt == KeyType.RSA:
        return skip | _EC_ONLY
    if kt in (KeyType.EC, KeyType.EC_EDWARDS):
        return skip | _RSA_ONLY
    return skip


def unpackers(mapper: AttributeMapper) -> dict[int, Callable[[bytes], Any]]:
    """The mapper's unpack function for every attribute the listing reads, looked up once."""
    out: dict[int, Callable[[bytes], Any]] = {}
    for attr in [*UNION, Attribute.VALUE]:
        unpack = mapper.attribute_types[attr][1]
        if attr in ENUM_ATTRS:
            unpack = tolerant_unpack(unpack)
        out[int(attr)] = unpack
    return out


def _tolerant_str(data: bytes) -> str:
    # A token is untrusted input: a label that is not UTF-8 must not abort the whole listing
    # (python-pkcs11's strict decode raises UnicodeDecodeError). The sanitizer escapes the rest.
    return bytes(data).decode("utf-8", "backslashreplace")


def make_mapper() -> AttributeMapper:
    """python-pkcs11 has no handler for CKA_CERTIFICATE_CATEGORY; register one."""
    mapper = AttributeMapper()
    mapper.register_handler(Attribute.CERTIFICATE_CATEGORY, ulong_pack, _ulong_unpack)
    for attr in (Attribute.LABEL, Attribute.APPLICATION):
        mapper.register_handler(attr, lambda s: s.encode("utf-8"), _tolerant_str)
    return mapper


def unwrap_ec_point(raw: bytes) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING around the point on SoftHSM/OpenSC; some give it raw."""
    if raw and raw[0] == 0x04:
        from asn1crypto.core import OctetString  # here: asn1crypto is ~20 ms a listing of certificates needs not

        try:
            octet = OctetString.load(raw)
            inner = octet.native
            if isinstance(inner, bytes) and len(octet.dump()) == len(raw):
                return inner
        except Exception:  # noqa: BLE001 - not DER: it is the raw point
            pass
    return raw


def curve_name(params: bytes | None) -> str | None:
    if not params:
        return None
    return _curve_name(bytes(params))


@lru_cache(maxsize=256)
def _curve_name(params: bytes) -> str | None:
    # Cached: a token holds thousands of keys on a handful of curves.
    from asn1crypto.core import ObjectIdentifier, PrintableString  # here: see unwrap_ec_point

    try:
        oid = ObjectIdentifier.load(params).dotted
        known = names.curve_by_oid(oid)
        return known.name if known else oid
    except Exception:  # noqa: BLE001
        pass
    try:
        name = PrintableString.load(params).native
        known = names.curve(name)  # PKCS#11 3.0 allows "edwards25519" in place of the OID
        return known.name if known else name
    except Exception:  # noqa: BLE001
        return params.hex()


def flags_names(flags: Any, enum: Any) -> tuple[str, ...]:
    out = []
    for member in enum:
        if member.value and (int(flags) & member.value) == member.value and bin(member.value).count("1") == 1:
            out.append(member.name.lower())
    return tuple(out)


def pin_state(flags: int) -> PinState:
    f = TokenFlag
    return PinState(
        user_count_low=bool(flags & f.USER_PIN_COUNT_LOW),
        user_final_try=bool(flags & f.USER_PIN_FINAL_TRY),
        user_locked=bool(flags & f.USER_PIN_LOCKED),
        user_to_be_changed=bool(flags & f.USER_PIN_TO_BE_CHANGED),
        so_count_low=bool(flags & f.SO_PIN_COUNT_LOW),
        so_final_try=bool(flags & f.SO_PIN_FINAL_TRY),
        so_locked=bool(flags & f.SO_PIN_LOCKED),
        so_to_be_changed=bool(flags & f.SO_PIN_TO_BE_CHANGED),
    )


def describe_attrs(klass: Any, attrs: dict[Any, Any], handle: int, tinfo: TokenInfo) -> ObjectInfo:
    """An ObjectInfo from the attributes read for one object (by either listing path)."""
    cls = CLASS_MAP.get(klass, ObjClass.OTHER)
    label = attrs.get(Attribute.LABEL) or ""
    obj_id = attrs.get(Attribute.ID) or b""
    fields: dict[str, Any] = {
        "cls": cls,
        "label": label,
        "id": bytes(obj_id),
        "handle": handle,
        "uri": uris.object_uri(tinfo.label, tinfo.serial, cls.value, label, bytes(obj_id)),
        "private": bool(attrs.get(Attribute.PRIVATE, False)),
        "id_absent": cls is ObjClass.CERTIFICATE and Attribute.ID not in attrs,
    }
    if cls in (ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY, ObjClass.SECRET_KEY):
        kt = attrs.get(Attribute.KEY_TYPE)
        key_type = _KEY_TYPE_NAMES.get(kt, getattr(kt, "name", str(kt)).lower()) if kt is not None else None
        fields["flags"] = tuple(name for a, name in _KEY_FLAG_ATTRS if attrs.get(a))
        modulus = attrs.get(Attribute.MODULUS)
        if modulus:
            fields["bits"] = int(attrs.get(Attribute.MODULUS_BITS) or len(modulus) * 8)
            fields["public_key_id"] = modulus.lstrip(b"\x00").hex()
        curve = curve_name(attrs.get(Attribute.EC_PARAMS))
        if curve:
            fields["curve"] = curve
            known = names.curve(curve)
            fields["bits"] = known.bits if known else None
            if known is not None and known.kind == "eddsa":
                key_type = curve
        point = attrs.get(Attribute.EC_POINT)
        if point:
            fields["public_key_id"] = unwrap_ec_point(bytes(point)).hex()
        if cls is ObjClass.SECRET_KEY and attrs.get(Attribute.VALUE_LEN):
            fields["bits"] = int(attrs[Attribute.VALUE_LEN]) * 8
        fields["key_type"] = key_type
    elif cls is ObjClass.CERTIFICATE:
        # Imported here, not at the top: cryptography is imported only for certificates this
        # user has not listed before (core/x509/certcache.py).
        from ikm_tui.core.x509.certcache import cert_fields

        value = attrs.get(Attribute.VALUE)
        fields["value"] = bytes(value) if value else b""
        fields["cert"] = cert_fields(fields["value"])
        fields["public_key_id"] = fields["cert"].public_key_id
        fields["key_type"] = fields["cert"].key_type or None
        fields["bits"] = fields["cert"].bits
        fields["curve"] = fields["cert"].curve
        fields["cert_category"] = attrs.get(Attribute.CERTIFICATE_CATEGORY)
        fields["trusted"] = attrs.get(Attribute.TRUSTED)
    elif cls is ObjClass.DATA:
        value = attrs.get(Attribute.VALUE)
        fields["value"] = bytes(value) if value else b""
        fields["application"] = attrs.get(Attribute.APPLICATION)
    return ObjectInfo(**fields)


def mechanism_code(name: str) -> int:
    """The CKM_* number of a mechanism named as PKCS#11 does ("CKM_ECDSA")."""
    return int(Mechanism[name.removeprefix("CKM_")])


def handle_of(obj: Object) -> int:
    """The object's handle: python-pkcs11 types it Optional, but a found or created object has one."""
    return int(cast(int, obj.handle))
