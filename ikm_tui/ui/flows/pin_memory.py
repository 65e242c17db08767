"""Opt-in PIN memory in the TUI: at most one login with a remembered PIN, never a retry."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ikm_tui.core.p11.quirks import serial_identifies_token
from ikm_tui.core.errors import IkmError
from ikm_tui.core.model import TokenInfo
from ikm_tui.core.ops.pinstore import PinStore
from ikm_tui.ui.text import plain

if TYPE_CHECKING:
    from textual.screen import Screen

    from ikm_tui.ui.flows.host import FlowHost


def default_store() -> PinStore:
    """The OS keyring, if it is a real one (core.pinstore refuses plaintext and null backends)."""
    return PinStore()


async def login_with_remembered(screen: FlowHost, svc: Any, slot_id: int, info: TokenInfo,
                                store: PinStore | None) -> bool | None:
    """True when a remembered PIN logged in, False when the token refused it, None when no
    remembered PIN was tried; then the operator is asked.

    Only on a token with no PIN warning flag: a cached PIN must never spend one of the last
    tries. A PIN the token rejects is forgotten by the store and the error shown; the operator
    then types the PIN (that is their try, not a retry of ours).
    """
    # Keyed by serial: only one that tells tokens apart (every tpm2-pkcs11 token is 0000…, and a
    # PIN tried on the wrong TPM counts towards its dictionary-attack lockout).
    if store is None or not store.available or not serial_identifies_token(info.serial):
        return None
    if info.pin.user_count_low or info.pin.user_final_try or info.pin.user_locked:
        return None
    try:
        # Off the event loop: the keyring may talk D-Bus; the login itself still goes through the
        # module's owner thread (svc.run blocks only this helper thread).
        from ikm_tui.core.p11.backend import Backend

        result = await asyncio.to_thread(
            store.login_with_remembered, lambda pin: svc.run(Backend.login, slot_id, pin), info.serial)
    except IkmError as err:
        screen.notify(plain(f"The remembered PIN was refused and has been forgotten.\n{err}"),
                      title="PIN memory", severity="error", markup=False, timeout=20)
        return False
    return True if result is not None else None


async def remember(screen: Screen[Any], store: PinStore, serial: str, pin: Any) -> None:
    """Store after a good login; a failure is a notice, the login stands."""
    try:
        await asyncio.to_thread(store.remember, serial, pin)
    except IkmError as err:
        screen.notify(plain(str(err)), title="PIN not remembered", severity="warning", markup=False)
    else:
        screen.notify("The PIN is remembered in the OS keyring for this token.", title="PIN memory")
