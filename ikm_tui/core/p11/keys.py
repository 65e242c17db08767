"""Key pairs on the token: generation, public key export, signing; run on the owner thread."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.errors import IkmError
from ikm_tui.core.x509 import names

# The curves offered for `ec:NAME` keys, name -> OID, from the one curve table. A dict (not a
# lookup function) because keygen reads it and a failure-table test plants an extra entry in it.
CURVE_OIDS = {c.name: c.oid for c in names.generated_ec_curves()}
ED25519_OID = names.require_curve("ed25519").oid


@dataclass(frozen=True)
class KeySpec:
    """`rsa:2048`, `ec:p256`, `ed25519` as typed by operators."""

    kind: str  # rsa | ec | ed25519
    bits: int | None = None
    curve: str | None = None

    @classmethod
    def parse(cls, text: str) -> KeySpec:
        t = text.strip().lower()
        if t == "ed25519":
            return cls("ed25519", 256, "ed25519")
        kind, _, arg = t.partition(":")
        if kind == "rsa" and arg.isdigit() and int(arg) in (1024, 2048, 3072, 4096, 8192):
            return cls("rsa", int(arg))
        curve = names.curve(arg) if kind == "ec" else None
        if curve is not None and curve.name in CURVE_OIDS:
            return cls("ec", curve.bits, curve.name)
        raise ValueError(
            f"unknown key type {text!r}: use rsa:2048, rsa:3072, rsa:4096, "
            + ", ".join(f"ec:{c}" for c in CURVE_OIDS) + " or ed25519"
        )

    def __str__(self) -> str:
        if self.kind == "rsa":
            return f"rsa:{self.bits}"
        if self.kind == "ec":
            return f"ec:{self.curve}"
        return self.kind


def key_id_for(public_value: bytes) -> bytes:
    """SHA-1 of the RSA modulus / EC point: the CKA_ID convention of NSS and OpenSC."""
    return hashlib.sha1(public_value).digest()  # noqa: S324 - an identifier, not a security function


def spki_of_public(pub: Any) -> bytes:
    """SubjectPublicKeyInfo DER of a python-pkcs11 public key object (keygen.public_info's first half)."""
    # Imported here: keygen builds on this module (KeySpec, key_id_for).
    from ikm_tui.core.p11.keygen import public_info

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
    # Imported here: keygen builds on this module (KeySpec, key_id_for).
    from ikm_tui.core.p11.keygen import KeyPurpose, generate_protected_pair

    purpose = KeyPurpose(decrypt=decrypt, unwrap=decrypt)
    pair = generate_protected_pair(backend, slot_id, spec, label, key_id, purpose)
    return {"private": int(pair.private.handle), "public": int(pair.public.handle),
            "id": pair.info.key_id, "spki": pair.info.spki}
