"""The few C_GetTokenInfo fields python-pkcs11 does not expose (PIN lengths, memory), via ctypes.

Called only on the thread that owns the module, like every other PKCS#11 call: the module is
already loaded and initialised by python-pkcs11, and dlopen of the same path returns the same
handle, so this reads the same module state.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pkcs11

CK_ULONG = ctypes.c_ulong
CK_EFFECTIVELY_INFINITE = 0
CK_UNAVAILABLE_INFORMATION = CK_ULONG(-1).value


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte)]


class _TokenInfo(ctypes.Structure):
    # PKCS#11 v2.40 §3.2 CK_TOKEN_INFO; Unix builds use natural alignment (no pack pragma).
    _fields_ = [
        ("label", ctypes.c_char * 32),
        ("manufacturerID", ctypes.c_char * 32),
        ("model", ctypes.c_char * 16),
        ("serialNumber", ctypes.c_char * 16),
        ("flags", CK_ULONG),
        ("ulMaxSessionCount", CK_ULONG),
        ("ulSessionCount", CK_ULONG),
        ("ulMaxRwSessionCount", CK_ULONG),
        ("ulRwSessionCount", CK_ULONG),
        ("ulMaxPinLen", CK_ULONG),
        ("ulMinPinLen", CK_ULONG),
        ("ulTotalPublicMemory", CK_ULONG),
        ("ulFreePublicMemory", CK_ULONG),
        ("ulTotalPrivateMemory", CK_ULONG),
        ("ulFreePrivateMemory", CK_ULONG),
        ("hardwareVersion", _Version),
        ("firmwareVersion", _Version),
        ("utcTime", ctypes.c_char * 16),
    ]


@dataclass(frozen=True)
class RawTokenInfo:
    flags: int
    min_pin_len: int | None
    max_pin_len: int | None
    total_public_memory: int | None
    free_public_memory: int | None
    total_private_memory: int | None
    free_private_memory: int | None


def _num(v: int) -> int | None:
    return None if v == CK_UNAVAILABLE_INFORMATION else int(v)


class RawModule:
    """Direct calls into an already-initialised module for what python-pkcs11 lacks."""

    def __init__(self, path: str, function_list: int | None = None) -> None:
        """`function_list`: the CK_FUNCTION_LIST python-pkcs11 calls through (traced, and the
        initialised instance on modules such as p11-kit-client.so, which export no C_* symbols
        besides C_GetFunctionList); else the module's exported symbols."""
        self._dll = ctypes.CDLL(path)
        # slot id -> the CK_TOKEN_INFO of the last C_GetTokenInfo python-pkcs11 made (remember()).
        self._last: dict[int, _TokenInfo] = {}
        if function_list:
            from ikm_tui.core.p11.calltrace import FunctionList

            fl = FunctionList.from_address(function_list)
            info_fn = ctypes.CFUNCTYPE(CK_ULONG, CK_ULONG, ctypes.POINTER(_TokenInfo))
            close_fn = ctypes.CFUNCTYPE(CK_ULONG, CK_ULONG)
            self._get_token_info = info_fn(fl.C_GetTokenInfo) if fl.C_GetTokenInfo else None
            self._close_all = close_fn(fl.C_CloseAllSessions) if fl.C_CloseAllSessions else None
            return
        self._get_token_info = getattr(self._dll, "C_GetTokenInfo", None)
        if self._get_token_info is not None:
            self._get_token_info.restype = CK_ULONG
            self._get_token_info.argtypes = [CK_ULONG, ctypes.POINTER(_TokenInfo)]
        self._close_all = getattr(self._dll, "C_CloseAllSessions", None)
        if self._close_all is not None:
            self._close_all.restype = CK_ULONG
            self._close_all.argtypes = [CK_ULONG]

    def remember(self, slot_id: int, info_address: int) -> None:
        """Keep a copy of the CK_TOKEN_INFO a C_GetTokenInfo just filled (the trace shim calls this)."""
        size = ctypes.sizeof(_TokenInfo)
        self._last[int(slot_id)] = _TokenInfo.from_buffer_copy(ctypes.string_at(info_address, size))

    def taken(self, slot_id: int) -> RawTokenInfo | None:
        """The fields of the C_GetTokenInfo read_token() just made, without a second call.

        Why: through p11-kit-client each call is a round trip, and `slots()` read every token
        twice (python-pkcs11's Token, then these fields). Falls back to a call of its own when
        the call was not seen (no trace shims on this python-pkcs11 build).
        """
        last = self._last.pop(int(slot_id), None)
        return _fields(last) if last is not None else self.token_info(slot_id)

    def token_info(self, slot_id: int) -> RawTokenInfo | None:
        if self._get_token_info is None:
            return None
        info = _TokenInfo()
        rv = self._get_token_info(slot_id, ctypes.byref(info))
        self._last.pop(int(slot_id), None)  # this call's own copy: taken() must not reuse it later
        if rv != 0:
            return None
        return _fields(info)

    def close_all_sessions(self, slot_id: int) -> int | None:
        """C_CloseAllSessions: python-pkcs11 leaks the session of a failed login; this frees it."""
        if self._close_all is None:
            return None
        return int(self._close_all(slot_id))


def _fields(info: _TokenInfo) -> RawTokenInfo:
    return RawTokenInfo(
        flags=int(info.flags),
        min_pin_len=_num(info.ulMinPinLen),
        max_pin_len=_num(info.ulMaxPinLen),
        total_public_memory=_num(info.ulTotalPublicMemory),
        free_public_memory=_num(info.ulFreePublicMemory),
        total_private_memory=_num(info.ulTotalPrivateMemory),
        free_private_memory=_num(info.ulFreePrivateMemory),
    )


def read_token(slot: pkcs11.Slot, tries: int = 5, pause: float = 0.02) -> pkcs11.Token:
    """slot.get_token() (C_GetTokenInfo), again after a CKR_GENERAL_ERROR, a few times.

    SoftHSM rewrites its token.object file in place when another process writes to the token,
    and a C_GetTokenInfo that reads it meanwhile fails with CKR_GENERAL_ERROR (measured: 1 in
    ~15 runs of two concurrent `certreq create`, the second waiting for the token lock). The call
    is read-only and sends no PIN, so trying again is safe; the last error still goes up.
    """
    import time

    import pkcs11.exceptions as p11x

    for attempt in range(tries):
        try:
            return slot.get_token()
        except p11x.GeneralError:
            if attempt == tries - 1:
                raise
            time.sleep(pause * (attempt + 1))
    raise AssertionError("unreachable")
