"""Direct python-pkcs11 calls for one module. Only the module's owner thread may call this.

Everything returned is a frozen dataclass from `model`; python-pkcs11 handles, sessions and
generators never leave this module.
"""

from __future__ import annotations

import ctypes
import os
import struct
import time
from struct import error as struct_error
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import pkcs11
import pkcs11.exceptions as p11x
from asn1crypto.core import ObjectIdentifier, OctetString, PrintableString
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass, TokenFlag
from pkcs11.attributes import AttributeMapper

from ikm_tui.core import uri as uris
from ikm_tui.core.errors import IkmError, from_exception
from ikm_tui.core.p11.lockout import LoginResult, after_failure, check_before_login
from ikm_tui.core.model import (
    Listing,
    MechanismInfo,
    ModuleInfo,
    ObjClass,
    ObjectInfo,
    PinState,
    SlotInfo,
    TokenInfo,
)
from ikm_tui.core.p11.modules import canonical
from ikm_tui.core.p11.calltrace import Sink, ckr_name, interpose
from ikm_tui.core.p11.fastpath import BatchError, RawObjects, Template
from ikm_tui.core.p11 import stderr_capture
from ikm_tui.core.p11.quirks import quirks_for
from ikm_tui.core.p11.tokeninfo import RawModule
from ikm_tui.core.pairing import pair_objects
from ikm_tui.core.pin import Pin

_CLASS_MAP = {
    ObjectClass.PRIVATE_KEY: ObjClass.PRIVATE_KEY,
    ObjectClass.PUBLIC_KEY: ObjClass.PUBLIC_KEY,
    ObjectClass.CERTIFICATE: ObjClass.CERTIFICATE,
    ObjectClass.SECRET_KEY: ObjClass.SECRET_KEY,
    ObjectClass.DATA: ObjClass.DATA,
}

_CLASS_ORDER = {ObjClass.CERTIFICATE: 0, ObjClass.PRIVATE_KEY: 1, ObjClass.PUBLIC_KEY: 2,
                ObjClass.SECRET_KEY: 3, ObjClass.DATA: 4, ObjClass.OTHER: 5}

_KEY_TYPE_NAMES = {
    KeyType.RSA: "rsa",
    KeyType.EC: "ec",
    KeyType.EC_EDWARDS: "ed25519",
    KeyType.DSA: "dsa",
    KeyType.DH: "dh",
    KeyType.AES: "aes",
    KeyType.DES3: "des3",
    KeyType.GENERIC_SECRET: "generic",
}

_CURVE_OIDS = {
    "1.2.840.10045.3.1.7": "p256",
    "1.3.132.0.34": "p384",
    "1.3.132.0.35": "p521",
    "1.3.132.0.10": "secp256k1",
    "1.3.36.3.3.2.8.1.1.7": "brainpoolP256r1",
    "1.3.36.3.3.2.8.1.1.11": "brainpoolP384r1",
    "1.3.36.3.3.2.8.1.1.13": "brainpoolP512r1",
    "1.3.101.112": "ed25519",
    "1.3.101.113": "ed448",
}
_CURVE_BITS = {"p256": 256, "p384": 384, "p521": 521, "secp256k1": 256, "brainpoolP256r1": 256,
               "brainpoolP384r1": 384, "brainpoolP512r1": 512, "ed25519": 256, "ed448": 456}

_KEY_FLAG_ATTRS = [
    (Attribute.SENSITIVE, "sensitive"),
    (Attribute.EXTRACTABLE, "extractable"),
    (Attribute.NEVER_EXTRACTABLE, "never_extractable"),
    (Attribute.ALWAYS_SENSITIVE, "always_sensitive"),
    (Attribute.LOCAL, "local"),
    (Attribute.SIGN, "sign"),
    (Attribute.VERIFY, "verify"),
    (Attribute.ENCRYPT, "encrypt"),
    (Attribute.DECRYPT, "decrypt"),
    (Attribute.WRAP, "wrap"),
    (Attribute.UNWRAP, "unwrap"),
    (Attribute.DERIVE, "derive"),
    (Attribute.MODIFIABLE, "modifiable"),
]
_COMMON = [Attribute.CLASS, Attribute.LABEL, Attribute.ID, Attribute.PRIVATE]
_KEY_ATTRS = _COMMON + [Attribute.KEY_TYPE] + [a for a, _ in _KEY_FLAG_ATTRS]
_ATTRS_BY_CLASS: dict[Any, list[Attribute]] = {
    ObjectClass.PRIVATE_KEY: _KEY_ATTRS + [Attribute.MODULUS, Attribute.EC_PARAMS],
    ObjectClass.PUBLIC_KEY: _KEY_ATTRS + [Attribute.MODULUS, Attribute.MODULUS_BITS,
                                          Attribute.EC_PARAMS, Attribute.EC_POINT],
    ObjectClass.SECRET_KEY: _KEY_ATTRS + [Attribute.VALUE_LEN],
    ObjectClass.CERTIFICATE: _COMMON + [Attribute.VALUE, Attribute.CERTIFICATE_CATEGORY,
                                        Attribute.TRUSTED],
    ObjectClass.DATA: _COMMON + [Attribute.APPLICATION, Attribute.VALUE],
}

