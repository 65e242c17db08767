"""What receiving a certificate reads and writes: plain frozen dataclasses (preview, result, refs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ikm_tui.core.model import CertFields, ObjectInfo


@dataclass(frozen=True)
class KeyRef:
    """A private key on the token, as the preview shows it."""

    label: str
    id: bytes
    key_type: str | None
    handle: int
    public_handle: int | None = None

    @property
    def id_hex(self) -> str:
        return self.id.hex()


@dataclass(frozen=True)
class CertRef:
    """A certificate (in the file or on the token) with its parsed fields."""

    der: bytes
    fields: CertFields
    label: str = ""
    id: bytes = b""
    handle: int | None = None  # set for certs on the token
    category: int | None = None


@dataclass(frozen=True)
class ChainEntry:
    cert: CertRef
    label: str  # label it will get on the token
    action: str  # "store" | "present" (same DER already on the token) | "ignored (not a CA)"


@dataclass(frozen=True)
class ReceivePreview:
    """What `apply_receive` will do; nothing has been written yet."""

    source_format: str
    leaf: CertRef
    key: KeyRef
    label: str  # the label the cert gets (the key's)
    match: str  # "modulus" | "public-key object" | "sign-and-verify challenge"
    existing: tuple[CertRef, ...]  # certs now on the token for this key / CKA_ID
    chain: tuple[ChainEntry, ...]
    pending_requests: tuple[ObjectInfo, ...]  # DATA objects removed as fulfilled
    warnings: tuple[str, ...] = ()
    token_ca_certs: tuple[bytes, ...] = ()  # CA certs on the token when previewed, for the chain check

    @property
    def needs_replace(self) -> bool:
        return bool(self.existing)


@dataclass(frozen=True)
class ReceiveResult:
    written: CertRef
    removed: tuple[CertRef, ...] = ()
    chain_written: tuple[CertRef, ...] = ()
    chain_skipped: tuple[CertRef, ...] = ()
    requests_removed: tuple[ObjectInfo, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


# ----- helpers ---------------------------------------------------------------------------------
