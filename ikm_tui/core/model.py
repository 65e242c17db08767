"""Plain frozen dataclasses that the token service returns: no handles, no generators."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum


class ObjClass(str, Enum):
    PRIVATE_KEY = "private_key"
    PUBLIC_KEY = "public_key"
    CERTIFICATE = "certificate"
    SECRET_KEY = "secret_key"
    DATA = "data"
    OTHER = "other"


@dataclass(frozen=True)
class ModuleInfo:
    path: str
    description: str = ""
    manufacturer: str = ""
    library_version: str = ""
    cryptoki_version: str = ""
    error: str | None = None  # set when the module could not be loaded


@dataclass(frozen=True)
class PinState:
    """Token PIN flags, read from C_GetTokenInfo before every login."""

    user_count_low: bool = False
    user_final_try: bool = False
    user_locked: bool = False
    user_to_be_changed: bool = False
    so_count_low: bool = False
    so_final_try: bool = False
    so_locked: bool = False
    so_to_be_changed: bool = False

    def badges(self) -> list[str]:
        out: list[str] = []
        if self.user_locked:
            out.append("LOCKED")
        elif self.user_final_try:
            out.append("FINAL TRY")
        elif self.user_count_low:
            out.append("PIN COUNT LOW")
        if self.user_to_be_changed:
            out.append("PIN TO BE CHANGED")
        if self.so_locked:
            out.append("SO LOCKED")
        elif self.so_final_try:
            out.append("SO FINAL TRY")
        return out


@dataclass(frozen=True)
class TokenInfo:
    label: str
    manufacturer: str
    model: str
    serial: str
    flags: tuple[str, ...]
    pin: PinState
    min_pin_len: int | None = None
    max_pin_len: int | None = None
    free_public_memory: int | None = None
    free_private_memory: int | None = None
    total_public_memory: int | None = None
    total_private_memory: int | None = None
    login_required: bool = True
    initialized: bool = True
    write_protected: bool = False
    protected_auth_path: bool = False


@dataclass(frozen=True)
class SlotInfo:
    slot_id: int
    description: str
    manufacturer: str
    flags: tuple[str, ...]
    token: TokenInfo | None
    module_path: str = ""


@dataclass(frozen=True)
class MechanismInfo:
    name: str
    code: int
    min_key: int
    max_key: int
    flags: tuple[str, ...]


@dataclass(frozen=True)
class CertFields:
    """What a certificate says, parsed tolerantly. `error` is set when DER did not parse."""

    subject: str = ""
    issuer: str = ""
    serial: str = ""  # lowercase hex, with a leading '-' when negative
    not_before: datetime | None = None
    not_after: datetime | None = None
    sans: tuple[str, ...] = ()
    key_usage: tuple[str, ...] = ()
    eku: tuple[str, ...] = ()
    is_ca: bool | None = None  # None: no basicConstraints extension
    path_len: int | None = None
    sha256: str = ""
    sha1: str = ""
    key_type: str = ""
    bits: int | None = None
    curve: str | None = None
    signature_algorithm: str = ""
    version: int | None = None
    public_key_id: str | None = None  # hex of modulus or EC point, for pairing
    self_signed: bool = False
    error: str | None = None


@dataclass(frozen=True)
class ObjectInfo:
    """One object on the token. `handle` is valid only within the session that listed it."""

    cls: ObjClass
    label: str
    id: bytes
    handle: int
    uri: str
    private: bool = False
    key_type: str | None = None  # rsa | ec | ed25519 | aes | ...
    bits: int | None = None
    curve: str | None = None
    flags: tuple[str, ...] = ()  # sensitive, extractable, local, sign, decrypt, ...
    # Key identity for pairing: RSA modulus or EC point, lowercase hex.
    public_key_id: str | None = None
    cert: CertFields | None = None
    value: bytes | None = None  # certificate DER / data object value
    application: str | None = None  # data objects
    cert_category: int | None = None
    trusted: bool | None = None
    # No CKA_ID attribute at all (CKR_ATTRIBUTE_TYPE_INVALID), not an empty one: tpm2-pkcs11 stores a
    # certificate written without an ID that way, and Java's SunPKCS11 then cannot load the token.
    id_absent: bool = False

    @property
    def id_hex(self) -> str:
        return self.id.hex()


@dataclass(frozen=True)
class Pairing:
    """Who belongs to whom. Keys of the maps are object handles."""

    cert_to_key: dict[int, int] = field(default_factory=dict)  # cert -> private key
    key_to_cert: dict[int, list[int]] = field(default_factory=dict)  # private key -> certs
    private_to_public: dict[int, int] = field(default_factory=dict)
    public_to_private: dict[int, int] = field(default_factory=dict)
    id_mismatch: dict[int, int] = field(default_factory=dict)  # cert -> key, same public key, other CKA_ID
    markers: dict[int, str] = field(default_factory=dict)  # handle -> '-' | '!' | '#' | ''
    # cert -> private key paired by the same CKA_ID only: the key shows no public key to compare.
    by_id_only: dict[int, int] = field(default_factory=dict)
    # cert -> public-key object with the cert's public key (what is visible before login).
    cert_to_public: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Listing:
    """A complete object listing of one token (a listing cut short raises instead); or, handed to a
    list_objects progress callback only, a preview of the objects read so far."""

    token: TokenInfo
    slot_id: int
    objects: tuple[ObjectInfo, ...]
    pairing: Pairing
    logged_in: bool

    def by_handle(self, handle: int) -> ObjectInfo | None:
        # An index built on first use: `list --json` asks once per certificate, and a linear
        # scan made that quadratic (0.2 s at 5,000 objects).
        index = self.__dict__.get("_by_handle")
        if index is None:
            index = {obj.handle: obj for obj in self.objects}
            object.__setattr__(self, "_by_handle", index)
        return index.get(handle)
