"""PKCS#11 call trace: every C_* call python-pkcs11 or the fast path makes, with CKR name and time.

Why here and not around our own methods: an operator debugging a token compares our trace with
pkcs11-spy or OpenSC's debug log, which list C_Login, C_FindObjectsInit, C_GetAttributeValue, …
So python-pkcs11's function list is replaced by one of ctypes shims that record each call and
forward it to the module's real function (`interpose`). python-pkcs11 copies that pointer from
its `lib` into every Slot, Token and Session it makes, so once the lib's pointer is swapped no
call escapes the trace. The fast path (fastpath.RawObjects) calls the real functions itself and
records through the same sink.

PINs: the shims of C_Login, C_InitPIN, C_SetPIN and C_InitToken never read the PIN buffers;
the summary says `pin=***`. No attribute value other than classes, key types, booleans and
lengths is ever shown (a template may carry key material).
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from typing import Any

# (function name, number of arguments), in CK_FUNCTION_LIST order (PKCS#11 v2.40 §5).
FUNCTIONS: list[tuple[str, int]] = [
    ("C_Initialize", 1), ("C_Finalize", 1), ("C_GetInfo", 1), ("C_GetFunctionList", 1),
    ("C_GetSlotList", 3), ("C_GetSlotInfo", 2), ("C_GetTokenInfo", 2), ("C_GetMechanismList", 3),
    ("C_GetMechanismInfo", 3), ("C_InitToken", 4), ("C_InitPIN", 3), ("C_SetPIN", 5),
    ("C_OpenSession", 5), ("C_CloseSession", 1), ("C_CloseAllSessions", 1), ("C_GetSessionInfo", 2),
    ("C_GetOperationState", 3), ("C_SetOperationState", 5), ("C_Login", 4), ("C_Logout", 1),
    ("C_CreateObject", 4), ("C_CopyObject", 5), ("C_DestroyObject", 2), ("C_GetObjectSize", 3),
    ("C_GetAttributeValue", 4), ("C_SetAttributeValue", 4), ("C_FindObjectsInit", 3),
    ("C_FindObjects", 4), ("C_FindObjectsFinal", 1), ("C_EncryptInit", 3), ("C_Encrypt", 5),
    ("C_EncryptUpdate", 5), ("C_EncryptFinal", 3), ("C_DecryptInit", 3), ("C_Decrypt", 5),
    ("C_DecryptUpdate", 5), ("C_DecryptFinal", 3), ("C_DigestInit", 2), ("C_Digest", 5),
    ("C_DigestUpdate", 3), ("C_DigestKey", 2), ("C_DigestFinal", 3), ("C_SignInit", 3),
    ("C_Sign", 5), ("C_SignUpdate", 3), ("C_SignFinal", 3), ("C_SignRecoverInit", 3),
    ("C_SignRecover", 5), ("C_VerifyInit", 3), ("C_Verify", 5), ("C_VerifyUpdate", 3),
    ("C_VerifyFinal", 3), ("C_VerifyRecoverInit", 3), ("C_VerifyRecover", 5),
    ("C_DigestEncryptUpdate", 5), ("C_DecryptDigestUpdate", 5), ("C_SignEncryptUpdate", 5),
    ("C_DecryptVerifyUpdate", 5), ("C_GenerateKey", 5), ("C_GenerateKeyPair", 8), ("C_WrapKey", 6),
    ("C_UnwrapKey", 8), ("C_DeriveKey", 6), ("C_SeedRandom", 3), ("C_GenerateRandom", 3),
    ("C_GetFunctionStatus", 1), ("C_CancelFunction", 1), ("C_WaitForSlotEvent", 3),
]

CK_ULONG = ctypes.c_ulong
_UNAVAILABLE = CK_ULONG(-1).value


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte)]


class FunctionList(ctypes.Structure):
    _fields_ = [("version", _Version)] + [(name, ctypes.c_void_p) for name, _ in FUNCTIONS]


class _Attribute(ctypes.Structure):
    _fields_ = [("type", CK_ULONG), ("pValue", ctypes.c_void_p), ("ulValueLen", CK_ULONG)]


# Sink: (function, argument summary, CKR name, started (monotonic), duration seconds).
Sink = Callable[[str, str, str, float, float], None]


def ckr_name(rv: int) -> str:
    from ikm_tui.core.errors import CKR_BY_CODE, unknown_code_name

    known = CKR_BY_CODE.get(int(rv))
    return known.name if known is not None else unknown_code_name(int(rv))


def _enum_name(enum: Any, prefix: str, value: int) -> str:
    try:
        return prefix + str(enum(value).name)
    except ValueError:
        return f"0x{value:x}"


def attr_name(t: int) -> str:
    from pkcs11 import Attribute

    return _enum_name(Attribute, "CKA_", t)


_BOOL_ATTRS: set[int] | None = None


def _template(ptr: int | None, count: int | None, after: bool = False) -> str:
    """Attribute names of a CK_ATTRIBUTE array; classes, key types and booleans with their value.

    `after`: the array was filled by the call: mark attributes the module left unavailable.
    """
    from pkcs11 import Attribute, KeyType, ObjectClass

    global _BOOL_ATTRS
    if _BOOL_ATTRS is None:
        from pkcs11.attributes import AttributeMapper

        handlers = AttributeMapper().attribute_types
        bool_pack = handlers[Attribute.TOKEN][0]
        _BOOL_ATTRS = {int(a) for a, (pack, _) in handlers.items() if pack is bool_pack}
    n = int(count or 0)
    if not ptr or n <= 0:
        return "[]"
    arr = (_Attribute * n).from_address(ptr)
    parts = []
    for a in arr:
        t, p, length = int(a.type), a.pValue, int(a.ulValueLen)
        name = attr_name(t)
        if after and length == _UNAVAILABLE:
            parts.append(name + "=?")
            continue
        if after and not p:
            parts.append(f"{name}(<{length}>)")  # a size query, or a module that nulled pValue
            continue
        if p and length == ctypes.sizeof(CK_ULONG) and t in (int(Attribute.CLASS), int(Attribute.KEY_TYPE)):
            v = CK_ULONG.from_address(p).value
            enum, prefix = (ObjectClass, "CKO_") if t == int(Attribute.CLASS) else (KeyType, "CKK_")
            parts.append(f"{name}={_enum_name(enum, prefix, v)}")
        elif p and length == 1 and t in _BOOL_ATTRS:
            parts.append(f"{name}={'TRUE' if ctypes.c_ubyte.from_address(p).value else 'FALSE'}")
        elif not after and p and length >= 0 and t not in _BOOL_ATTRS:
            parts.append(f"{name}(<{length}>)")
        else:
            parts.append(name)
    if len(parts) > 12:
        parts = parts[:12] + [f"+{len(parts) - 12} more"]
    return "[" + ", ".join(parts) + "]"


def _mech(ptr: int | None) -> str:
    from pkcs11 import Mechanism

    if not ptr:
        return "mech=NULL"
    return "mech=" + _enum_name(Mechanism, "CKM_", CK_ULONG.from_address(ptr).value)


def _ulong_at(ptr: int | None) -> str:
    return str(CK_ULONG.from_address(ptr).value) if ptr else "NULL"


_USERS = {0: "CKU_SO", 1: "CKU_USER", 2: "CKU_CONTEXT_SPECIFIC"}


def summarize(name: str, a: tuple[Any, ...], after: bool) -> str:
    """Short argument summary of one call (`after`: output arguments are filled in)."""
    v = [int(x) if x is not None else 0 for x in a]
    if name == "C_Login":
        return f"session={v[0]}, user={_USERS.get(v[1], hex(v[1]))}, pin=***"
    if name == "C_InitPIN":
        return f"session={v[0]}, pin=***"
    if name == "C_SetPIN":
        return f"session={v[0]}, old=***, new=***"
    if name == "C_InitToken":
        return f"slot={v[0]}, so_pin=***"
    if name in ("C_GetAttributeValue", "C_SetAttributeValue"):
        return f"session={v[0]}, object={v[1]}, {_template(a[2], v[3], after and name == 'C_GetAttributeValue')}"
    if name == "C_FindObjectsInit":
        return f"session={v[0]}, {_template(a[1], v[2])}"
    if name == "C_FindObjects":
        return f"session={v[0]}, max={v[2]}" + (f", found={_ulong_at(a[3])}" if after else "")
    if name == "C_CreateObject":
        return f"session={v[0]}, {_template(a[1], v[2])}" + (f", object={_ulong_at(a[3])}" if after else "")
    if name == "C_CopyObject":
        return f"session={v[0]}, object={v[1]}, {_template(a[2], v[3])}"
    if name == "C_GenerateKey":
        return f"session={v[0]}, {_mech(a[1])}, {_template(a[2], v[3])}"
    if name == "C_GenerateKeyPair":
        out = f"session={v[0]}, {_mech(a[1])}, public={_template(a[2], v[3])}, private={_template(a[4], v[5])}"
        return out + (f", handles={_ulong_at(a[6])}/{_ulong_at(a[7])}" if after else "")
    if name in ("C_SignInit", "C_VerifyInit", "C_EncryptInit", "C_DecryptInit"):
        return f"session={v[0]}, {_mech(a[1])}, key={v[2]}"
    if name in ("C_Sign", "C_Encrypt", "C_Decrypt", "C_Verify"):
        return f"session={v[0]}, data=<{v[2]} bytes>"
    if name == "C_OpenSession":
        return f"slot={v[0]}, flags=0x{v[1]:x}" + (f", session={_ulong_at(a[4])}" if after else "")
    if name in ("C_GetSlotList",):
        return f"token_present={bool(v[0] & 0xFF)}" + (f", count={_ulong_at(a[2])}" if after else "")
    if name in ("C_GetSlotInfo", "C_GetTokenInfo", "C_GetMechanismList", "C_CloseAllSessions"):
        return f"slot={v[0]}"
    if name == "C_GetMechanismInfo":
        from pkcs11 import Mechanism

        return f"slot={v[0]}, {_enum_name(Mechanism, 'CKM_', v[1])}"
    if name in ("C_DestroyObject", "C_GetObjectSize"):
        return f"session={v[0]}, object={v[1]}"
    if name in ("C_Initialize", "C_Finalize", "C_GetInfo", "C_GetFunctionList"):
        return "NULL" if not v[0] else "..."
    if name in ("C_CloseSession", "C_Logout", "C_FindObjectsFinal", "C_GetSessionInfo"):
        return f"session={v[0]}"
    return f"session={v[0]}" if v else ""


class Interposer:
    """python-pkcs11's function list for one module, swapped for recording shims.

    `sink` receives every call; None (the default) forwards calls without recording.
    `real_address` is the module's own CK_FUNCTION_LIST, for the fast path.
    """

    def __init__(self, lib: Any, offset: int) -> None:
        self.lib = lib
        self.offset = offset
        self.real_address = ctypes.c_void_p.from_address(id(lib) + offset).value or 0
        self.real = FunctionList.from_address(self.real_address)
        self.sink: Sink | None = None
        # Whether the sink's owner keeps calls now (None: always). The CLI's service drops them
        # unless --trace is given: then the calls are not even summarised (a tenth of a
        # 1,000-certificate listing's owner-thread time was the summaries of its reads).
        self.wanted: Callable[[], bool] | None = None
        # Called with (slot id, CK_TOKEN_INFO pointer) after each successful C_GetTokenInfo, so
        # the backend reads PIN lengths and memory from that call instead of making another.
        self.on_token_info: Callable[[int, int], None] | None = None
        # Calls made before a sink was set (while the module loads), handed to the first sink.
        self.pending: list[tuple[str, str, str, float, float]] = []
        self.table = FunctionList()
        self.table.version = self.real.version
        self._keep: list[Any] = []
        for name, argc in FUNCTIONS:
            address = getattr(self.real, name)
            if not address:
                continue
            proto = ctypes.CFUNCTYPE(CK_ULONG, *([ctypes.c_void_p] * argc))
            shim = proto(self._shim(name, proto(address)))
            self._keep.append(shim)
            setattr(self.table, name, ctypes.cast(shim, ctypes.c_void_p).value)
        ctypes.c_void_p.from_address(id(lib) + offset).value = ctypes.addressof(self.table)

    def _shim(self, name: str, real: Any) -> Callable[..., int]:
        monotonic, limit = time.monotonic, _PENDING_MAX  # bound now: see below

        def call(*args: Any) -> int:
            # At interpreter exit python-pkcs11's finalizer calls C_Finalize after module globals
            # and this object's attributes may be gone: then the call is only forwarded.
            try:
                sink, pending = self.sink, self.pending
                keep = not (sink is None and len(pending) >= limit) and self.recording()
            except AttributeError:
                return int(real(*args))
            if not keep:
                return int(real(*args))
            started = monotonic()
            rv = int(real(*args))
            duration = monotonic() - started
            try:
                if rv == 0 and name == "C_GetTokenInfo" and self.on_token_info is not None and args[1]:
                    self.on_token_info(args[0] or 0, args[1])  # c_void_p passes 0 as None
                entry = (name, summarize(name, args, True), ckr_name(rv), started, duration)
                if sink is None:
                    pending.append(entry)
                else:
                    sink(*entry)
            except Exception:  # noqa: BLE001 - a trace must never change a call's result
                pass
            return rv

        return call

    def set_sink(self, sink: Sink | None) -> None:
        """Record into `sink` from now on, starting with the calls made before it was set."""
        self.sink = sink
        if sink is None:
            return
        pending, self.pending = self.pending, []
        for entry in pending:
            try:
                sink(*entry)
            except Exception:  # noqa: BLE001
                pass

    def recording(self) -> bool:
        """Whether a call made now would be kept: callers skip summarising it when not."""
        if self.sink is None:
            return len(self.pending) < _PENDING_MAX
        wanted = self.wanted
        return wanted is None or wanted()

    def emit(self, name: str, args: str, rv: int | str, started: float, duration: float) -> None:
        """Record a call made outside python-pkcs11 (the fast path) or a note about one."""
        if not self.recording():
            return
        entry = (name, args, rv if isinstance(rv, str) else ckr_name(rv), started, duration)
        sink = self.sink
        if sink is None:
            if len(self.pending) < _PENDING_MAX:
                self.pending.append(entry)
            return
        try:
            sink(*entry)
        except Exception:  # noqa: BLE001
            pass


# id(lib) -> Interposer: python-pkcs11 caches one lib per path, so a second Backend on the
# same module must reuse the shims, not wrap them again.
_INTERPOSED: dict[int, Interposer] = {}


def _funclist_offset() -> int | None:
    """Where python-pkcs11 0.10's HasFuncList keeps `CK_FUNCTION_LIST *funclist`: the first
    field after the object header; None when the layout is not the one we know."""
    try:
        from pkcs11 import _pkcs11
    except ImportError:
        return None
    base = getattr(_pkcs11, "HasFuncList", None)
    ptr = ctypes.sizeof(ctypes.c_void_p)
    if base is None or base.__basicsize__ != object.__basicsize__ + 3 * ptr:
        return None
    return object.__basicsize__


_PENDING_MAX = 200


def interpose(lib: Any, load: tuple[float, float] | None = None) -> Interposer | None:
    """Route every call python-pkcs11 makes through recording shims (once per lib).

    `load`: (started, seconds) of the `pkcs11.lib()` that just loaded it. Those first calls
    (C_GetFunctionList, C_Initialize(NULL), C_GetInfo) ran before the shims existed: they are
    recorded as one C_Initialize entry timed together.
    """
    known = _INTERPOSED.get(id(lib))
    if known is not None and known.lib is lib:
        return known
    offset = _funclist_offset()
    if offset is None or not isinstance(getattr(lib, "so", None), str):
        return None
    address = ctypes.c_void_p.from_address(id(lib) + offset).value
    if not address:
        return None
    version = FunctionList.from_address(address).version
    if version.major not in (2, 3):  # not a function list: the layout guess is wrong
        return None
    inter = Interposer(lib, offset)
    _INTERPOSED[id(lib)] = inter
    if load is not None:
        inter.emit("C_Initialize", "NULL (at load, with C_GetFunctionList and C_GetInfo: timed together)",
                   0, load[0], load[1])
    return inter
