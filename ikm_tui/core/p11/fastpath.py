"""Object search and attribute reads in bulk, through the module's own function list (ctypes).

Why: python-pkcs11 turns every handle found by `get_objects()` into an Object by reading ten
attributes (two C_GetAttributeValue calls), and `get_attributes()` costs two more calls. On a
SoftHSM token of 1,000 objects that is 4,000 calls where one per object is enough. Here the search
returns bare handles (hundreds per C_FindObjects), and one C_GetAttributeValue per object fills
preallocated buffers; only an object that does not fit them (or lacks an attribute) costs the
usual size query plus read.

Like every PKCS#11 call, these run only on the thread that owns the module. The module is
already loaded and initialised by python-pkcs11: dlopen of the same path returns the same handle,
and C_GetFunctionList returns the same table, so the session handles python-pkcs11 opened are
valid here.
"""

from __future__ import annotations

import ctypes
import functools
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

CK_ULONG = ctypes.c_ulong
CK_RV = CK_ULONG
CK_UNAVAILABLE_INFORMATION = CK_ULONG(-1).value

CKR_OK = 0x0
CKR_ATTRIBUTE_SENSITIVE = 0x11
CKR_ATTRIBUTE_TYPE_INVALID = 0x12
CKR_BUFFER_TOO_SMALL = 0x150
# Codes after which the other attributes of the template are still valid (PKCS#11 v2.40 §5.7).
_PARTIAL = (CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID, CKR_BUFFER_TOO_SMALL)

_FIND_BATCH = 512

# attribute type -> function turning the bytes read into a value (python-pkcs11's mapper's).
Unpackers = Mapping[int, Callable[[bytes], Any]]


class BatchError(Exception):
    """A C call returned `rv`; the caller falls back to python-pkcs11 (which maps the code)."""

    def __init__(self, function: str, rv: int) -> None:
        super().__init__(f"{function} returned 0x{rv:08x}")
        self.function = function
        self.rv = rv


class _Attribute(ctypes.Structure):
    _fields_ = [("type", CK_ULONG), ("pValue", ctypes.c_void_p), ("ulValueLen", CK_ULONG)]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte)]


# PKCS#11 v2.40 §5.x: CK_FUNCTION_LIST, in order, up to C_FindObjectsFinal (the rest is unused).
_FUNCTION_NAMES = [
    "C_Initialize", "C_Finalize", "C_GetInfo", "C_GetFunctionList", "C_GetSlotList",
    "C_GetSlotInfo", "C_GetTokenInfo", "C_GetMechanismList", "C_GetMechanismInfo", "C_InitToken",
    "C_InitPIN", "C_SetPIN", "C_OpenSession", "C_CloseSession", "C_CloseAllSessions",
    "C_GetSessionInfo", "C_GetOperationState", "C_SetOperationState", "C_Login", "C_Logout",
    "C_CreateObject", "C_CopyObject", "C_DestroyObject", "C_GetObjectSize", "C_GetAttributeValue",
    "C_SetAttributeValue", "C_FindObjectsInit", "C_FindObjects", "C_FindObjectsFinal",
]


class _FunctionList(ctypes.Structure):
    _fields_ = [("version", _Version)] + [(name, ctypes.c_void_p) for name in _FUNCTION_NAMES]


_GetAttributeValue = ctypes.CFUNCTYPE(CK_RV, CK_ULONG, CK_ULONG, ctypes.POINTER(_Attribute), CK_ULONG)
_FindObjectsInit = ctypes.CFUNCTYPE(CK_RV, CK_ULONG, ctypes.POINTER(_Attribute), CK_ULONG)
_FindObjects = ctypes.CFUNCTYPE(CK_RV, CK_ULONG, ctypes.POINTER(CK_ULONG), CK_ULONG, ctypes.POINTER(CK_ULONG))
_FindObjectsFinal = ctypes.CFUNCTYPE(CK_RV, CK_ULONG)
# The same signatures, called *holding* the GIL (see RawObjects.hold_gil).
_GetAttributeValueHeld = ctypes.PYFUNCTYPE(CK_RV, CK_ULONG, CK_ULONG, ctypes.POINTER(_Attribute), CK_ULONG)
_FindObjectsHeld = ctypes.PYFUNCTYPE(CK_RV, CK_ULONG, ctypes.POINTER(CK_ULONG), CK_ULONG, ctypes.POINTER(CK_ULONG))


