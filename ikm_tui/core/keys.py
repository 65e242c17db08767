"""Key pairs on the token: generation, public key export, signing; run on the owner thread."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pkcs11.exceptions as p11x
from asn1crypto import keys as akeys
from asn1crypto.core import Null
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from ikm_tui.core.backend import Backend, unwrap_ec_point
from ikm_tui.core.errors import IkmError, from_exception

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


def spki_of_public(pub: Any) -> bytes:
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
    """Generate a private, sensitive, non-extractable pair on the token; CKA_ID as given or SHA-1.

    Returns {'private': handle, 'public': handle, 'id': bytes, 'spki': DER}.
    """
    sess = backend.session(slot_id)
    caps = MechanismFlag.SIGN | MechanismFlag.VERIFY if sign else MechanismFlag(0)
    if decrypt:
        caps |= MechanismFlag.DECRYPT | MechanismFlag.ENCRYPT | MechanismFlag.WRAP | MechanismFlag.UNWRAP
    temp_id = key_id or b"ikm-tui-pending"
    priv_template = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.PRIVATE: True,
                     Attribute.TOKEN: True}
    pub_template = {Attribute.TOKEN: True, Attribute.PRIVATE: False}
    if spec.kind == "rsa":
        pub, priv = sess.generate_keypair(
            KeyType.RSA, spec.bits, id=temp_id, label=label, store=True, capabilities=caps,
            public_template={**pub_template, Attribute.PUBLIC_EXPONENT: b"\x01\x00\x01"},
            private_template=priv_template)
        public_value = bytes(pub[Attribute.MODULUS])
    elif spec.kind in ("ec", "ed25519"):
        if spec.kind == "ec":
            params = encode_named_curve_parameters(CURVE_OIDS[spec.curve or "p256"])
            kt, mech = KeyType.EC, Mechanism.EC_KEY_PAIR_GEN
        else:
            params = encode_named_curve_parameters(ED25519_OID)
            kt, mech = KeyType.EC_EDWARDS, Mechanism.EC_EDWARDS_KEY_PAIR_GEN
        try:
            pub, priv = sess.generate_keypair(
                kt, id=temp_id, label=label, store=True, capabilities=caps, mechanism=mech,
                public_template={**pub_template, Attribute.EC_PARAMS: params},
                private_template=priv_template)
        except (p11x.GeneralError, p11x.DomainParamsInvalid, p11x.FunctionFailed,
                p11x.MechanismParamInvalid, p11x.AttributeValueInvalid) as exc:
            # SoftHSM answers an unknown curve with CKR_GENERAL_ERROR: say what was asked for.
            err = from_exception(exc)
            raise IkmError(
                f"The token could not generate a key on curve {spec.curve} ({err.cause.rstrip('.')}).",
                "The token does not support this curve: pick one from its Mechanisms tab "
                "(ec:p256 is the most widely supported).",
                err.ckr_name, err.ckr_code, "Generating the key pair") from None
        public_value = unwrap_ec_point(bytes(pub[Attribute.EC_POINT]))
    else:  # pragma: no cover - KeySpec.parse refuses others
        raise ValueError(spec.kind)
    final_id = key_id or key_id_for(public_value)
    if key_id is None:
        pub[Attribute.ID] = final_id
        priv[Attribute.ID] = final_id
    return {"private": int(priv.handle), "public": int(pub.handle), "id": final_id,
            "spki": spki_of_public(pub)}


def find_public(backend: Backend, slot_id: int, key_id: bytes) -> Any:
    sess = backend.session(slot_id)
    found = list(sess.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.ID: key_id}))
    return found[0] if found else None
