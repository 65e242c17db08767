"""Log in (the remembered PIN first, else the PIN dialog) or log out of the open token: key l."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ikm_tui.core.p11.backend import Backend
from ikm_tui.ui.flows import pin_memory
from ikm_tui.ui.screens.pin_screen import PinScreen
from ikm_tui.ui.widgets.token_tree import TokenTree

if TYPE_CHECKING:
    from ikm_tui.ui.flows.host import FlowHost


async def toggle_login(main: FlowHost) -> None:
    ref, listing = main.current, main.listing
    if ref is None or listing is None:
        main.notify("Open a token first.", severity="warning")
        return
    svc: Any = main.ikm.service_for(ref.module_path)
    if listing.logged_in:
        await svc.arun(Backend.logout, ref.slot_id)
        await main.open_token(ref)
        main.notify("Logged out: private objects are hidden again.")
        return
    # Fresh flags: COUNT_LOW / FINAL_TRY / LOCKED may have changed since the listing.
    info = await svc.arun(Backend.token_info, ref.slot_id)
    tree = main.query_one("#tokens", TokenTree)
    tree.update_token(ref, info)
    store = await _pin_store(main)
    remembered = await pin_memory.login_with_remembered(main, svc, ref.slot_id, info, store)
    if remembered:
        await main.open_token(ref)
        main.notify("Logged in with the PIN remembered in the OS keyring.")
        return
    if remembered is False:  # the refused try changed the flags: show them before asking
        info = await svc.arun(Backend.token_info, ref.slot_id)
        tree.update_token(ref, info)
    if await main.app.push_screen_wait(PinScreen(svc, ref.slot_id, info, pin_store=store,
                                                 on_flags=lambda i: tree.update_token(ref, i))):
        await main.open_token(ref)
        main.notify("Logged in: private keys are listed.")


async def _pin_store(main: FlowHost) -> Any:
    """The app's PinStore, made once (off the event loop: probing the keyring may block)."""
    if main.ikm.pin_store is None:
        main.ikm.pin_store = await asyncio.to_thread(pin_memory.default_store)
    return main.ikm.pin_store
