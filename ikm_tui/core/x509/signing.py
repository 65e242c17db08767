"""Signing seam: which mechanism and X.509 algorithm for (key type, hash), and a Signer around a token."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from asn1crypto import algos, core, keys
from asn1crypto import x509 as asn1_x509

# Takes the to-be-signed DER bytes and returns the signature as X.509 carries it: RSA PKCS#1 v1.5
# raw signature; ECDSA as a DER Ecdsa-Sig-Value (not raw r||s); Ed25519 as its raw 64 bytes.
Signer = Callable[[bytes], bytes]


@dataclass(frozen=True)
class SigAlg:
    """What an X.509 signature algorithm needs: a key algorithm and who hashes with what."""

    key: str  # "rsa", "ec" or "ed25519": the SubjectPublicKeyInfo algorithm it needs
    hash: str | None  # hashlib name; None for Ed25519, which hashes internally


# Names are asn1crypto's SignedDigestAlgorithmId names, so they go straight into the DER.
SIG_ALGS: dict[str, SigAlg] = {
    "sha256_rsa": SigAlg("rsa", "sha256"),
    "sha384_rsa": SigAlg("rsa", "sha384"),
    "sha512_rsa": SigAlg("rsa", "sha512"),
    "sha256_ecdsa": SigAlg("ec", "sha256"),
    "sha384_ecdsa": SigAlg("ec", "sha384"),
    "sha512_ecdsa": SigAlg("ec", "sha512"),
    "ed25519": SigAlg("ed25519", None),
}


class SigningPlan(NamedTuple):
    """How to sign on a token: which mechanism, which X.509 algorithm, who hashes."""

    mechanism: str  # "CKM_..." as the Mechanisms tab names it; python-pkcs11 name without "CKM_"
    sig_alg: str  # a key of SIG_ALGS
    hash_locally: bool  # True: hash the TBS bytes here and give the token only the digest


# Plain table keyed by (key type, hash). RSA uses the combined hash-and-sign mechanisms, which
# every token we target has. SoftHSM (and many cards) have no CKM_ECDSA_SHA256/384/512, so ECDSA
# always hashes locally and signs the digest with raw CKM_ECDSA, which returns r||s. Ed25519
# (PureEdDSA) hashes inside the algorithm, so there is no hash to choose.
_PLANS: dict[tuple[str, str | None], SigningPlan] = {
    ("rsa", "sha256"): SigningPlan("CKM_SHA256_RSA_PKCS", "sha256_rsa", False),
    ("rsa", "sha384"): SigningPlan("CKM_SHA384_RSA_PKCS", "sha384_rsa", False),
    ("rsa", "sha512"): SigningPlan("CKM_SHA512_RSA_PKCS", "sha512_rsa", False),
    ("ec", "sha256"): SigningPlan("CKM_ECDSA", "sha256_ecdsa", True),
    ("ec", "sha384"): SigningPlan("CKM_ECDSA", "sha384_ecdsa", True),
    ("ec", "sha512"): SigningPlan("CKM_ECDSA", "sha512_ecdsa", True),
    ("ed25519", None): SigningPlan("CKM_EDDSA", "ed25519", False),
}


def signing_plan(key_type: str, hash_name: str | None) -> SigningPlan:
    """Look up the plan for a key type ("rsa", "ec", "ed25519") and hash ("sha256"...).

    For Ed25519 pass None (or ""): its hash is fixed by the algorithm.
    """
    kt = key_type.strip().lower()
    hn = hash_name.strip().lower().replace("-", "") if hash_name else None
    if kt == "ed25519" and hn is not None:
        raise ValueError(f"Ed25519 has a fixed hash (SHA-512 inside the algorithm); do not pass {hash_name!r}")
    plan = _PLANS.get((kt, hn))
    if plan is None:
        if not any(k == kt for k, _ in _PLANS):
            raise ValueError(f"unsupported key type {key_type!r}; expected rsa, ec or ed25519")
        raise ValueError(f"unsupported hash {hash_name!r} for {kt}; expected sha256, sha384 or sha512")
    return plan


def ecdsa_raw_to_der(raw: bytes) -> bytes:
    """CKM_ECDSA's r||s (two equal halves) to X.509's DER Ecdsa-Sig-Value.

    Same result as python-pkcs11's `pkcs11.util.ec.encode_ecdsa_signature`, without importing
    the PKCS#11 extension into pure code.
    """
    if not raw or len(raw) % 2:
        raise ValueError(f"an ECDSA r||s signature has an even, non-zero length, not {len(raw)} bytes")
    return bytes(algos.DSASignature.from_p1363(raw).dump())


def token_signer(plan: SigningPlan, sign_with_mechanism: Callable[[bytes], bytes]) -> Signer:
    """Adapt "sign these bytes with plan.mechanism on the token" into a Signer.

    Hashes locally when the plan says so, and turns the raw ECDSA r||s into DER.
    """
    alg = SIG_ALGS[plan.sig_alg]

    def sign(tbs: bytes) -> bytes:
        if plan.hash_locally:
            assert alg.hash is not None
            data = hashlib.new(alg.hash, tbs).digest()
        else:
            data = tbs
        raw = bytes(sign_with_mechanism(data))
        if alg.key == "ec":
            return ecdsa_raw_to_der(raw)
        return raw

    return sign


def signature_algorithm(sig_alg: str, alg: SigAlg) -> algos.SignedDigestAlgorithm:
    """The AlgorithmIdentifier for `sig_alg`, with the parameters each RFC prescribes."""
    # RFC 4055 §5: parameters NULL for the RSA PKCS#1 v1.5 OIDs; RFC 5758 §3.2 and RFC 8410 §3:
    # absent for ECDSA and Ed25519.
    if alg.key == "rsa":
        return algos.SignedDigestAlgorithm({"algorithm": sig_alg, "parameters": core.Null()})
    return algos.SignedDigestAlgorithm({"algorithm": sig_alg})


def checked_signature(sign: Signer, tbs: bytes, alg: SigAlg) -> bytes:
    """The signer's signature over `tbs`, refused when its form cannot be what X.509 carries."""
    sig = sign(tbs)
    if not isinstance(sig, (bytes, bytearray)):
        raise TypeError(f"the signer returned {type(sig).__name__}, not bytes")
    sig = bytes(sig)
    if alg.key == "ec" and not sig.startswith(b"\x30"):
        raise ValueError("the signer returned a raw ECDSA signature; X.509 needs it DER-encoded "
                         "(use ecdsa_raw_to_der or token_signer)")
    if alg.key == "ed25519" and len(sig) != 64:
        raise ValueError(f"an Ed25519 signature is 64 bytes, the signer returned {len(sig)}")
    return sig