# The first read of every object asks for all of these; CKA_VALUE is read apart (see
# Backend._list_batched).
_UNION = list(dict.fromkeys(a for attrs in _ATTRS_BY_CLASS.values() for a in attrs
                            if a != Attribute.VALUE))
_UNION_SET = frozenset(int(a) for a in _UNION)
_WANTED_BY_CLASS = {k: frozenset(int(a) for a in v) for k, v in _ATTRS_BY_CLASS.items()}
_COMMON_SET = frozenset(int(a) for a in _COMMON)


_ULONG_SIZE = struct.calcsize("L")


def _ulong_pack(value: int) -> bytes:
    return struct.pack("L", int(value))


def _ulong_unpack(data: bytes) -> int:
    return int(struct.unpack("L", data)[0]) if len(data) == _ULONG_SIZE else 0


_CLASS_UNMAP = {v: k for k, v in _CLASS_MAP.items()}
# Buffers big enough for nearly every object, so one C_GetAttributeValue reads it; a bigger value
# (a certificate over 8 KiB, say) costs one size query and one more read, nothing else.
_BUFFER_SIZES = {
    Attribute.LABEL: 256, Attribute.ID: 256, Attribute.APPLICATION: 256,
    Attribute.MODULUS: 1024, Attribute.EC_PARAMS: 256, Attribute.EC_POINT: 512,
    Attribute.VALUE: 8192,
}
_ULONG_ATTRS = {Attribute.CLASS, Attribute.KEY_TYPE, Attribute.MODULUS_BITS, Attribute.VALUE_LEN,
                Attribute.CERTIFICATE_CATEGORY}


# Values that become enum members: a vendor class or key type has none.
_ENUM_ATTRS = {Attribute.CLASS, Attribute.KEY_TYPE}


