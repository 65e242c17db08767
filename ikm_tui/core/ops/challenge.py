"""Prove a key and a certificate belong together by signing on the token and verifying with the cert.

For keys whose public half is not on the token (EC private keys expose no point; Java keytool
keeps no public-key object), the public keys cannot be compared: a challenge can.
"""

from __future__ import annotations

import hashlib
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from ikm_tui.core.model import ObjClass, ObjectInfo
from ikm_tui.core.p11 import objects
from ikm_tui.core.p11.attributes import handle_of
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.p11.keys import sign


def proves_pair(backend: Backend, slot_id: int, key: ObjectInfo, cert_der: bytes) -> bool:
    """Sign random bytes with the token key and verify with the cert's public key.

    For keys whose public half is not on the token (EC private keys expose no point).
    """
    found = objects.find_objects(backend, slot_id, ObjClass.PRIVATE_KEY, key_id=key.id)
    found = [k for k in found if handle_of(k) == key.handle] or found
    if not found:
        return False
    priv = found[0]
    pub = x509.load_der_x509_certificate(cert_der).public_key()
    data = os.urandom(32)
    try:
        if isinstance(pub, ec.EllipticCurvePublicKey) and key.key_type == "ec":
            digest = hashlib.sha256(data).digest()
            raw = sign(priv, digest, "CKM_ECDSA")
            half = len(raw) // 2
            sig = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
            pub.verify(sig, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        elif isinstance(pub, rsa.RSAPublicKey) and key.key_type == "rsa":
            sig = sign(priv, data, "CKM_SHA256_RSA_PKCS")
            pub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(pub, ed25519.Ed25519PublicKey) and key.key_type == "ed25519":
            sig = sign(priv, data, "CKM_EDDSA")
            pub.verify(sig, data)
        else:
            return False
    except Exception:  # noqa: BLE001 - wrong key, no SIGN capability, unsupported mechanism
        return False
    return True