class Template:
    """A reusable C_GetAttributeValue template with one preallocated buffer per attribute.

    The buffers are slices of one block, so a read copies them out at once; and where
    CK_ATTRIBUTE is three machine words (every LP64 system) the lengths are reset and read back
    as one slice of a flat view. Per attribute that leaves a list lookup, no ctypes field access.
    """

    def __init__(self, types: Sequence[int], sizes: Sequence[int],
                 fixed: Sequence[bool] | None = None) -> None:
        self.types = [int(t) for t in types]
        self.sizes = list(sizes)
        # Fixed-size attributes (CK_BBOOL, CK_ULONG) always fit: unavailable means absent.
        self.fixed = list(fixed) if fixed is not None else [False] * len(self.types)
        self.count = len(self.types)
        self.array = (_Attribute * self.count)()
        spans = [max(1, s) for s in self.sizes]
        self.offsets = [sum(spans[:i]) for i in range(self.count)]
        self.total = max(1, sum(spans))
        self.block = ctypes.create_string_buffer(self.total)
        base = ctypes.addressof(self.block)
        self.base = base
        self.addresses = [base + off for off in self.offsets]
        for i, t in enumerate(self.types):
            self.array[i].type = t
            self.array[i].pValue = self.addresses[i]
            self.array[i].ulValueLen = self.sizes[i]
        self._flat = None
        if ctypes.sizeof(_Attribute) == 3 * ctypes.sizeof(CK_ULONG):
            self._flat = (CK_ULONG * (3 * self.count)).from_buffer(self.array)
        # (type, offset, fixed) per attribute, for the read loop.
        self.entries = list(zip(self.types, self.offsets, self.fixed))

    def reset(self) -> None:
        """Fresh pValue and ulValueLen for every attribute, before every call.

        Some modules (tpm2-pkcs11) write NULL into pValue for an attribute the object lacks:
        a template reused without resetting both would hand the next object no buffer, or a
        stale value from the last one.
        """
        # Not ctypes.memmove or string_at: those are foreign calls that drop and retake the
        # GIL, and with the TUI's event loop waiting for it each handover costs a thread switch.
        if self._flat is not None:
            self._flat[1::3] = self.addresses  # type: ignore[assignment] # ctypes arrays take ints
            self._flat[2::3] = self.sizes  # type: ignore[assignment]
            return
        arr = self.array
        for i, size in enumerate(self.sizes):
            arr[i].pValue = self.addresses[i]
            arr[i].ulValueLen = size

    def pointers(self) -> list[int]:
        """pValue of every attribute after a call (0 where the module nulled it)."""
        if self._flat is not None:
            return self._flat[1::3]
        arr = self.array
        return [arr[i].pValue or 0 for i in range(self.count)]

    def lengths(self) -> list[int]:
        """ulValueLen of every attribute after a call."""
        if self._flat is not None:
            return self._flat[2::3]
        arr = self.array
        return [arr[i].ulValueLen for i in range(self.count)]

    def data(self) -> bytes:
        """The whole buffer block, to slice values out of."""
        return self.block.raw


