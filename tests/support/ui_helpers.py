"""Helpers for the TUI tests: build the app on a test token, wait for token workers."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from ikm_tui.ui.app import IkmApp, make_app
from tests.support.fixtures.make_snapshot_token import FIXED_NOW

SIZE = (120, 36)


def app_for(tok: Any, **kwargs: Any) -> IkmApp:
    """The TUI on one test token: only the SoftHSM module (not whatever else the machine has
    registered), a fixed clock and a fixed theme; Unicode drawing whatever the locale or TERM."""
    kwargs.setdefault("ascii_only", False)
    return make_app(module=tok.module, token=tok.label, modules=[tok.module],
                    clock=lambda: FIXED_NOW, **kwargs)


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until token workers are done and the screen has caught up."""
    for _ in range(3):
        await pilot.pause()
        # The "login" worker waits on the PIN dialog until a test answers it: don't wait for it.
        workers = [w for w in pilot.app.workers if w.name != "login" or not w.is_running]
        if workers:  # wait_for_complete([]) would wait for every worker, the login one too
            await pilot.app.workers.wait_for_complete(workers)
    await pilot.pause()


async def wait_for(pilot: Pilot[Any], predicate: Any, timeout: float = 10.0) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


async def wait_for_screen(pilot: Pilot[Any], screen_type: type, timeout: float = 10.0) -> Any:
    """Wait until a screen of this type is on top *and mounted*.

    Why not just isinstance: push_screen puts the screen on the stack at once and composes it
    in its own task; a test that queries in between finds no widgets (a CI flake on a busy box).
    """
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen_type) and pilot.app.screen.is_mounted,
                   timeout)
    await pilot.pause()
    return pilot.app.screen
