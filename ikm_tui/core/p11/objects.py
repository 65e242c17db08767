"""Writing, finding, relabelling and removing token objects (certificates, data objects, keys).

Owner thread only. The use cases in core/ops reach python-pkcs11 objects only through these
functions: they may hold an `Object` returned here, but never call it themselves.
"""

from __future__ import annotations

from typing import Any

import pkcs11.exceptions as p11x
from asn1crypto import x509 as ax
from pkcs11 import Attribute, CertificateType, KeyType, Object, ObjectClass

from ikm_tui.core.model import ObjClass
from ikm_tui.core.p11.attributes import CLASS_MAP, CLASS_UNMAP, handle_of
from ikm_tui.core.p11.backend import Backend

# A live python-pkcs11 object, as the use cases hold one: opaque to them, passed back to these
# functions (owner thread only; never across the thread boundary).
TokenObject = Object

# PKCS#11 v2.40 §4.6.2 CKA_CERTIFICATE_CATEGORY values.
CATEGORY_UNSPECIFIED = 0
CATEGORY_TOKEN_USER = 1
CATEGORY_AUTHORITY = 2
CATEGORY_OTHER_ENTITY = 3


def _base_certificate(value: bytes, label: str, key_id: bytes, subject: bytes) -> dict[Attribute, Any]:
    return {
        Attribute.CLASS: ObjectClass.CERTIFICATE,
        Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
        # Without TOKEN=True python-pkcs11 makes a session object that vanishes on close.
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
        # CKA_SUBJECT is required for X.509 certificates (SoftHSM: CKR_TEMPLATE_INCOMPLETE).
        Attribute.SUBJECT: subject,
        Attribute.VALUE: value,
    }


def certificate_template(der: bytes, label: str, key_id: bytes, category: int) -> dict[Attribute, Any]:
    """Attributes Java, NSS and OpenSSL need to see a certificate (and pair it by CKA_ID)."""
    tbs = ax.Certificate.load(der)["tbs_certificate"]
    template = _base_certificate(der, label, key_id, tbs["subject"].dump())
    template.update({
        Attribute.ISSUER: tbs["issuer"].dump(),
        Attribute.SERIAL_NUMBER: tbs["serial_number"].dump(),
        Attribute.CERTIFICATE_CATEGORY: category,
    })
    return template


def create_certificate(backend: Backend, slot_id: int, der: bytes, label: str, key_id: bytes,
                       category: int = CATEGORY_TOKEN_USER) -> Object:
    return backend.session(slot_id).create_object(certificate_template(der, label, key_id, category))


def write_certificate(backend: Backend, slot_id: int, der: bytes, label: str, key_id: bytes,
                      category: int = CATEGORY_TOKEN_USER) -> int:
    return handle_of(create_certificate(backend, slot_id, der, label, key_id, category))


def write_raw_certificate(backend: Backend, slot_id: int, value: bytes, label: str,
                          key_id: bytes) -> int:
    """A certificate object whose VALUE need not parse (malformed-corpus tests, odd tokens)."""
    # The subject from the DER when that much parses, else an empty Name.
    try:
        subject = ax.Certificate.load(value)["tbs_certificate"]["subject"].dump()
    except Exception:  # noqa: BLE001 - the value is malformed on purpose
        subject = b"\x30\x00"
    sess = backend.session(slot_id)
    obj = sess.create_object(_base_certificate(value, label, key_id, subject))
    return handle_of(obj)


# Errors that mean "this token will not keep a data object like that" (so a file is the honest
# fallback), as opposed to a session or device failure that must stop the operation.
REFUSED_DATA_OBJECT: tuple[type[Exception], ...] = (
    p11x.TemplateInconsistent, p11x.TemplateIncomplete, p11x.AttributeTypeInvalid,
    p11x.AttributeValueInvalid, p11x.FunctionNotSupported, p11x.DeviceMemory,
    p11x.AttributeReadOnly, p11x.FunctionFailed, p11x.GeneralError)


def create_data_object(backend: Backend, slot_id: int, application: str, label: str, value: bytes,
                       private: bool = False) -> Object:
    return backend.session(slot_id).create_object({
        Attribute.CLASS: ObjectClass.DATA,
        # Without TOKEN=True python-pkcs11 makes a session object that vanishes on close.
        Attribute.TOKEN: True,
        Attribute.PRIVATE: private,
        Attribute.APPLICATION: application,
        Attribute.LABEL: label,
        Attribute.VALUE: value,
    })


def write_data_object(backend: Backend, slot_id: int, application: str, label: str, value: bytes,
                      private: bool = False) -> int:
    return handle_of(create_data_object(backend, slot_id, application, label, value, private))


def find_data_objects(backend: Backend, slot_id: int, application: str,
                      label: str | None = None) -> list[Object]:
    """Data objects of this application (and label), in the backend's session."""
    template: dict[Attribute, Any] = {Attribute.CLASS: ObjectClass.DATA, Attribute.APPLICATION: application}
    if label is not None:
        template[Attribute.LABEL] = label
    # list(): an unconsumed search holds the session (CKR_OPERATION_ACTIVE).
    return list(backend.session(slot_id).get_objects(template))


