"""Key pairs on the token: generation, public key export, signing; run on the owner thread."""

from __future__ import annotations

from typing import Any, cast

from pkcs11 import Attribute, KeyType, Mechanism, Object
from pkcs11.types import SignMixin

from ikm_tui.core.errors import IkmError
from ikm_tui.core.p11.attributes import handle_of
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.p11.keygen import KeyPurpose, generate_protected_pair, public_info

# Re-exported: KeySpec and the CKA_ID convention live in keyspec.py so that keygen can use them
# without importing this module (keys builds on keygen, not the other way round).
from ikm_tui.core.p11.keyspec import CURVE_OIDS as CURVE_OIDS
from ikm_tui.core.p11.keyspec import ED25519_OID as ED25519_OID
from ikm_tui.core.p11.keyspec import KeySpec as KeySpec
from ikm_tui.core.p11.keyspec import key_id_for as key_id_for

def spki_of_public(pub: Object) -> bytes:
    """SubjectPublicKeyInfo DER of a python-pkcs11 public key object (keygen.public_info's first half)."""
    try:
        return public_info(pub)[0]
    except ValueError as exc:
        raise IkmError(f"Cannot export this public key: {exc}.",
                       "Export it with pkcs11-tool --read-object --type pubkey instead.") from None


def generate_keypair(backend: Backend, slot_id: int, spec: KeySpec, label: str,
                     key_id: bytes | None = None, *, decrypt: bool = False) -> dict[str, Any]:
    """A protected pair on the token (see keygen.generate_protected_pair), as a plain dict.

    Returns {'private': handle, 'public': handle, 'id': bytes, 'spki': DER}. Kept for the demo,
    benches and tests that want handles. Every key it makes can sign.
    """
    purpose = KeyPurpose(decrypt=decrypt, unwrap=decrypt)
    pair = generate_protected_pair(backend, slot_id, spec, label, key_id, purpose)
    return {"private": handle_of(pair.private), "public": handle_of(pair.public),
            "id": pair.info.key_id, "spki": pair.info.spki}


def sign(private: Object, data: bytes, mechanism: str) -> bytes:
    """Sign `data` on the token with the private key and CKM_<mechanism> ("CKM_ECDSA", ...)."""
    # Found by class (CKO_PRIVATE_KEY), so python-pkcs11 made it a signing key; its type says Object.
    key = cast(SignMixin, private)
    return bytes(key.sign(data, mechanism=Mechanism[mechanism.removeprefix("CKM_")]))


def key_kind(key: Object) -> str:
    """"rsa", "ec" or "ed25519" for a python-pkcs11 key object."""
    kt = key[Attribute.KEY_TYPE]
    return {KeyType.RSA: "rsa", KeyType.EC: "ec", KeyType.EC_EDWARDS: "ed25519"}.get(kt, str(kt))
