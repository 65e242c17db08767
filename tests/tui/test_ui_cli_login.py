"""IKM_PIN / --pin-file in the TUI (issue #14 item 8): one login at start-up, never retried."""

from __future__ import annotations

from typing import Any

from ikm_tui.core.pin import Pin
from ikm_tui.ui.screens.error_screen import ErrorScreen
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for


def _count_calls(service: Any) -> list[str]:
    seen: list[str] = []
    service.tracers.append(lambda entry: seen.append(entry.function))
    return seen


async def test_pin_from_the_cli_logs_in_once(token: Any) -> None:
    calls = _count_calls(token.service)
    app = app_for(token, login_pin=Pin(token.pin))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.main_screen.listing is not None
                           and app.main_screen.listing.logged_in)
            await settle(pilot)
            assert calls.count("login") == 1
            assert app.login_pin is None  # forgotten once used
    finally:
        token.service.tracers.clear()


async def test_wrong_pin_from_the_cli_is_tried_once_and_said(token: Any) -> None:
    calls = _count_calls(token.service)
    app = app_for(token, login_pin=Pin("99999999"))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen))
            await settle(pilot)
            text = " ".join(str(w.render()) for w in app.screen.query("Static"))
            assert "CKR_PIN_INCORRECT" in text and "99999999" not in text
            await pilot.press("escape")
            await pilot.press("r")  # a reload does not try the PIN again
            await settle(pilot)
            assert calls.count("login") == 1
            assert not app.main_screen.listing.logged_in  # type: ignore[union-attr]
    finally:
        token.service.tracers.clear()