def _tolerant(unpack: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def tolerant(value: bytes) -> Any:
        try:
            return unpack(value)
        except (ValueError, struct_error):
            return _ulong_unpack(value)

    return tolerant


_DATA_NO_ID = frozenset({int(Attribute.ID)})
_RSA_ONLY = frozenset({int(Attribute.MODULUS), int(Attribute.MODULUS_BITS)})
_EC_ONLY = frozenset({int(Attribute.EC_PARAMS), int(Attribute.EC_POINT)})


def _template(attrs: list[Attribute]) -> Template:
    """A read template reused for every object of a class (made per listing: it owns buffers)."""
    sizes = [_BUFFER_SIZES.get(a, _ULONG_SIZE if a in _ULONG_ATTRS else 1) for a in attrs]
    fixed = [a not in _BUFFER_SIZES for a in attrs]
    return Template([int(a) for a in attrs], sizes, fixed)


def _not_applicable(values: dict[int, Any]) -> frozenset[int]:
    """Attributes of the union template this object does not have: absent, not too big.

    The class decides (a certificate has no CKA_MODULUS), then the key type (PKCS#11 §2.3/§2.4:
    an EC key has no modulus, an RSA key no EC point).
    """
    klass = values.get(int(Attribute.CLASS))
    skip = _UNION_SET - _WANTED_BY_CLASS.get(klass, _COMMON_SET)
    if klass == ObjectClass.DATA:
        skip |= _DATA_NO_ID  # PKCS#11 §4.5: data objects have no CKA_ID (SoftHSM: TYPE_INVALID)
    kt = values.get(int(Attribute.KEY_TYPE))
    if kt == KeyType.RSA:
        return skip | _EC_ONLY
    if kt in (KeyType.EC, KeyType.EC_EDWARDS):
        return skip | _RSA_ONLY
    return skip


def _tolerant_str(data: bytes) -> str:
    # A token is untrusted input: a label that is not UTF-8 must not abort the whole listing
    # (python-pkcs11's strict decode raises UnicodeDecodeError). The sanitizer escapes the rest.
    return bytes(data).decode("utf-8", "backslashreplace")


def make_mapper() -> AttributeMapper:
    """python-pkcs11 has no handler for CKA_CERTIFICATE_CATEGORY; register one."""
    mapper = AttributeMapper()
    mapper.register_handler(Attribute.CERTIFICATE_CATEGORY, _ulong_pack, _ulong_unpack)
    for attr in (Attribute.LABEL, Attribute.APPLICATION):
        mapper.register_handler(attr, lambda s: s.encode("utf-8"), _tolerant_str)
    return mapper


def unwrap_ec_point(raw: bytes) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING around the point on SoftHSM/OpenSC; some give it raw."""
    if raw and raw[0] == 0x04:
        try:
            octet = OctetString.load(raw)
            inner = octet.native
            if isinstance(inner, bytes) and len(octet.dump()) == len(raw):
                return inner
        except Exception:  # noqa: BLE001 - not DER: it is the raw point
            pass
    return raw


def curve_name(params: bytes | None) -> str | None:
    if not params:
        return None
    return _curve_name(bytes(params))


@lru_cache(maxsize=256)
def _curve_name(params: bytes) -> str | None:
    # Cached: a token holds thousands of keys on a handful of curves.
    try:
        oid = ObjectIdentifier.load(params).dotted
        return _CURVE_OIDS.get(oid, oid)
    except Exception:  # noqa: BLE001
        pass
    try:
        name = PrintableString.load(params).native
        return {"edwards25519": "ed25519", "edwards448": "ed448"}.get(name, name)
    except Exception:  # noqa: BLE001
        return params.hex()


def _flags_names(flags: Any, enum: Any) -> tuple[str, ...]:
    out = []
    for member in enum:
        if member.value and (int(flags) & member.value) == member.value and bin(member.value).count("1") == 1:
            out.append(member.name.lower())
    return tuple(out)


def _pin_state(flags: int) -> PinState:
    f = TokenFlag
    return PinState(
        user_count_low=bool(flags & f.USER_PIN_COUNT_LOW),
        user_final_try=bool(flags & f.USER_PIN_FINAL_TRY),
        user_locked=bool(flags & f.USER_PIN_LOCKED),
        user_to_be_changed=bool(flags & f.USER_PIN_TO_BE_CHANGED),
        so_count_low=bool(flags & f.SO_PIN_COUNT_LOW),
        so_final_try=bool(flags & f.SO_PIN_FINAL_TRY),
        so_locked=bool(flags & f.SO_PIN_LOCKED),
        so_to_be_changed=bool(flags & f.SO_PIN_TO_BE_CHANGED),
    )


# Errors meaning the token or our session is gone, as opposed to one unreadable attribute.
_GONE = (p11x.DeviceRemoved, p11x.TokenNotPresent, p11x.SessionHandleInvalid, p11x.SessionClosed,
         p11x.DeviceError)


class Backend:
    """One loaded module. Not thread-safe by design: the TokenService calls it from one thread."""

    def __init__(self, module_path: str) -> None:
        self.module_path = canonical(module_path)
        if not os.path.exists(self.module_path):
            raise IkmError(
                f"PKCS#11 module {module_path!r} does not exist.",
                "Give the path of an installed module with --module (e.g. "
                "/usr/lib/softhsm/libsofthsm2.so or /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so), "
                "or install the package that provides it.",
                operation="Loading the module",
            )
        # What the module prints while it loads (C_Initialize) is kept off the screen, and
        # is often the only reason given for a failure.
        fresh = self.module_path not in pkcs11._loaded  # noqa: SLF001 - python-pkcs11 keeps one lib per path
        started = time.monotonic()
        with stderr_capture.capture() as said:
            try:
                self.lib = pkcs11.lib(self.module_path)
            except Exception as exc:  # noqa: BLE001
                load_exc: Exception | None = exc
            else:
                load_exc = None
        if load_exc is not None:
            raise _module_load_error(module_path, load_exc, said.lines()) from None
        self.load_messages = tuple(said.lines(20))
        # Every C_* call python-pkcs11 makes goes through recording shims (the Trace).
        self.calls = interpose(self.lib, (started, time.monotonic() - started) if fresh else None)
        self.raw = RawModule(self.module_path, ctypes.addressof(self.calls.table) if self.calls else None)
        self.mapper = make_mapper()
        # slot_id -> (session, logged_in). One session per token keeps handles stable.
        self._sessions: dict[int, tuple[Any, bool]] = {}
        # slot_id -> {handle: python-pkcs11 Object} from the last listing, for later actions.
        self._objects: dict[int, dict[int, Any]] = {}
        self._tokens: dict[int, Any] = {}

    # ----- module, slots, tokens -------------------------------------------------------------
    def module_info(self) -> ModuleInfo:
        lib = self.lib
        return ModuleInfo(
            path=self.module_path,
            description=lib.library_description.strip(),
            manufacturer=lib.manufacturer_id.strip(),
            library_version="%d.%d" % tuple(lib.library_version),
            cryptoki_version="%d.%d" % tuple(lib.cryptoki_version),
        )

    def rescan(self) -> list[SlotInfo]:
        """Close our sessions and re-initialise, so tokens made by other processes appear."""
        self._sessions.clear()
        self._objects.clear()
        self._tokens.clear()
        self.lib.reinitialize()
        return self.slots()

    def slots(self) -> list[SlotInfo]:
        out: list[SlotInfo] = []
        for slot in self.lib.get_slots(token_present=False):
            token_info: TokenInfo | None = None
            if slot.flags & pkcs11.SlotFlag.TOKEN_PRESENT:
                try:
                    token = slot.get_token()
                    self._tokens[slot.slot_id] = token
                    token_info = self._token_info(slot.slot_id, token)
                except p11x.TokenNotPresent:
                    token_info = None
            out.append(SlotInfo(
                slot_id=int(slot.slot_id),
                description=slot.slot_description.strip(),
                manufacturer=slot.manufacturer_id.strip(),
                flags=_flags_names(slot.flags, pkcs11.SlotFlag),
                token=token_info,
                module_path=self.module_path,
            ))
        return out

    def token_info(self, slot_id: int) -> TokenInfo:
        token = self._token(slot_id, refresh=True)
        return self._token_info(slot_id, token)

    def _token_info(self, slot_id: int, token: Any) -> TokenInfo:
        raw = self.raw.token_info(slot_id)
        flags = int(raw.flags) if raw else int(token.flags)
        return TokenInfo(
            label=token.label.strip(),
            manufacturer=token.manufacturer_id.strip(),
            model=token.model.strip(),
            serial=token.serial.decode("ascii", "backslashreplace").strip(),
            flags=_flags_names(flags, TokenFlag),
            # Uninitialised tokens report meaningless PIN flags.
            pin=_pin_state(flags) if flags & TokenFlag.TOKEN_INITIALIZED else PinState(),
            min_pin_len=raw.min_pin_len if raw else None,
            max_pin_len=raw.max_pin_len if raw else None,
            free_public_memory=raw.free_public_memory if raw else None,
            free_private_memory=raw.free_private_memory if raw else None,
            total_public_memory=raw.total_public_memory if raw else None,
            total_private_memory=raw.total_private_memory if raw else None,
            login_required=bool(flags & TokenFlag.LOGIN_REQUIRED),
            initialized=bool(flags & TokenFlag.TOKEN_INITIALIZED),
            write_protected=bool(flags & TokenFlag.WRITE_PROTECTED),
            protected_auth_path=bool(flags & TokenFlag.PROTECTED_AUTHENTICATION_PATH),
        )

    def _token(self, slot_id: int, refresh: bool = False) -> Any:
        if refresh or slot_id not in self._tokens:
            for slot in self.lib.get_slots(token_present=True):
                if slot.slot_id == slot_id:
                    self._tokens[slot_id] = slot.get_token()
                    break
            else:
                raise IkmError(
                    f"No token in slot {slot_id}.",
                    "Insert the token and rescan (key `r`), or run `ikm-tui tokens`.",
                    "CKR_TOKEN_NOT_PRESENT", 0xE0,
                )
        return self._tokens[slot_id]

    def find_slot(self, token: str | None) -> int:
        """Slot id for a --token label or pkcs11: URI; with None, the only/first initialised token."""
        slots = [s for s in self.slots() if s.token is not None and s.token.initialized]
        if not slots:
            raise IkmError(
                f"No initialised token is visible through {self.module_path}.",
                "Plug in the token (and start pcscd for smart cards), or initialise one, then rescan.",
                "CKR_TOKEN_NOT_PRESENT", 0xE0,
            )
        if token is None:
            return slots[0].slot_id
        sel = uris.parse_token_selector(token)
        for s in slots:
            assert s.token is not None
            if "token" in sel and s.token.label != sel["token"]:
                continue
            if "serial" in sel and s.token.serial != sel["serial"]:
                continue
            if "manufacturer" in sel and s.token.manufacturer != sel["manufacturer"]:
                continue
            if "model" in sel and s.token.model != sel["model"]:
                continue
            if "slot-id" in sel and str(s.slot_id) != sel["slot-id"]:
                continue
            return s.slot_id
        labels = ", ".join(repr(s.token.label) for s in slots if s.token)
        raise IkmError(
            f"No token matches {token!r}. Tokens present: {labels}.",
            "Use one of those labels with --token (OpenSC names tokens \"UserPIN (<card label>)\"), "
            "or a pkcs11: URI from `ikm-tui tokens`.",
            "CKR_TOKEN_NOT_PRESENT", 0xE0,
        )

    def mechanisms(self, slot_id: int) -> list[MechanismInfo]:
        slot = self._token(slot_id).slot
        out: list[MechanismInfo] = []
        for mech in slot.get_mechanisms():
            try:
                info = slot.get_mechanism_info(mech)
                flags = _flags_names(info.flags, MechanismFlag)
                lo, hi = int(info.min_key_length), int(info.max_key_length)
            except p11x.PKCS11Error:
                flags, lo, hi = (), 0, 0
            name = mech.name if isinstance(mech, Mechanism) else f"0x{int(mech):08x}"
            out.append(MechanismInfo(f"CKM_{name}", int(mech), lo, hi, flags))
        out.sort(key=lambda m: m.name)
        return out

    # ----- sessions and login -----------------------------------------------------------------
    def session(self, slot_id: int) -> Any:
        """The session for this token, opening a public R/W (or R/O) one when none is open."""
        if slot_id in self._sessions:
            return self._sessions[slot_id][0]
        token = self._token(slot_id)
        rw = not (token.flags & TokenFlag.WRITE_PROTECTED)
        sess = token.open(rw=rw, attribute_mapper=self.mapper)
        self._sessions[slot_id] = (sess, False)
        return sess

    def is_logged_in(self, slot_id: int) -> bool:
        return self._sessions.get(slot_id, (None, False))[1]

    def login(self, slot_id: int, pin: Pin, allow_final_try: bool = False) -> LoginResult:
        """Exactly one C_Login, never retried. Refuses a locked token and, unless allowed, a
        FINAL_TRY one; returns a COUNT_LOW warning; after a failure re-reads the PIN flags."""
        if not isinstance(pin, Pin):
            raise TypeError("login() takes a Pin")
        info = self.token_info(slot_id)
        warning = check_before_login(info.pin, allow_final_try)
        if self.is_logged_in(slot_id):
            return LoginResult(info, info.pin, warning)
        # A public session must go first: python-pkcs11 opens a new session for the login.
        old = self._sessions.pop(slot_id, None)
        if old is not None:
            try:
                old[0].close()
            except p11x.PKCS11Error:
                pass
        token = self._token(slot_id)
        rw = not (token.flags & TokenFlag.WRITE_PROTECTED)
        try:
            sess = token.open(rw=rw, user_pin=pin.reveal(), attribute_mapper=self.mapper)
        except p11x.UserAlreadyLoggedIn:
            sess = token.open(rw=rw, attribute_mapper=self.mapper)
        except Exception as exc:  # noqa: BLE001
            # python-pkcs11 leaks the session it opened for the failed C_Login; free it, or a
            # later SO login fails with CKR_SESSION_READ_ONLY_EXISTS.
            self.raw.close_all_sessions(slot_id)
            self._objects.pop(slot_id, None)
            err = from_exception(exc, "Login")
            try:
                pin_after: PinState | None = self.token_info(slot_id).pin
            except Exception:  # noqa: BLE001 - the token may be gone; the login error matters more
                pin_after = None
            # Drop the exception chain: nothing of the C_Login call frame should travel on.
            raise after_failure(err, pin_after, self.module_path) from None
        self._sessions[slot_id] = (sess, True)
        self._objects.pop(slot_id, None)
        return LoginResult(self.token_info(slot_id), info.pin, warning)

    def forget_sessions(self) -> None:
        """The module invalidated our sessions (token reinserted): drop them without a login.

        The next call opens a public session; logging in again is the operator's decision.
        """
        for slot_id in list(self._sessions):
            # Frees the handles if the module still has them (no leaked R/O session).
            try:
                self.raw.close_all_sessions(slot_id)
            except Exception:  # noqa: BLE001 - the token may be gone
                pass
        self._sessions.clear()
        self._objects.clear()
        self._tokens.clear()

    def logout(self, slot_id: int) -> None:
        old = self._sessions.pop(slot_id, None)
        self._objects.pop(slot_id, None)
        if old is not None:
            try:
                old[0].close()
            except p11x.PKCS11Error:
                self.raw.close_all_sessions(slot_id)

    def close(self) -> None:
        for slot_id in list(self._sessions):
            self.logout(slot_id)

    # ----- objects ----------------------------------------------------------------------------
    # Off switch for the ctypes fast path (p11batch): tests that inject faults into
    # python-pkcs11 objects, or a module that misbehaves with it, use the plain path.
    batch_reads = True
    _raw_objects: RawObjects | None = None
    _raw_failed = False

    def list_objects(self, slot_id: int) -> Listing:
        sess = self.session(slot_id)
        token = self._token(slot_id)
        tinfo = self._token_info(slot_id, token)
        objects = self._list_batched(sess, tinfo)
        if objects is None:
            # Materialise the search at once: an open search holds the session (OperationActive).
            found = list(sess.get_objects())
            objects = []
            handles: dict[int, Any] = {}
            for obj in found:
                handles[obj.handle] = obj
                objects.append(self._describe(obj, tinfo))
            self._objects[slot_id] = handles
        else:
            # No python-pkcs11 Object yet: pkcs11_object() makes one when an action needs it.
            self._objects[slot_id] = {o.handle: o for o in objects}
        # A stable order for screens and scripts: by class, then label, then CKA_ID.
        objects.sort(key=lambda o: (_CLASS_ORDER.get(o.cls, 9), o.label, o.id, o.handle))
        return Listing(
            token=tinfo,
            slot_id=slot_id,
            objects=tuple(objects),
            pairing=pair_objects(objects),
            logged_in=self.is_logged_in(slot_id),
        )

    def set_call_sink(self, sink: Sink | None) -> None:
        """Where every PKCS#11 call is recorded (None: nowhere); the service sets it."""
        if self.calls is not None:
            self.calls.set_sink(sink)

    def _note(self, what: str, why: str) -> None:
        if self.calls is not None:
            self.calls.emit(what, why, "-", time.monotonic(), 0.0)

    def _batch(self) -> RawObjects | None:
        if not self.batch_reads or self._raw_failed:
            return None
        if self._raw_objects is None:
            try:
                self._raw_objects = RawObjects(self.module_path, hold_gil=self._in_memory_module(),
                                               function_list=self.calls.real_address if self.calls else None)
            except (OSError, AttributeError, BatchError) as exc:
                self._raw_failed = True
                self._note("fast-path", f"unavailable, listing through python-pkcs11: {exc}")
                return None
            if self.calls is not None:
                self._raw_objects.record = self.calls.emit
        return self._raw_objects

    def _in_memory_module(self) -> bool:
        """SoftHSM: a software token whose calls never wait on a device (see RawObjects)."""
        try:
            return self.lib.manufacturer_id.strip() == "SoftHSM"
        except Exception:  # noqa: BLE001 - unknown: treat it as hardware
            return False

    def _list_batched(self, sess: Any, tinfo: TokenInfo) -> list[ObjectInfo] | None:
        """All objects: one search, one C_GetAttributeValue per object (two for certificates).

        Searches cost more than reads on SoftHSM (it checks every object of the token on each
        pass: ~0.1 s per pass at 5,000 objects), so there is one search for everything, and the
        first read asks for the union of the class attributes: the class says which of them
        apply. CKA_VALUE is left out of that union (on a key it is secret material) and read
        only for certificates and data objects.

        None when the fast path is unavailable or the module returned an error: the caller then
        lists through python-pkcs11, which maps the error (or succeeds where we could not).
        """
        raw = self._batch()
        if raw is None or not isinstance(sess, pkcs11.Session):
            # A wrapped session (faults.py injects failures into python-pkcs11 calls) must see
            # every call, so it takes the python-pkcs11 path.
            return None
        h = int(sess.handle)
        unpack = self._unpackers()
        first = _template(_UNION)
        value_tpl = _template([Attribute.VALUE])
        objects: list[ObjectInfo] = []
        try:
            with_value = self._valued_handles(raw, h)
            first_valued = _template([*_UNION, Attribute.VALUE]) if with_value else first
            for x in raw.find(h):
                valued = x in with_value
                values = raw.read(h, x, first_valued if valued else first, unpack, _not_applicable)
                klass = values.get(Attribute.CLASS)
                if klass is None:  # not even a class: let python-pkcs11 read it as before
                    return None
                wanted = _WANTED_BY_CLASS.get(klass, _COMMON_SET)
                attrs = {a: v for a, v in values.items() if a in wanted}
                if Attribute.VALUE in wanted and not valued:
                    attrs.update(raw.read(h, x, value_tpl, unpack))
                objects.append(self._describe_attrs(klass, attrs, x, tinfo))
        except BatchError as exc:
            self._note("fast-path", f"fell back to python-pkcs11: {exc.function} returned "
                       f"{ckr_name(exc.rv)}")
            return None
        return objects

    def _valued_handles(self, raw: RawObjects, h: int) -> set[int]:
        """Certificates and data objects, found by class first, on remote modules only.

        Why: through p11-kit-client every call is one round trip, and these objects need
        CKA_VALUE, which the union read leaves out (on a key it is secret material). Two more
        searches then save one read per certificate (listing: objects + 12 calls, not 2 x
        objects). Local modules keep the single search (a search pass costs more than a read).
        """
        if not quirks_for(self.module_path).remote:
            return set()
        out: set[int] = set()
        for klass in (ObjectClass.CERTIFICATE, ObjectClass.DATA):
            out.update(raw.find(h, [(int(Attribute.CLASS), _ulong_pack(klass))]))
        return out

    def _unpackers(self) -> dict[int, Callable[[bytes], Any]]:
        """The mapper's unpack function for every attribute the listing reads, looked up once."""
        out: dict[int, Callable[[bytes], Any]] = {}
        for attr in [*_UNION, Attribute.VALUE]:
            unpack = self.mapper.attribute_types[attr][1]
            if attr in _ENUM_ATTRS:
                unpack = _tolerant(unpack)
            out[int(attr)] = unpack
        return out

    def _describe(self, obj: Any, tinfo: TokenInfo) -> ObjectInfo:
        # python-pkcs11 sets object_class = None on objects it has no class for (CKO_DATA).
        klass = getattr(obj, "object_class", None)
        if klass is None:
            klass = obj[Attribute.CLASS]
        wanted = _ATTRS_BY_CLASS.get(klass, _COMMON)
        try:
            attrs = obj.get_attributes(wanted)
        except _GONE:
            raise  # the token went away mid-listing: never list a half-read object as complete
        except p11x.PKCS11Error:
            attrs = {}
            for a in wanted:
                try:
                    attrs[a] = obj[a]
                except _GONE:
                    raise
                except Exception:  # noqa: BLE001 - the attribute is unavailable on this object
                    pass
        return self._describe_attrs(klass, attrs, int(obj.handle), tinfo)

    def _describe_attrs(self, klass: Any, attrs: dict[Any, Any], handle: int,
                        tinfo: TokenInfo) -> ObjectInfo:
        cls = _CLASS_MAP.get(klass, ObjClass.OTHER)
        label = attrs.get(Attribute.LABEL) or ""
        obj_id = attrs.get(Attribute.ID) or b""
        fields: dict[str, Any] = {
            "cls": cls,
            "label": label,
            "id": bytes(obj_id),
            "handle": handle,
            "uri": uris.object_uri(tinfo.label, tinfo.serial, cls.value, label, bytes(obj_id)),
            "private": bool(attrs.get(Attribute.PRIVATE, False)),
        }
        if cls in (ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY, ObjClass.SECRET_KEY):
            kt = attrs.get(Attribute.KEY_TYPE)
            key_type = _KEY_TYPE_NAMES.get(kt, getattr(kt, "name", str(kt)).lower()) if kt is not None else None
            fields["flags"] = tuple(name for a, name in _KEY_FLAG_ATTRS if attrs.get(a))
            modulus = attrs.get(Attribute.MODULUS)
            if modulus:
                fields["bits"] = int(attrs.get(Attribute.MODULUS_BITS) or len(modulus) * 8)
                fields["public_key_id"] = modulus.lstrip(b"\x00").hex()
            curve = curve_name(attrs.get(Attribute.EC_PARAMS))
            if curve:
                fields["curve"] = curve
                fields["bits"] = _CURVE_BITS.get(curve)
                if curve in ("ed25519", "ed448"):
                    key_type = curve
            point = attrs.get(Attribute.EC_POINT)
            if point:
                fields["public_key_id"] = unwrap_ec_point(bytes(point)).hex()
            if cls is ObjClass.SECRET_KEY and attrs.get(Attribute.VALUE_LEN):
                fields["bits"] = int(attrs[Attribute.VALUE_LEN]) * 8
            fields["key_type"] = key_type
        elif cls is ObjClass.CERTIFICATE:
            # Imported here, not at the top: the CLI imports cryptography on its main thread
            # while this thread loads the module (see cliutil.open_token).
            from ikm_tui.core.x509.info import parse_certificate

            value = attrs.get(Attribute.VALUE)
            fields["value"] = bytes(value) if value else b""
            fields["cert"] = parse_certificate(fields["value"])
            fields["public_key_id"] = fields["cert"].public_key_id
            fields["key_type"] = fields["cert"].key_type or None
            fields["bits"] = fields["cert"].bits
            fields["curve"] = fields["cert"].curve
            fields["cert_category"] = attrs.get(Attribute.CERTIFICATE_CATEGORY)
            fields["trusted"] = attrs.get(Attribute.TRUSTED)
        elif cls is ObjClass.DATA:
            value = attrs.get(Attribute.VALUE)
            fields["value"] = bytes(value) if value else b""
            fields["application"] = attrs.get(Attribute.APPLICATION)
        return ObjectInfo(**fields)

    def pkcs11_object(self, slot_id: int, handle: int) -> Any:
        """The live object for a handle from the last listing (owner thread only)."""
        try:
            entry = self._objects[slot_id][handle]
        except KeyError:
            raise _stale_object() from None
        if not isinstance(entry, ObjectInfo):
            return entry
        # Listed by the fast path: find the python-pkcs11 Object for the handle, narrowing the
        # search by class and CKA_ID (or label) so it reads few objects.
        template: dict[Any, Any] = {}
        klass = _CLASS_UNMAP.get(entry.cls)
        if klass is not None:
            template[Attribute.CLASS] = klass
            if entry.id:
                template[Attribute.ID] = entry.id
            elif entry.label:
                template[Attribute.LABEL] = entry.label
        for obj in list(self.session(slot_id).get_objects(template)):
            if int(obj.handle) == handle:
                self._objects[slot_id][handle] = obj
                return obj
        raise _stale_object()


def _stale_object() -> IkmError:
    return IkmError(
        "That object is no longer on the token (or the list is stale).",
        "Refresh (key `r`) and select it again.",
        "CKR_OBJECT_HANDLE_INVALID", 0x82,
    )


def _module_load_error(path: str, exc: BaseException, said: list[str] | None = None) -> IkmError:
    err = _load_error_text(path, exc)
    hint = quirks_for(path).load_hint
    if hint and "C_Initialize" in err.cause:
        err = IkmError(err.cause, hint, err.ckr_name, err.ckr_code, err.operation)
    if said:
        # The module's own words (first lines of its stderr while loading): often the only reason.
        return IkmError(f"{err.cause.rstrip('.')}. The module said: {' | '.join(said)}", err.next_step,
                        err.ckr_name, err.ckr_code, err.operation)
    return err


def _load_error_text(path: str, exc: BaseException) -> IkmError:
    msg = " ".join(str(a) for a in getattr(exc, "args", ())) or str(exc)
    if not msg:
        # python-pkcs11 raises C_Initialize's code as a bare exception class (no message).
        mapped = from_exception(exc)
        msg = f"C_Initialize returned {mapped.ckr_name or type(exc).__name__}"
    low = msg.lower()
    if "wrong elf class" in low or "elfclass" in low or "cannot open shared object file: no such file" not in low and "architecture" in low:
        return IkmError(
            f"{path} is built for another architecture ({msg}).",
            "Install the module for this machine's architecture (e.g. the amd64 package on x86_64).",
            operation="Loading the module",
        )
    if "invalid elf header" in low or "file too short" in low or "not a dynamic executable" in low:
        return IkmError(
            f"{path} is not a shared library ({msg}).",
            "Point --module at the PKCS#11 .so file, not a config file or script.",
            operation="Loading the module",
        )
    if "c_getfunctionlist" in low or "undefined symbol" in low:
        return IkmError(
            f"{path} is a shared library but not a PKCS#11 module ({msg}).",
            "Use the module's PKCS#11 library (e.g. libsofthsm2.so, opensc-pkcs11.so, libykcs11.so).",
            operation="Loading the module",
        )
    if "cannot open shared object" in low or "no such file" in low:
        return IkmError(
            f"{path} could not be opened ({msg}).",
            "Check the path and that the libraries it depends on are installed (`ldd PATH`).",
            operation="Loading the module",
        )
    return IkmError(f"{path} failed to load: {msg}", "Check the module path and its logs.",
                    operation="Loading the module")
