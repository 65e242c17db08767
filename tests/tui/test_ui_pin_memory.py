"""Opt-in PIN memory in the TUI: remembered only when ticked, one login with it, a refused one forgotten."""

from __future__ import annotations

from typing import Any

from textual.widgets import Checkbox, Static

from ikm_tui.core.ops.pinstore import SERVICE_NAME, PinStore
from ikm_tui.ui.screens.pin_screen import PinScreen
from tests.token.test_pinstore import MemoryKeyring
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for, wait_for_screen


def _logins(service: Any) -> list[str]:
    seen: list[str] = []
    service.tracers.append(lambda e: seen.append(e.function) if e.function == "login" else None)
    return seen


async def _open_pin_dialog(pilot: Any, app: Any) -> None:
    await pilot.press("l")
    await wait_for_screen(pilot, PinScreen)


async def test_no_keyring_says_why_and_prompting_works(snapshot_token: Any) -> None:
    app = app_for(snapshot_token)  # conftest: the 'fail' keyring, as over SSH
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _open_pin_dialog(pilot, app)
        assert not app.screen.query_one("#pin-remember", Checkbox).display
        note = str(app.screen.query_one("#pin-remember-note", Static).render())
        assert "no OS keyring is reachable" in note
        await pilot.press(*snapshot_token.pin, "enter")
        await wait_for(pilot, lambda: app.main_screen.listing is not None and app.main_screen.listing.logged_in)


async def test_remembered_only_when_ticked_then_used_once(snapshot_token: Any) -> None:
    ring = MemoryKeyring()
    app = app_for(snapshot_token, pin_store=PinStore(ring))
    logins = _logins(snapshot_token.service)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        serial = app.main_screen.listing.token.serial
        await _open_pin_dialog(pilot, app)
        app.screen.query_one("#pin-remember", Checkbox).value = True
        await pilot.press(*snapshot_token.pin, "enter")
        await wait_for(pilot, lambda: app.main_screen.listing is not None and app.main_screen.listing.logged_in)
        await settle(pilot)
        assert ring.store[(SERVICE_NAME, serial)] == snapshot_token.pin
        await pilot.press("l")  # log out
        await wait_for(pilot, lambda: not app.main_screen.listing.logged_in)
        await pilot.press("l")  # log in again: the keyring's PIN, no dialog
        await wait_for(pilot, lambda: app.main_screen.listing.logged_in)
        assert not isinstance(app.screen, PinScreen)
    assert logins == ["login", "login"]


async def test_refused_remembered_pin_is_forgotten_and_not_retried(snapshot_token: Any) -> None:
    ring = MemoryKeyring()
    app = app_for(snapshot_token, pin_store=PinStore(ring))
    logins = _logins(snapshot_token.service)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        serial = app.main_screen.listing.token.serial
        ring.store[(SERVICE_NAME, serial)] = "99999999"  # stale: the PIN was changed elsewhere
        await _open_pin_dialog(pilot, app)  # one refused login, then the operator is asked
        assert (SERVICE_NAME, serial) not in ring.store
        assert logins == ["login"]
        await pilot.press("escape")
        await settle(pilot)
    assert logins == ["login"]
