"""What the token signs with: key type and hash checked against its mechanisms, the signer, the subject.

Shared by the request form (ops/requests.py) and the CA (ops/ca.py): both pick the mechanism from
the token's own list and sign there. Functions taking the Backend run on the module's owner thread.
"""

from __future__ import annotations

import hashlib

from asn1crypto import algos, core
from asn1crypto import x509 as asn1_x509

from ikm_tui.core.errors import IkmError
from ikm_tui.core.labels import bad_character, label_problem
# Looked up through its module at call time, so a replacement (a test giving the token fewer
# mechanisms) is seen here and by the UI alike.
from ikm_tui.core.ops import capabilities as caps
from ikm_tui.core.ops.capabilities import HASHES, KEY_TYPES, HashChoice, KeyChoice
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.p11.keys import KeySpec, sign
from ikm_tui.core.p11.objects import TokenObject
from ikm_tui.core.x509 import csr as csrlib
from ikm_tui.core.x509.dn import parse_dn


def key_spec(spec: KeySpec | str) -> KeySpec:
    """A KeySpec from "rsa:3072"/"ec:p384"/... (IkmError naming the offered types otherwise)."""
    if isinstance(spec, KeySpec):
        return spec
    try:
        return KeySpec.parse(spec)
    except ValueError as exc:
        raise IkmError(str(exc).capitalize() + ".", f"Use one of {', '.join(KEY_TYPES)}.") from None


def subject_name(subject: str | asn1_x509.Name) -> asn1_x509.Name:
    """A DN we may write: parsed (RFC 4514, runmqakm or openssl -subj) and printable throughout."""
    if isinstance(subject, asn1_x509.Name):
        return subject
    try:
        name = parse_dn(subject)
    except (ValueError, TypeError) as exc:
        raise IkmError(f"Bad subject DN: {exc}",
                       "Write it as CN=host,O=Org (RFC 4514), cn=host,o=Org (runmqakm) or "
                       "/O=Org/CN=host (openssl -subj).") from None
    # Also what RFC 4514 hex escapes (CN=\1b) decode to: a DN we write holds printable text only.
    values = [v for v in name.native.values() for v in (v if isinstance(v, list) else [v])]
    if (ch := bad_character(subject) or next(filter(None, map(bad_character, map(str, values))), None)):
        raise IkmError(f"Bad subject DN: it holds a control or invisible character (U+{ord(ch):04X}).",
                       "Write the subject in printable characters.")
    return name


def check_new_label(label: str) -> None:
    """IkmError before anything is made when `label` is no label to write (core/labels.py)."""
    if problem := label_problem(label):
        raise IkmError(problem, "Give a label of printable characters (at most 255).")


def key_signer(private: TokenObject, kind: str, choice: HashChoice) -> tuple[csrlib.Signer, str]:
    """A csr.Signer on the token for this key kind and hash, and the X.509 signature algorithm."""
    plan = csrlib.signing_plan(kind, choice.name or None)
    if choice.mechanism == "CKM_RSA_PKCS" and plan.mechanism != "CKM_RSA_PKCS":
        # The token has no CKM_SHAxxx_RSA_PKCS: hash here, wrap in DigestInfo, sign raw PKCS#1.
        hash_name = choice.name

        def sign_raw(tbs: bytes) -> bytes:
            digest_info = algos.DigestInfo({
                "digest_algorithm": {"algorithm": hash_name, "parameters": core.Null()},
                "digest": hashlib.new(hash_name, tbs).digest(),
            })
            return sign(private, digest_info.dump(), "CKM_RSA_PKCS")

        return csrlib.token_signer(plan._replace(mechanism="CKM_RSA_PKCS"), sign_raw), plan.sig_alg
    mechanism = plan.mechanism

    def sign_on_token(data: bytes) -> bytes:
        return sign(private, data, mechanism)

    return csrlib.token_signer(plan, sign_on_token), plan.sig_alg


def pick_hash(choice: KeyChoice, hash_name: str | None) -> HashChoice:
    """The hash to sign with: `hash_name` (--hash) when the token can, else the key's default."""
    if choice.key_type == "ed25519":
        if hash_name:
            raise IkmError("Ed25519 has no hash to choose (SHA-512 is part of the algorithm).",
                           "Leave out --hash for ed25519.")
        return choice.hashes[0]
    name = (hash_name or choice.default_hash or "sha256").strip().lower().replace("-", "")
    for h in choice.hashes:
        if h.name == name:
            if not h.supported:
                raise IkmError(f"This token cannot sign {choice.key_type} with {name}: {h.reason}.",
                               f"Use one of: {', '.join(choice.usable_hashes) or 'none'}.")
            return h
    raise IkmError(f"Unknown hash {hash_name!r}.", f"Use one of {', '.join(HASHES)}.")


def check_choice(backend: Backend, slot_id: int, spec: KeySpec, offered: tuple[str, ...] = KEY_TYPES) -> KeyChoice:
    """What the token offers for `spec` (IkmError with CKR_MECHANISM_INVALID when it cannot make it);
    `offered`: the key types the calling operation takes (a CA takes fewer), the only ones advised."""
    key_type = str(spec)
    if key_type not in KEY_TYPES:
        raise IkmError(f"Key type {key_type} is not offered.", f"Use one of {', '.join(KEY_TYPES)}.")
    choice = caps.capabilities(backend, slot_id).choice(key_type)
    if not choice.supported:
        # Advise only what this operation also takes: `ca create` refuses rsa:2048 the token can make.
        supported = [k for k in caps.capabilities(backend, slot_id).supported if k in offered]
        raise IkmError(f"This token cannot make {key_type} keys: {choice.reason}.",
                       f"Pick one it supports: {', '.join(supported) or 'none'}.",
                       "CKR_MECHANISM_INVALID", 0x70)
    return choice
