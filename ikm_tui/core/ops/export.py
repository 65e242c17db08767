"""Export a key's public key (SubjectPublicKeyInfo PEM) from its public-key object or its certificate."""

from __future__ import annotations

from ikm_tui.core.errors import IkmError, NotFoundError
from ikm_tui.core.model import ObjClass, ObjectInfo
from ikm_tui.core.ops.plans import ambiguous, labels_of, select
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.sanitize import safe_text


def export_public_key(backend: Backend, slot_id: int, label: str,
                      key_id: bytes | None = None) -> tuple[ObjectInfo, str]:
    """(key, SPKI PEM) from the public-key object; else from the key's paired certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from ikm_tui.core.x509.pem import encode as pem_encode
    from ikm_tui.core.p11.keys import spki_of_public

    listing = backend.list_objects(slot_id)
    pubs = select(listing, label, (ObjClass.PUBLIC_KEY,), key_id)
    if len(pubs) > 1:
        raise ambiguous("public key", label, pubs, "Pick one with --id HEX.")
    if pubs:
        pub = pubs[0]
        return pub, pem_encode(spki_of_public(backend.pkcs11_object(slot_id, pub.handle)), "PUBLIC KEY")
    privs = select(listing, label, (ObjClass.PRIVATE_KEY,), key_id)
    if len(privs) > 1:
        raise ambiguous("private key", label, privs, "Pick one with --id HEX.")
    if privs:
        for ch in listing.pairing.key_to_cert.get(privs[0].handle, []):
            c = listing.by_handle(ch)
            if c is not None and c.value:
                spki = x509.load_der_x509_certificate(c.value).public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                return privs[0], spki.decode("ascii")
        raise IkmError(f"The key {safe_text(label)!r} has no public-key object and no certificate on the token, "
                       "so its public key cannot be read.", "Receive its certificate first.",
                       operation="Exporting the public key")
    hint = "" if backend.is_logged_in(slot_id) else " (not logged in: private keys are hidden)"
    raise NotFoundError(f"No key labelled {safe_text(label)!r} on this token{hint}. Keys present: "
                   f"{safe_text(labels_of(listing, (ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY)))}.",
                   "Check the label with `ikm-tui list --login`.", operation="Exporting the public key")
