"""StartupPrefetch: the TUI's first token calls, queued on the owner thread before Textual loads."""

from __future__ import annotations

import concurrent.futures
from typing import TYPE_CHECKING, Any

from ikm_tui.core.p11.modules import canonical
from ikm_tui.core.p11.quirks import quirks_for

if TYPE_CHECKING:
    from ikm_tui.core.p11.service import TokenService


class StartupPrefetch:
    """The first module's start-up calls, chained on its owner thread.

    At start-up the token to open is nearly always on the first module (--module, IKM_MODULE,
    the only one with a token). Its calls are the ones the main screen makes, in the same order
    (module_info, slots, find_slot when --token is given, list_objects, mechanisms), but queued
    by the CLI *before* it imports Textual, and each queued by the owner thread as the previous
    one ends. Why: importing Textual and drawing the first frame is ~0.4 s of Python on the main
    thread; SoftHSM's C_Initialize (it releases the GIL) and the listing run beside it, so the
    table fills as soon as the screen exists instead of starting then.

    The token is the one the screen opens: `selector` (--token) on the first module, else the
    first module's first initialised token (the tree's first token). No call is made that the
    screen would not make. Futures only: no asyncio, no Textual (the core stays UI-free).
    """

    def __init__(self, svc: TokenService, module_path: str, selector: str | None) -> None:
        from ikm_tui.core.p11.backend import Backend

        self.module_path = module_path
        self.selector = selector
        self.info = svc.submit(Backend.module_info)
        self.slots = svc.submit(Backend.slots)
        self.slot: concurrent.futures.Future[Any]
        if selector is not None:
            self.slot = svc.after(self.slots, Backend.find_slot, lambda _slots: (selector,))
        else:
            self.slot = concurrent.futures.Future()

            def first_token(done: concurrent.futures.Future[Any]) -> None:
                exc = done.exception()
                if exc is not None:
                    self.slot.set_exception(exc)
                    return
                self.slot.set_result(next((s.slot_id for s in done.result()
                                           if s.token is not None and s.token.initialized), None))

            self.slots.add_done_callback(first_token)
        # A remote module's listing is left to the screen, which shows it row by row as it
        # arrives (one round trip per object): a prefetched listing would appear all at once.
        self.remote = quirks_for(module_path).remote
        self.listing = svc.after(self.slot, Backend.list_objects,
                                 lambda slot: None if slot is None or self.remote else (slot,))
        self.mechanisms = svc.after(self.listing, Backend.mechanisms,
                                    lambda listing: None if listing is None else (listing.slot_id,))

    def serves(self, module_path: str, selector: str | None) -> bool:
        """Whether these are the calls a screen opening `selector` on `module_path` would make."""
        return canonical(module_path) == canonical(self.module_path) and selector == self.selector

    def lists(self, module_path: str, slot_id: int) -> bool:
        """Whether the chain lists this token (call when `info` and `slot` are done)."""
        try:
            info = self.info.result(0)
            slot = self.slot.result(0)
        except Exception:  # noqa: BLE001 - a failed step: the screen makes its own calls
            return False
        return (slot is not None and slot == slot_id and not self.remote
                and canonical(info.path) == canonical(module_path))
