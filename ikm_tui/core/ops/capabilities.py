"""What key types and hashes a token can generate and sign with, read from its mechanism list.

`capabilities(backend, slot)` runs on the owner thread (`service.run(capabilities, slot)`);
`capabilities_from_mechanisms` is pure, for tests and the UI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ikm_tui.core.x509 import names
from ikm_tui.core.errors import IkmError
from ikm_tui.core.p11.attributes import mechanism_code
from ikm_tui.core.p11.backend import Backend

KEY_TYPES = names.KEY_TYPES
HASHES = ("sha256", "sha384", "sha512")

# Shown before an Ed25519 key is made; the CLI asks for --yes, the TUI for a confirmation.
ED25519_WARNING = (
    "Ed25519 keys break the OpenSSL pkcs11 engine (libp11 <= 0.4.12): once an Ed25519 private key is "
    "on this token, the engine fails to enumerate ANY key on it, so openssl/engine-based programs "
    "(and anything using `-engine pkcs11`) can no longer use the token's other keys either."
)

@dataclass(frozen=True)
class HashChoice:
    """One hash for one key type: whether the token can sign with it, and through which mechanism."""

    name: str  # "sha256"...; "" for Ed25519, whose hash is part of the algorithm
    supported: bool
    mechanism: str = ""  # "CKM_SHA256_RSA_PKCS", "CKM_RSA_PKCS" (DigestInfo made here), "CKM_ECDSA", "CKM_EDDSA"
    reason: str = ""  # why not, when unsupported


@dataclass(frozen=True)
class KeyChoice:
    """One key type ("rsa:2048"...) on this token: can it be generated and signed with, and if not, why."""

    key_type: str
    supported: bool
    reason: str = ""
    hashes: tuple[HashChoice, ...] = ()
    warning: str = ""

    @property
    def usable_hashes(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hashes if h.supported and h.name)

    @property
    def default_hash(self) -> str | None:
        """The hash matched to the key's strength (P-384 -> sha384), else the first usable one."""
        usable = self.usable_hashes
        preferred = {"ec:p384": "sha384", "ec:p521": "sha512"}.get(self.key_type, "sha256")
        if preferred in usable:
            return preferred
        return usable[0] if usable else None


@dataclass(frozen=True)
class KeyCapabilities:
    """Key types (with hashes) the token offers, each with the reason when it cannot."""

    choices: tuple[KeyChoice, ...]

    @property
    def supported(self) -> tuple[str, ...]:
        return tuple(c.key_type for c in self.choices if c.supported)

    def choice(self, key_type: str) -> KeyChoice:
        for c in self.choices:
            if c.key_type == key_type:
                return c
        raise IkmError(f"Unknown key type {key_type!r}.", f"Use one of {', '.join(KEY_TYPES)}.")


def _mech_ok(mechs: dict[int, Any], name: str, flag: str, bits: int | None) -> str:
    """'' when the token lists mechanism `name` with `flag` for `bits`, else why not."""
    info = mechs.get(mechanism_code(name))
    if info is None:
        return f"token has no {name}"
    # Empty flags mean C_GetMechanismInfo failed: trust the listing rather than hide the choice.
    if info.flags and flag not in info.flags:
        return f"token lists {name} without the {flag.replace('_', '-')} flag"
    if bits is not None and info.max_key and not (info.min_key <= bits <= info.max_key):
        return f"token's {name} takes {info.min_key}-{info.max_key} bits, not {bits}"
    return ""


def _rsa_choice(mechs: dict[int, Any], bits: int) -> KeyChoice:
    key_type = f"rsa:{bits}"
    why = _mech_ok(mechs, "CKM_RSA_PKCS_KEY_PAIR_GEN", "generate_key_pair", bits)
    raw_why = _mech_ok(mechs, "CKM_RSA_PKCS", "sign", bits)
    hashes = []
    for h in HASHES:
        combined = f"CKM_{h.upper()}_RSA_PKCS"
        if not _mech_ok(mechs, combined, "sign", bits):
            hashes.append(HashChoice(h, True, combined))
        elif not raw_why:
            # Raw PKCS#1 v1.5 over a DigestInfo made here is the same signature.
            hashes.append(HashChoice(h, True, "CKM_RSA_PKCS"))
        else:
            hashes.append(HashChoice(h, False, reason=f"token has neither {combined} nor CKM_RSA_PKCS"))
    if not why and not any(h.supported for h in hashes):
        why = "token cannot sign with RSA (no CKM_SHA*_RSA_PKCS, no CKM_RSA_PKCS)"
    return KeyChoice(key_type, not why, why, tuple(hashes))


def _ec_choice(mechs: dict[int, Any], curve: str, bits: int) -> KeyChoice:
    key_type = f"ec:{curve}"
    why = _mech_ok(mechs, "CKM_EC_KEY_PAIR_GEN", "generate_key_pair", bits)
    sign_why = _mech_ok(mechs, "CKM_ECDSA", "sign", bits)
    # SoftHSM and most cards have no CKM_ECDSA_SHA*: every hash goes through raw CKM_ECDSA.
    hashes = tuple(HashChoice(h, not sign_why, "CKM_ECDSA" if not sign_why else "",
                              f"{sign_why} (ikm-tui hashes locally and signs the digest)" if sign_why else "")
                   for h in HASHES)
    if not why and sign_why:
        why = f"{sign_why}, so it cannot sign with the key"
    return KeyChoice(key_type, not why, why, hashes)


def _ed25519_choice(mechs: dict[int, Any]) -> KeyChoice:
    # Tokens report Ed25519 as 255 or 256 bits; only refuse a range that excludes both.
    why = _mech_ok(mechs, "CKM_EC_EDWARDS_KEY_PAIR_GEN", "generate_key_pair", None)
    sign_why = _mech_ok(mechs, "CKM_EDDSA", "sign", None)
    gen = mechs.get(mechanism_code("CKM_EC_EDWARDS_KEY_PAIR_GEN"))
    if not why and gen is not None and gen.max_key and not (gen.min_key <= 256 and gen.max_key >= 255):
        why = f"token's CKM_EC_EDWARDS_KEY_PAIR_GEN takes {gen.min_key}-{gen.max_key} bits, not 255/256"
    if not why and sign_why:
        why = f"{sign_why}, so it cannot sign with the key"
    hashes = (HashChoice("", not sign_why, "CKM_EDDSA" if not sign_why else "", sign_why),)
    return KeyChoice("ed25519", not why, why, hashes, ED25519_WARNING)


def capabilities_from_mechanisms(mechanisms: Sequence[Any]) -> KeyCapabilities:
    """KeyCapabilities from a mechanism list (model.MechanismInfo): pure, for tests and the UI."""
    mechs = {int(m.code): m for m in mechanisms}
    choices = [_rsa_choice(mechs, b) for b in names.RSA_SIZES]
    choices += [_ec_choice(mechs, c.name, c.bits) for c in names.generated_ec_curves()]
    choices.append(_ed25519_choice(mechs))
    return KeyCapabilities(tuple(choices))


def capabilities(backend: Backend, slot_id: int) -> KeyCapabilities:
    """Which key types and hashes this token can generate and sign with, from its mechanism list."""
    return capabilities_from_mechanisms(backend.mechanisms(slot_id))