def find_objects(backend: Backend, slot_id: int, cls: ObjClass, *, label: str | None = None,
                 key_id: bytes | None = None) -> list[Object]:
    """Objects of one class with that label and/or CKA_ID, in the backend's session."""
    template: dict[Attribute, Any] = {Attribute.CLASS: CLASS_UNMAP[cls]}
    if label is not None:
        template[Attribute.LABEL] = label
    if key_id is not None:
        template[Attribute.ID] = key_id
    return list(backend.session(slot_id).get_objects(template))


def object_id(obj: Object) -> bytes:
    return bytes(obj[Attribute.ID])


def object_class(obj: Object) -> ObjClass:
    klass = obj.object_class
    return CLASS_MAP.get(klass, ObjClass.OTHER) if klass is not None else ObjClass.OTHER


def set_attributes(obj: Object, *, key_id: bytes | None = None, label: str | None = None) -> None:
    """Set CKA_ID, then CKA_LABEL (each only when given); the token's error propagates."""
    if key_id is not None:
        obj[Attribute.ID] = key_id
    if label is not None:
        obj[Attribute.LABEL] = label


def destroy_object(obj: Object) -> None:
    obj.destroy()


def destroy_quietly(obj: Object) -> None:
    """Best-effort cleanup after a failure: the first error is the one to report."""
    try:
        obj.destroy()
    except p11x.PKCS11Error:
        pass


def fresh_labels(backend: Backend, slot_id: int, handles: list[int]) -> dict[int, str | None]:
    """Labels as a brand-new session reads them, so a token that cached or ignored a write shows it.

    None for a handle the new session does not find.
    """
    sess = backend.open_read_session(slot_id)
    try:
        # One full search (materialised), matched by handle: data objects have no CKA_ID to search by.
        wanted = set(handles)
        found = {handle_of(f): f for f in list(sess.get_objects()) if handle_of(f) in wanted}
        return {h: (str(found[h][Attribute.LABEL]) if h in found else None) for h in handles}
    finally:
        sess.close()


def fresh_id_labels(backend: Backend, slot_id: int,
                    wanted: list[tuple[int, bytes]]) -> dict[int, tuple[str, bytes] | None]:
    """(label, CKA_ID) of each (handle, expected CKA_ID) as a brand-new session finds it by that ID."""
    out: dict[int, tuple[str, bytes] | None] = {}
    sess = backend.open_read_session(slot_id)
    try:
        for handle, key_id in wanted:
            found = [f for f in sess.get_objects({Attribute.ID: key_id}) if handle_of(f) == handle]
            out[handle] = (str(found[0][Attribute.LABEL]), bytes(found[0][Attribute.ID])) if found else None
    finally:
        sess.close()
    return out


def destroy(backend: Backend, slot_id: int, handle: int) -> None:
    backend.pkcs11_object(slot_id, handle).destroy()


def set_id(backend: Backend, slot_id: int, handle: int, key_id: bytes) -> None:
    """C_SetAttributeValue(CKA_ID) on one object; raises what the module said."""
    backend.pkcs11_object(slot_id, handle)[Attribute.ID] = key_id


def fresh_ids(backend: Backend, slot_id: int, handles: set[int]) -> dict[int, bytes | None]:
    """CKA_IDs as a brand-new session reads them (a token that ignored a write shows it)."""
    sess = backend.open_read_session(slot_id)
    try:
        found = {handle_of(f): f for f in list(sess.get_objects()) if handle_of(f) in handles}
        return {h: (bytes(found[h][Attribute.ID]) if h in found else None) for h in handles}
    finally:
        sess.close()


def create_public_key(backend: Backend, slot_id: int, spki_der: bytes, key_id: bytes, label: str) -> int:
    """A token public-key object (CKA_VERIFY) for an RSA or EC SubjectPublicKeyInfo; returns its handle.

    Raises ValueError for a key type or curve ikm-tui does not write.
    """
    from asn1crypto.core import ObjectIdentifier, OctetString
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

    from ikm_tui.core.x509 import names

    pub = load_der_public_key(spki_der)
    template: dict[Attribute, Any] = {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.TOKEN: True,
                                      Attribute.PRIVATE: False, Attribute.ID: key_id,
                                      Attribute.LABEL: label, Attribute.VERIFY: True}
    if isinstance(pub, rsa.RSAPublicKey):
        n, e = pub.public_numbers().n, pub.public_numbers().e
        template.update({Attribute.KEY_TYPE: KeyType.RSA,
                         Attribute.MODULUS: n.to_bytes((n.bit_length() + 7) // 8, "big"),
                         Attribute.PUBLIC_EXPONENT: e.to_bytes((e.bit_length() + 7) // 8, "big")})
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        curve = names.curve(pub.curve.name)
        if curve is None or not curve.generate:
            raise ValueError(f"curve {pub.curve.name} is not one ikm-tui writes")
        point = pub.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        template.update({Attribute.KEY_TYPE: KeyType.EC, Attribute.EC_PARAMS: ObjectIdentifier(curve.oid).dump(),
                         Attribute.EC_POINT: OctetString(point).dump()})
    else:
        raise ValueError("only RSA and EC public keys are recreated")
    return handle_of(backend.session(slot_id).create_object(template))
