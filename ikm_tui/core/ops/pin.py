"""Change the user PIN (C_SetPin) after checking the new one against the token's limits."""

from __future__ import annotations

from ikm_tui.core import journal
from ikm_tui.core.errors import IkmError, from_exception
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.p11.softhsm import token_file
from ikm_tui.core.pin import Pin


def check_pin_length(backend: Backend, slot_id: int, pin: Pin) -> None:
    info = backend.token_info(slot_id)
    lo, hi = info.min_pin_len, info.max_pin_len
    if lo is not None and len(pin) < lo or hi is not None and len(pin) > hi:
        raise IkmError(f"The new PIN has {len(pin)} characters; this token accepts {lo}..{hi}.",
                       "Choose a PIN within that length; nothing was changed.",
                       "CKR_PIN_LEN_RANGE", 0xA2, "Changing the PIN")


def change_pin(backend: Backend, slot_id: int, old: Pin, new: Pin) -> None:
    """C_SetPin for the user PIN (in the logged-in session or a public R/W one)."""
    if not isinstance(old, Pin) or not isinstance(new, Pin):
        raise TypeError("change_pin() takes Pin objects")
    check_pin_length(backend, slot_id, new)
    info = backend.token_info(slot_id)
    if info.pin.user_locked:
        raise IkmError("The user PIN is locked; it cannot be changed with the old PIN.",
                       "Unlock it with the SO PIN / PUK first.", "CKR_PIN_LOCKED", 0xA4, "Changing the PIN")
    # Only that it ran, never a PIN. C_SetPIN is one call, but SoftHSM rewrites its token file
    # in place: a copy of it goes beside the journal first (core/p11/softhsm.token_file).
    journal.intend("pin change", [{"do": "pin", **journal.keep_copy(token_file(backend.module_path, info.serial))}])
    try:
        backend.session(slot_id).set_pin(old.reveal(), new.reveal())
    except Exception as exc:  # noqa: BLE001
        raise from_exception(exc, "Changing the PIN") from None
