"""The ctypes fast listing (p11batch) gives exactly what the python-pkcs11 path gives."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, CertificateType, KeyType, ObjectClass

from ikm_tui.core.p11 import keys, objects
from ikm_tui.core.p11.keys import KeySpec
from ikm_tui.core.p11.backend import Backend
from tests.support.helpers import SoftCA


def _big_cert() -> bytes:
    """A certificate over the 8 KiB read buffer: it must take the size-query path."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    sans = [x509.DNSName(f"host{i:04d}.big.example") for i in range(600)]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "big")]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "big")]))
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    assert len(der) > 8192
    return der


def _populate(backend: Any, slot: int) -> None:
    ca = SoftCA()
    rsa = keys.generate_keypair(backend, slot, KeySpec.parse("rsa:2048"), "rsa")
    ec_pair = keys.generate_keypair(backend, slot, KeySpec.parse("ec:p384"), "ec")
    keys.generate_keypair(backend, slot, KeySpec.parse("ed25519"), "ed")
    rsa_pub = serialization.load_der_public_key(rsa["spki"])
    ec_pub = serialization.load_der_public_key(ec_pair["spki"])
    objects.write_certificate(backend, slot, ca.issue(rsa_pub, "rsa.example").public_bytes(
        serialization.Encoding.DER), "rsa", rsa["id"])
    # Paired by public key under another CKA_ID: flagged as a mismatch.
    objects.write_certificate(backend, slot, ca.issue(ec_pub, "ec.example").public_bytes(
        serialization.Encoding.DER), "ec-other-id", b"\x99")
    objects.write_certificate(backend, slot, ca.der, "", b"", objects.CATEGORY_AUTHORITY)
    objects.write_certificate(backend, slot, _big_cert(), "big", b"\x42")
    # objects.write_raw_certificate omits CKA_SUBJECT, which SoftHSM requires.
    backend.session(slot).create_object({
        Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
        Attribute.TOKEN: True, Attribute.PRIVATE: False, Attribute.LABEL: "broken",
        Attribute.ID: b"\x43", Attribute.SUBJECT: b"\x30\x00", Attribute.VALUE: b"\x30\x03\x02\x01\x01"})
    objects.write_data_object(backend, slot, "ikm-tui-test", "data", b"x" * 10000)
    objects.write_data_object(backend, slot, "ikm-tui-test", "secret-data", b"s", private=True)
    sess = backend.session(slot)
    sess.generate_key(KeyType.AES, 256, label="aes", id=b"\x05", store=True)


def _snapshot(listing: Any) -> list[Any]:
    objs = [(o.cls, o.label, o.id, o.handle, o.uri, o.private, o.key_type, o.bits, o.curve, o.flags,
             o.public_key_id, o.cert, o.value, o.application, o.cert_category, o.trusted)
            for o in listing.objects]
    return [objs, listing.pairing, listing.logged_in]


@pytest.mark.parametrize("logged_in", [False, True])
def test_batched_listing_equals_python_pkcs11_listing(token: Any, logged_in: bool) -> None:
    token.login()
    token.service.run(_populate, token.slot_id)
    if not logged_in:
        token.service.run(Backend.logout, token.slot_id)

    def both(backend: Any, slot: int) -> tuple[Any, Any, Any]:
        assert backend.batch_reads
        fast = backend.list_objects(slot)
        backend.batch_reads = False
        try:
            slow = backend.list_objects(slot)
        finally:
            backend.batch_reads = True
        return fast, slow, backend._raw_objects  # noqa: SLF001

    fast, slow, raw = token.service.run(both, token.slot_id)
    assert raw is not None, "the fast path did not load"
    assert _snapshot(fast) == _snapshot(slow)
    classes = sorted(o.cls.value for o in fast.objects)
    if logged_in:
        assert classes.count("private_key") == 3 and "secret_key" in classes
        assert [o.label for o in fast.objects if o.cls.value == "data"] == ["data", "secret-data"]
    else:
        assert "private_key" not in classes
    big = next(o for o in fast.objects if o.label == "big")
    assert big.cert is not None and len(big.cert.sans) == 600


def test_objects_listed_fast_can_be_acted_on(token: Any) -> None:
    token.login()
    token.service.run(_populate, token.slot_id)
    listing = token.service.run(Backend.list_objects, token.slot_id)
    target = next(o for o in listing.objects if o.label == "broken")
    token.service.run(objects.destroy, token.slot_id, target.handle)
    again = token.service.run(Backend.list_objects, token.slot_id)
    assert "broken" not in [o.label for o in again.objects]
    assert len(again.objects) == len(listing.objects) - 1

    # An object with neither CKA_ID nor label is found by class alone.
    ca = next(o for o in again.objects if o.cls.value == "certificate" and not o.label)

    def live(backend: Any, slot: int, handle: int) -> Any:
        obj = backend.pkcs11_object(slot, handle)
        return int(obj.handle), obj[Attribute.CLASS]

    assert token.service.run(live, token.slot_id, ca.handle) == (ca.handle, ObjectClass.CERTIFICATE)


def test_stale_handle_is_refused(token: Any) -> None:
    from ikm_tui.core.errors import IkmError

    token.login()
    token.service.run(_populate, token.slot_id)
    listing = token.service.run(Backend.list_objects, token.slot_id)
    target = next(o for o in listing.objects if o.label == "data")
    token.service.run(objects.destroy, token.slot_id, target.handle)
    with pytest.raises(IkmError) as info:
        token.service.run(objects.destroy, token.slot_id, target.handle)
    assert info.value.ckr_name == "CKR_OBJECT_HANDLE_INVALID"

