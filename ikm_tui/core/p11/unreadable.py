"""One object the module will not describe is listed as unreadable; the rest of the token still lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pkcs11.exceptions as p11x
from pkcs11 import Attribute, Object

from ikm_tui.core import uri as uris
from ikm_tui.core.errors import ckr_for_code, from_exception
from ikm_tui.core.model import ObjClass, ObjectInfo, TokenInfo
from ikm_tui.core.p11.attributes import ATTRS_BY_CLASS, COMMON, describe_attrs, handle_of
from ikm_tui.core.p11.fastpath import BatchError

UNREADABLE = "unreadable"
# Return values that mean the token or session is gone (CKR_DEVICE_ERROR/MEMORY/REMOVED,
# SESSION_CLOSED/HANDLE_INVALID, TOKEN_NOT_PRESENT): then the whole listing is in doubt, so they
# are raised, never turned into one unreadable row. 0 is the fast path's "against the spec".
_GONE_CODES = frozenset({0, 0x30, 0x31, 0x32, 0xB0, 0xB3, 0xE0})
_GONE = (p11x.DeviceRemoved, p11x.TokenNotPresent, p11x.SessionHandleInvalid, p11x.SessionClosed,
         p11x.DeviceError, p11x.DeviceMemory)


def unreadable_object(handle: int, reason: str, tinfo: TokenInfo) -> ObjectInfo:
    """The row for an object whose attributes the module would not give (CKR_ATTRIBUTE_VALUE_INVALID
    seen): flagged with the reason, nothing guessed, so it cannot pair with anything."""
    return ObjectInfo(cls=ObjClass.OTHER, label="", id=b"", handle=handle,
                      uri=uris.object_uri(tinfo.label, tinfo.serial, ObjClass.OTHER.value, "", b""),
                      flags=(UNREADABLE, reason))


def is_unreadable(obj: ObjectInfo) -> bool:
    return UNREADABLE in obj.flags


def describe_or_unreadable(describe: Callable[[Object, TokenInfo], ObjectInfo], obj: Object,
                           tinfo: TokenInfo) -> ObjectInfo:
    """python-pkcs11 path: describe(obj), or its unreadable row when only this object failed."""
    try:
        return describe(obj, tinfo)
    except _GONE:
        raise
    except p11x.PKCS11Error as exc:
        reason = from_exception(exc).ckr_name or type(exc).__name__
        return unreadable_object(handle_of(obj), reason, tinfo)


def read_or_unreadable(tinfo: TokenInfo, handle: int, read: Callable[..., dict[int, Any]],
                       *args: Any) -> dict[int, Any] | ObjectInfo:
    """Fast path: the attributes `read(*args)` gives, or the object's unreadable row."""
    try:
        return read(*args)
    except BatchError as exc:
        if exc.rv in _GONE_CODES:
            raise
        ckr = ckr_for_code(exc.rv)
        return unreadable_object(handle, ckr.name if ckr else f"0x{exc.rv:08x}", tinfo)


def describe_object(obj: Object, tinfo: TokenInfo) -> ObjectInfo:
    """One object read through python-pkcs11 (the slow path): a batch read, else one attribute at a time."""
    # python-pkcs11 sets object_class = None on objects it has no class for (CKO_DATA).
    klass = getattr(obj, "object_class", None)
    if klass is None:
        klass = obj[Attribute.CLASS]
    wanted = ATTRS_BY_CLASS.get(klass, COMMON)
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
    return describe_attrs(klass, attrs, handle_of(obj), tinfo)
