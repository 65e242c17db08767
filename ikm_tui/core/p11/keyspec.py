"""Key types as operators type them (`rsa:2048`, `ec:p256`, `ed25519`) and the CKA_ID convention."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

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
