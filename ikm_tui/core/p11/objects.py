"""Writing and removing token objects (certificates, data objects); owner thread only."""

from __future__ import annotations

from typing import Any

from asn1crypto import x509 as ax
from pkcs11 import Attribute, CertificateType, ObjectClass

from ikm_tui.core.p11.backend import Backend

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


def write_certificate(backend: Backend, slot_id: int, der: bytes, label: str, key_id: bytes,
                      category: int = CATEGORY_TOKEN_USER) -> int:
    sess = backend.session(slot_id)
    obj = sess.create_object(certificate_template(der, label, key_id, category))
    return int(obj.handle)


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
    return int(obj.handle)


def write_data_object(backend: Backend, slot_id: int, application: str, label: str, value: bytes,
                      private: bool = False) -> int:
    sess = backend.session(slot_id)
    obj = sess.create_object({
        Attribute.CLASS: ObjectClass.DATA,
        Attribute.TOKEN: True,
        Attribute.PRIVATE: private,
        Attribute.APPLICATION: application,
        Attribute.LABEL: label,
        Attribute.VALUE: value,
    })
    return int(obj.handle)


def destroy(backend: Backend, slot_id: int, handle: int) -> None:
    backend.pkcs11_object(slot_id, handle).destroy()