def x509_time(when: datetime) -> asn1_x509.Time:
    """RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050."""
    return asn1_x509.Time(name="utc_time" if when.year < 2050 else "general_time", value=when)


def sign_certificate(*, subject: asn1_x509.Name, spki: keys.PublicKeyInfo, issuer: asn1_x509.Name,
                      sign: Signer, sig_alg: str, not_before: datetime, not_after: datetime, serial: int,
                      extensions: list[asn1_x509.Extension]) -> bytes:
    """A DER v3 certificate, its TBS signed by `sign` (the issuer's key on the token)."""
    alg = SIG_ALGS[sig_alg]
    tbs_cert = asn1_x509.TbsCertificate({
        "version": "v3",
        "serial_number": serial,
        "signature": signature_algorithm(sig_alg, alg),
        "issuer": issuer,
        "validity": {"not_before": x509_time(not_before), "not_after": x509_time(not_after)},
        "subject": subject,
        "subject_public_key_info": spki,
        "extensions": extensions,
    })
    tbs = bytes(tbs_cert.dump(force=True))
    sig = checked_signature(sign, tbs, alg)
    cert = asn1_x509.Certificate({
        # Loaded back from the exact bytes that were signed, so the two cannot differ.
        "tbs_certificate": asn1_x509.TbsCertificate.load(tbs),
        "signature_algorithm": signature_algorithm(sig_alg, alg),
        "signature_value": sig,
    })
    return bytes(cert.dump())
