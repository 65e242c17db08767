"""Direct python-pkcs11 calls for one module. Only the module's owner thread may call this.

Everything returned is a frozen dataclass from `model`; python-pkcs11 handles, sessions and
generators never leave this module.
"""

from __future__ import annotations

import contextlib
import ctypes
import time
from collections.abc import Callable

import pkcs11
import pkcs11.exceptions as p11x
from pkcs11 import Attribute, Object, Session, Token, TokenFlag

from ikm_tui.core import uri as uris
from ikm_tui.core.errors import IkmError, from_exception
from ikm_tui.core.p11.lockout import LoginResult, after_failure, check_before_login
from ikm_tui.core.model import Listing, MechanismInfo, ModuleInfo, ObjectInfo, PinState, SlotInfo, TokenInfo
from ikm_tui.core.p11.attributes import (
    ATTRS_BY_CLASS,
    CLASS_ORDER,
    CLASS_UNMAP,
    COMMON_SET,
    UNION,
    WANTED_BY_CLASS,
    describe_attrs,
    flags_names,
    handle_of,
    make_mapper,
    not_applicable,
    pin_state,
    read_template,
    unpackers,
)
from ikm_tui.core.p11.modules import canonical
from ikm_tui.core.p11.fastpath import BatchError, RawObjects
from ikm_tui.core.p11.calltrace import Sink, ckr_name
from ikm_tui.core.p11.loader import load_library, valued_handles
from ikm_tui.core.p11.mechlist import MechanismCache
from ikm_tui.core.p11.progress import Previews, Progress
from ikm_tui.core.p11.quirks import quirks_for
from ikm_tui.core.p11.remote import remote_environment
from ikm_tui.core.p11.tokeninfo import RawModule, RawTokenInfo, read_token
from ikm_tui.core.p11.unreadable import describe_object, describe_or_unreadable, read_or_unreadable
from ikm_tui.core.pairing import pair_objects
from ikm_tui.core.pin import Pin, pin_problem
from ikm_tui.core.x509 import certcache


