"""Key pairs on the token: generation, public key export, signing; run on the owner thread."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, cast

from asn1crypto import keys as akeys
from asn1crypto.core import Null
from pkcs11 import Attribute, KeyType, Mechanism, Object
from pkcs11.types import SignMixin

from ikm_tui.core.p11.attributes import handle_of, unwrap_ec_point
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.errors import IkmError

CURVE_OIDS = {"p256": "1.2.840.10045.3.1.7", "p384": "1.3.132.0.34", "p521": "1.3.132.0.35"}
ED25519_OID = "1.3.101.112"


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
        if kind == "ec" and arg.replace("-", "") in CURVE_OIDS:
            curve = arg.replace("-", "")
            return cls("ec", {"p256": 256, "p384": 384, "p521": 521}[curve], curve)
        raise ValueError(
            f"unknown key type {text!r}: use rsa:2048, rsa:3072, rsa:4096, ec:p256, ec:p384, ec:p521 or ed25519"
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


def spki_of_public(pub: Object) -> bytes:
    """SubjectPublicKeyInfo DER of a python-pkcs11 public key object."""
    kt = pub[Attribute.KEY_TYPE]
    if kt == KeyType.RSA:
        n = int.from_bytes(pub[Attribute.MODULUS], "big")
        e = int.from_bytes(pub[Attribute.PUBLIC_EXPONENT], "big")
        info = akeys.PublicKeyInfo({
            # RFC 3279 §2.3.1: rsaEncryption parameters MUST be NULL; asn1crypto omits them for None.
            "algorithm": {"algorithm": "rsa", "parameters": Null()},
            "public_key": akeys.RSAPublicKey({"modulus": n, "public_exponent": e}),
        })
        return info.dump()
    point = unwrap_ec_point(bytes(pub[Attribute.EC_POINT]))
    params = bytes(pub[Attribute.EC_PARAMS])
    if kt == KeyType.EC:
        info = akeys.PublicKeyInfo({
            "algorithm": {"algorithm": "ec", "parameters": akeys.ECDomainParameters.load(params)},
            "public_key": point,
        })
        return info.dump()
    if kt == KeyType.EC_EDWARDS:
        info = akeys.PublicKeyInfo({"algorithm": {"algorithm": "ed25519"}, "public_key": point})
        return info.dump()
    raise IkmError(f"Cannot export a public key of type {kt!r}.")


def generate_keypair(backend: Backend, slot_id: int, spec: KeySpec, label: str,
                     key_id: bytes | None = None, *, sign: bool = True,
                     decrypt: bool = False) -> dict[str, Any]:
    """A protected pair on the token (see keygen.generate_protected_pair), as a plain dict.

    Returns {'private': handle, 'public': handle, 'id': bytes, 'spki': DER}. Kept for the demo,
    benches and tests that want handles; `sign` is always on (every key we make signs).
    """
    # Imported here: keygen builds on this module (KeySpec, key_id_for).
    from ikm_tui.core.p11.keygen import KeyPurpose, generate_protected_pair

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