class RawObjects:
    """C_FindObjects* and C_GetAttributeValue of an initialised module, without python-pkcs11."""

    def __init__(self, path: str, hold_gil: bool = False, function_list: int | None = None) -> None:
        """`hold_gil`: call C_GetAttributeValue and C_FindObjects without releasing the GIL.

        Only for modules that never wait on a device (SoftHSM: every call is ~30 µs in memory).
        Why: ctypes drops the GIL around each call and must win it back afterwards; while another
        thread runs Python (the TUI drawing its first frame) every win-back waits for that
        thread's switch interval (5 ms). Measured on 1,000 objects (1,334 reads): 0.17 s alone,
        2.3 s beside a busy thread; holding the GIL, the busy thread still gets it back every
        5 ms, between two 30 µs calls. A smart card's call can take seconds (card I/O, a pulled
        reader), so hardware modules keep the releasing calls: the UI must never freeze.
        """
        dll = ctypes.CDLL(path)
        if function_list:
            # python-pkcs11's own (initialised) function list. Why not C_GetFunctionList: some
            # modules (p11-kit-client.so) hand every caller a new instance, which is not
            # initialised (CKR_CRYPTOKI_NOT_INITIALIZED) and knows none of our sessions.
            fl = _FunctionList.from_address(function_list)
        else:
            get_list = dll.C_GetFunctionList
            get_list.restype = CK_RV
            get_list.argtypes = [ctypes.POINTER(ctypes.POINTER(_FunctionList))]
            ptr = ctypes.POINTER(_FunctionList)()
            rv = get_list(ctypes.byref(ptr))
            if rv != CKR_OK or not ptr:
                raise BatchError("C_GetFunctionList", int(rv))
            fl = ptr.contents
        if not (fl.C_GetAttributeValue and fl.C_FindObjectsInit and fl.C_FindObjects and fl.C_FindObjectsFinal):
            raise BatchError("C_GetFunctionList", CKR_OK)
        self._dll = dll  # keeps the library referenced as long as the function pointers
        self.hold_gil = hold_gil
        self._get = (_GetAttributeValueHeld if hold_gil else _GetAttributeValue)(fl.C_GetAttributeValue)
        self._find_init = _FindObjectsInit(fl.C_FindObjectsInit)
        self._find = (_FindObjectsHeld if hold_gil else _FindObjects)(fl.C_FindObjects)
        self._find_final = _FindObjectsFinal(fl.C_FindObjectsFinal)
        # The call trace (calltrace.Interposer.emit): (function, summary, rv, started, seconds).
        self.record: Callable[[str, str, int, float, float], None] | None = None
        # False while nobody keeps the trace (calltrace.Interposer.recording): no summaries then.
        self.recording: Callable[[], bool] = _always


    def _traced(self, name: str, summary: Callable[[], str], fn: Any, *args: Any) -> int:
        record = self.record
        if record is None or not self.recording():
            return int(fn(*args))
        started = time.monotonic()
        rv = int(fn(*args))
        record(name, summary(), rv, started, time.monotonic() - started)
        return rv

    def find(self, session: int, match: Sequence[tuple[int, bytes]] = ()) -> list[int]:
        """Every object handle matching `match` ((type, packed value) pairs), in batches."""
        tpl = (_Attribute * max(1, len(match)))()
        keep = []
        for i, (t, value) in enumerate(match):
            buf = ctypes.create_string_buffer(value, len(value))
            keep.append(buf)
            tpl[i].type = t
            tpl[i].pValue = ctypes.cast(buf, ctypes.c_void_p)
            tpl[i].ulValueLen = len(value)
        rv = self._traced("C_FindObjectsInit", lambda: f"session={session}, {_names([t for t, _ in match])}",
                          self._find_init, session, tpl, len(match))
        if rv != CKR_OK:
            raise BatchError("C_FindObjectsInit", int(rv))
        out: list[int] = []
        batch = (CK_ULONG * _FIND_BATCH)()
        count = CK_ULONG(0)
        try:
            while True:
                rv = self._traced("C_FindObjects", lambda: f"session={session}, max={_FIND_BATCH}, "
                                  f"found={count.value}", self._find, session, batch, _FIND_BATCH,
                                  ctypes.byref(count))
                if rv != CKR_OK:
                    raise BatchError("C_FindObjects", int(rv))
                n = count.value
                if n == 0:
                    break
                out.extend(batch[:n])
        finally:
            # Always end the search: an open one blocks every later search on the session.
            rv = self._traced("C_FindObjectsFinal", lambda: f"session={session}", self._find_final, session)
        if rv != CKR_OK:
            raise BatchError("C_FindObjectsFinal", int(rv))
        return out

    def read(self, session: int, handle: int, tpl: Template, unpack: Unpackers,
             not_applicable: Callable[[dict[int, Any]], Collection[int]] | None = None) -> dict[int, Any]:
        """The available attributes of one object, unpacked; unavailable ones are left out.

        One call when everything fits the template's buffers. When some attribute came back
        unavailable, the spec does not say whether it was absent, sensitive or too big for its
        buffer, so those are asked for by size and read again; except fixed-size ones (booleans,
        numbers: their buffer always fits) and those `not_applicable(values read)` names (an EC
        key has no CKA_MODULUS), which are simply absent. python-pkcs11's get_attributes gives the
        same result with two calls for every object.
        """
        tpl.reset()
        rv = self._get_traced(session, handle, tpl.array, tpl.types)
        if rv != CKR_OK and rv not in _PARTIAL:
            raise BatchError("C_GetAttributeValue", int(rv))
        data = tpl.data()
        out: dict[int, Any] = {}
        missing: list[int] = []
        for (t, off, fixed), n, p, size in zip(tpl.entries, tpl.lengths(), tpl.pointers(), tpl.sizes):
            if n == CK_UNAVAILABLE_INFORMATION or p == 0 or n > size:
                # Unavailable, nulled by the module, or a length our buffer cannot hold: never
                # a value from the buffer (it may be the last object's).
                if not fixed:
                    missing.append(t)
            else:
                out[t] = unpack[t](data[off:off + n])
        if rv == CKR_OK and len(out) < tpl.count:
            # Unavailable with CKR_OK is against the spec, but some tokens do it: be thorough.
            return self._read_sized(session, handle, tpl.types, unpack)
        if missing and not_applicable is not None:
            skip = not_applicable(out)
            missing = [t for t in missing if t not in skip]
        if missing:
            out.update(self._read_sized(session, handle, missing, unpack))
        return out

    def _get_traced(self, session: int, handle: int, arr: Any, types: Sequence[int]) -> int:
        if self.record is None or not self.recording():
            return int(self._get(session, handle, arr, len(types)))

        def summary() -> str:
            gone = [t for i, t in enumerate(types) if arr[i].ulValueLen == CK_UNAVAILABLE_INFORMATION]
            text = f"session={session}, object={handle}, {_names(types)}"
            return text + (f", unavailable {_names(gone)}" if gone else "")

        return self._traced("C_GetAttributeValue", summary, self._get, session, handle, arr, len(types))

    def _read_sized(self, session: int, handle: int, types: Sequence[int],
                    unpack: Unpackers) -> dict[int, Any]:
        n = len(types)
        arr = (_Attribute * n)()
        for i, t in enumerate(types):
            arr[i].type = t
            arr[i].pValue = None
            arr[i].ulValueLen = 0
        rv = self._get_traced(session, handle, arr, types)
        if rv != CKR_OK and rv not in _PARTIAL:
            raise BatchError("C_GetAttributeValue", int(rv))
        avail = [(t, arr[i].ulValueLen) for i, t in enumerate(types)
                 if arr[i].ulValueLen != CK_UNAVAILABLE_INFORMATION]
        if not avail:
            return {}
        tpl = Template([t for t, _ in avail], [size for _, size in avail])
        tpl.reset()
        rv = self._get_traced(session, handle, tpl.array, tpl.types)
        if rv != CKR_OK:
            raise BatchError("C_GetAttributeValue", int(rv))
        out: dict[int, Any] = {}
        for i, t in enumerate(tpl.types):
            size = tpl.array[i].ulValueLen
            if size == CK_UNAVAILABLE_INFORMATION or not tpl.array[i].pValue or size > tpl.sizes[i]:
                raise BatchError("C_GetAttributeValue", CKR_OK)
            out[t] = unpack[t](ctypes.string_at(tpl.addresses[i], size))
        return out


def _always() -> bool:
    return True


def _names(types: Sequence[int]) -> str:
    return _names_of(tuple(types))


@functools.lru_cache(maxsize=256)
def _names_of(types: tuple[int, ...]) -> str:
    """Cached: a listing reads every object with the same template, and naming its ~20
    attributes through the enum was a third of a 1,000-certificate listing's owner-thread time."""
    from ikm_tui.core.p11.calltrace import attr_name

    names = [attr_name(t) for t in types]
    if len(names) > 12:
        names = names[:12] + [f"+{len(names) - 12} more"]
    return "[" + ", ".join(names) + "]"