class Backend:
    """One loaded module. Not thread-safe by design: the TokenService calls it from one thread."""

    def __init__(self, module_path: str) -> None:
        self.module_path = canonical(module_path)
        loaded = load_library(self.module_path, module_path)
        self.lib, self.load_messages, self.calls = loaded.lib, loaded.messages, loaded.calls
        self.raw = RawModule(self.module_path, ctypes.addressof(self.calls.table) if self.calls else None)
        if self.calls is not None:
            self.calls.on_token_info = self.raw.remember  # one C_GetTokenInfo per token read (taken())
        self.mapper = make_mapper()
        # slot_id -> (session, logged_in). One session per token keeps handles stable.
        self._sessions: dict[int, tuple[Session, bool]] = {}
        # slot_id -> {handle: python-pkcs11 Object} from the last listing, for later actions.
        # Entries listed by the fast path are ObjectInfo until an action needs the Object.
        self._objects: dict[int, dict[int, Object | ObjectInfo]] = {}
        self._tokens: dict[int, Token] = {}
        self._slots_read: tuple[float, list[SlotInfo]] = (float("-inf"), [])
        self._mechs = MechanismCache(quirks_for(self.module_path).remote)

    # ----- module, slots, tokens -------------------------------------------------------------
    def module_info(self) -> ModuleInfo:
        lib = self.lib
        return ModuleInfo(
            path=self.module_path,
            description=lib.library_description.strip(),
            manufacturer=lib.manufacturer_id.strip(),
            library_version="{}.{}".format(*lib.library_version),
            cryptoki_version="{}.{}".format(*lib.cryptoki_version),
        )

    def rescan(self) -> list[SlotInfo]:
        """Close our sessions and re-initialise, so tokens made by other processes appear."""
        self._sessions.clear()
        self._objects.clear()
        self._tokens.clear()
        self._mechs.clear()
        with remote_environment(self.module_path):  # a remote's client may start its command again
            self.lib.reinitialize()
        return self.slots()

    def slots(self) -> list[SlotInfo]:
        out: list[SlotInfo] = []
        for slot in self.lib.get_slots(token_present=False):
            token_info: TokenInfo | None = None
            if slot.flags & pkcs11.SlotFlag.TOKEN_PRESENT:
                try:
                    token = read_token(slot)
                    self._tokens[slot.slot_id] = token
                    token_info = self._token_info(slot.slot_id, token, self.raw.taken(slot.slot_id))
                except p11x.TokenNotPresent:
                    token_info = None
            out.append(SlotInfo(
                slot_id=int(slot.slot_id),
                description=slot.slot_description.strip(),
                manufacturer=slot.manufacturer_id.strip(),
                flags=flags_names(slot.flags, pkcs11.SlotFlag),
                token=token_info,
                module_path=self.module_path,
            ))
        self._slots_read = (time.monotonic(), out)
        return out

    def _recent_slots(self) -> list[SlotInfo]:
        """slots(); on a remote module the list read within the last second (it costs ~10 round trips)."""
        at, read = self._slots_read
        return read if quirks_for(self.module_path).remote and time.monotonic() - at < 1.0 else self.slots()

    def token_info(self, slot_id: int) -> TokenInfo:
        token = self._token(slot_id, refresh=True)
        return self._token_info(slot_id, token, self.raw.taken(slot_id))

    def _token_info(self, slot_id: int, token: Token, raw: RawTokenInfo | None = None) -> TokenInfo:
        raw = raw or self.raw.token_info(slot_id)
        flags = int(raw.flags) if raw else int(token.flags)
        return TokenInfo(
            label=token.label.strip(),
            manufacturer=token.manufacturer_id.strip(),
            model=token.model.strip(),
            serial=token.serial.decode("ascii", "backslashreplace").strip(),
            flags=flags_names(flags, TokenFlag),
            # Uninitialised tokens report meaningless PIN flags.
            pin=pin_state(flags) if flags & TokenFlag.TOKEN_INITIALIZED else PinState(),
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

    def _token(self, slot_id: int, refresh: bool = False) -> Token:
        if refresh or slot_id not in self._tokens:
            for slot in self.lib.get_slots(token_present=True):
                if slot.slot_id == slot_id:
                    self._tokens[slot_id] = read_token(slot)
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
        slots = [s for s in self._recent_slots() if s.token is not None and s.token.initialized]
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
        """The token's mechanisms; on a remote module read once per token (core/p11/mechlist.py)."""
        return self._mechs.read(slot_id, self._token(slot_id).slot)

    # ----- sessions and login -----------------------------------------------------------------
    def session(self, slot_id: int) -> Session:
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

    def open_read_session(self, slot_id: int) -> Session:
        """A new read-only public session beside ours, to read back what a write did; close it after.

        Login state is per application, so private objects stay visible, and closing a session
        opened without a PIN does not log out.
        """
        return self._token(slot_id).open(rw=False, attribute_mapper=self.mapper)

    def login(self, slot_id: int, pin: Pin, allow_final_try: bool = False) -> LoginResult:
        """Exactly one C_Login, never retried. Refuses a locked token and, unless allowed, a
        FINAL_TRY one; returns a COUNT_LOW warning; after a failure re-reads the PIN flags."""
        if not isinstance(pin, Pin):
            raise TypeError("login() takes a Pin")
        info = self.token_info(slot_id)
        warning = check_before_login(info.pin, allow_final_try)
        # A PIN the token must reject (empty, wrong length, NUL, two lines) would cost a try.
        problem = pin_problem(pin, info.min_pin_len, info.max_pin_len)
        if problem is not None:
            raise IkmError(f"{problem} Nothing was sent to the token; no try was used.",
                           "Give the right PIN.", "CKR_PIN_LEN_RANGE", 0xA2, "Login")
        if self.is_logged_in(slot_id):
            return LoginResult(info, info.pin, warning)
        # A public session must go first: python-pkcs11 opens a new session for the login.
        old = self._sessions.pop(slot_id, None)
        if old is not None:
            with contextlib.suppress(p11x.PKCS11Error):
                old[0].close()
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
            with contextlib.suppress(Exception):  # the token may be gone
                self.raw.close_all_sessions(slot_id)
        self._sessions.clear()
        self._objects.clear()
        self._tokens.clear()
        self._mechs.clear()

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

    def list_objects(self, slot_id: int, progress: Progress | None = None) -> Listing:
        """Every object; `progress` gets previews (the objects so far) while it runs (core/p11/progress.py)."""
        sess = self.session(slot_id)
        token = self._token(slot_id)
        tinfo = self._token_info(slot_id, token)
        objects = self._list_batched(sess, tinfo, Previews(progress, tinfo, slot_id, self.is_logged_in(slot_id)))
        if objects is None:
            # Materialise the search at once: an open search holds the session (OperationActive).
            found = list(sess.get_objects())
            objects = []
            handles: dict[int, Object | ObjectInfo] = {}
            for obj in found:
                handles[handle_of(obj)] = obj
                objects.append(describe_or_unreadable(self._describe, obj, tinfo))
            self._objects[slot_id] = handles
        else:
            # No python-pkcs11 Object yet: pkcs11_object() makes one when an action needs it.
            self._objects[slot_id] = {o.handle: o for o in objects}
        certcache.flush()  # what was parsed for the first time, for the next listing
        # A stable order for screens and scripts: by class, then label, then CKA_ID.
        objects.sort(key=lambda o: (CLASS_ORDER.get(o.cls, 9), o.label, o.id, o.handle))
        logged_in = self.is_logged_in(slot_id)
        return Listing(
            token=tinfo,
            slot_id=slot_id,
            objects=tuple(objects),
            # Private keys are visible when logged in or when the token needs no login.
            pairing=pair_objects(objects, logged_in or not tinfo.login_required),
            logged_in=logged_in,
        )

    def set_call_sink(self, sink: Sink | None, wanted: Callable[[], bool] | None = None) -> None:
        """Where every PKCS#11 call is recorded (None: nowhere); the service sets it. `wanted()`:
        whether the sink keeps calls now (None: always); calls it would drop are not summarised."""
        if self.calls is not None:
            self.calls.set_sink(sink)
            self.calls.wanted = wanted

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
                self._raw_objects.recording = self.calls.recording
        return self._raw_objects

    def _in_memory_module(self) -> bool:
        """SoftHSM: a software token whose calls never wait on a device (see RawObjects)."""
        try:
            return bool(self.lib.manufacturer_id.strip() == "SoftHSM")
        except Exception:  # noqa: BLE001 - unknown: treat it as hardware
            return False

    def _list_batched(self, sess: Session, tinfo: TokenInfo, preview: Previews) -> list[ObjectInfo] | None:
        """All objects: a search for all, one for certificates (valued_handles), a read per object.

        A certificate is read with its class's attributes and CKA_VALUE; another object with the
        union of the class attributes (its class says which apply), without CKA_VALUE (on a key
        it is secret material; a data object's is read next).

        None when the fast path is unavailable or the module returned an error: the caller then
        lists through python-pkcs11, which maps the error (or succeeds where we could not).
        """
        raw = self._batch()
        if raw is None or not isinstance(sess, pkcs11.Session):
            # A wrapped session (faults.py injects failures into python-pkcs11 calls) must see
            # every call, so it takes the python-pkcs11 path.
            return None
        h = int(sess.handle)  # type: ignore[attr-defined]  # python-pkcs11 0.10.1's stub omits it
        unpack = unpackers(self.mapper)
        first = read_template(UNION)
        value_tpl = read_template([Attribute.VALUE])
        objects: list[ObjectInfo] = []
        try:
            with_value = valued_handles(raw, h, self.module_path)
            # Found by class: only its attributes (a certificate's 7, not 27: SoftHSM looks up each).
            by_class = {k: read_template(ATTRS_BY_CLASS[k]) for k in set(with_value.values())}
            for x in raw.find(h):
                known = with_value.get(x)
                valued = known is not None
                tpl = first if known is None else by_class[known]
                values = read_or_unreadable(tinfo, x, raw.read, h, x, tpl, unpack, not_applicable)
                if valued and isinstance(values, dict) and values.get(Attribute.CLASS) != known:
                    tpl = read_template([*UNION, Attribute.VALUE])  # another class since the search
                    values = read_or_unreadable(tinfo, x, raw.read, h, x, tpl, unpack, not_applicable)
                if isinstance(values, ObjectInfo):  # this object only: listed as unreadable
                    objects.append(values)
                    continue
                klass = values.get(Attribute.CLASS)
                if klass is None:  # not even a class: let python-pkcs11 read it as before
                    return None
                wanted = WANTED_BY_CLASS.get(klass, COMMON_SET)
                attrs = {a: v for a, v in values.items() if a in wanted}
                if Attribute.VALUE in wanted and not valued:
                    attrs.update(raw.read(h, x, value_tpl, unpack))
                objects.append(describe_attrs(klass, attrs, x, tinfo))
                preview(objects)
        except BatchError as exc:
            self._note("fast-path", f"fell back to python-pkcs11: {exc.function} returned "
                       f"{ckr_name(exc.rv)}")
            return None
        return objects

    def _describe(self, obj: Object, tinfo: TokenInfo) -> ObjectInfo:
        # A method, so the fault wrapper (tests/support/faults.py) can fail one object's read.
        return describe_object(obj, tinfo)

    def pkcs11_object(self, slot_id: int, handle: int) -> Object:
        """The live object for a handle from the last listing (owner thread only)."""
        try:
            entry = self._objects[slot_id][handle]
        except KeyError:
            raise _stale_object() from None
        if not isinstance(entry, ObjectInfo):
            return entry
        # Listed by the fast path: find the python-pkcs11 Object for the handle, narrowing the
        # search by class and CKA_ID (or label) so it reads few objects.
        template: dict[Attribute, object] = {}
        klass = CLASS_UNMAP.get(entry.cls)
        if klass is not None:
            template[Attribute.CLASS] = klass
            if entry.id:
                template[Attribute.ID] = entry.id
            elif entry.label:
                template[Attribute.LABEL] = entry.label
        for obj in list(self.session(slot_id).get_objects(template)):
            if handle_of(obj) == handle:
                self._objects[slot_id][handle] = obj
                return obj
        raise _stale_object()


def _stale_object() -> IkmError:
    return IkmError(
        "That object is no longer on the token (or the list is stale).",
        "Refresh (key `r`) and select it again.",
        "CKR_OBJECT_HANDLE_INVALID", 0x82,
    )
