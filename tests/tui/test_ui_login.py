"""PIN dialog on a real SoftHSM token: right PIN, wrong PIN (error shown, exactly one C_Login)."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, Static

from ikm_tui.core.model import ObjClass
from ikm_tui.ui.widgets.object_table import ObjectTable
from ikm_tui.ui.screens.pin_screen import PinScreen
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for, wait_for_screen


def _count_calls(service: Any, name: str) -> list[str]:
    seen: list[str] = []

    def tracer(entry: Any) -> None:
        seen.append(entry.function)

    service.tracers.append(tracer)
    return seen


async def test_right_pin_logs_in_and_lists_private_keys(snapshot_token: Any) -> None:
    app = app_for(snapshot_token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.main_screen.listing is not None
        assert not app.main_screen.listing.logged_in
        assert not any(o.cls is ObjClass.PRIVATE_KEY for o in app.main_screen.listing.objects)
        await pilot.press("l")
        await wait_for_screen(pilot, PinScreen)
        # The flags are on screen before the PIN is asked for.
        flags = str(app.screen.query_one("#pin-flags", Static).render())
        assert "PIN length: 4–255" in flags
        await pilot.press(*snapshot_token.pin, "enter")
        await wait_for(pilot, lambda: app.main_screen.listing is not None and app.main_screen.listing.logged_in)
        await settle(pilot)
        assert not isinstance(app.screen, PinScreen)
        keys = app.main_screen.query_one("#keys", ObjectTable)
        classes = {app.main_screen.listing.by_handle(h).cls for h in keys.handles}  # type: ignore[union-attr]
        assert ObjClass.PRIVATE_KEY in classes


async def test_wrong_pin_shows_error_and_does_not_retry(snapshot_token: Any) -> None:
    calls = _count_calls(snapshot_token.service, "login")
    app = app_for(snapshot_token)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("l")
            await wait_for_screen(pilot, PinScreen)
            pin_screen = app.screen
            assert isinstance(pin_screen, PinScreen)
            calls.clear()
            await pilot.press(*"99999999", "enter")
            await wait_for(pilot, lambda: pin_screen.query_one("#pin-error", Static).display
                           and not pin_screen.busy)
            await pilot.pause(0.3)
            error = str(pin_screen.query_one("#pin-error", Static).render())
            assert "CKR_PIN_INCORRECT" in error
            assert "What to do" in error
            # Exactly one C_Login for one submit, then the flags were read again.
            assert calls.count("login") == 1
            assert calls[-1] == "token_info"
            assert pin_screen.attempts == 1
            # Still on the dialog, input cleared, nothing logged in.
            assert app.screen is pin_screen
            assert pin_screen.query_one("#pin-input", Input).value == ""
            assert not app.main_screen.listing.logged_in  # type: ignore[union-attr]
            # SoftHSM sets COUNT_LOW after a wrong PIN: the dialog shows the new state.
            assert "COUNT LOW" in str(pin_screen.query_one("#pin-flags", Static).render())
            await pilot.press("escape")
            await settle(pilot)
            assert calls.count("login") == 1
    finally:
        snapshot_token.service.tracers.clear()


async def test_pin_length_is_checked_before_the_token_sees_it(snapshot_token: Any) -> None:
    calls = _count_calls(snapshot_token.service, "login")
    app = app_for(snapshot_token)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("l")
            await wait_for_screen(pilot, PinScreen)
            await pilot.press("1", "2", "enter")
            await pilot.pause(0.2)
            assert "too short" in str(app.screen.query_one("#pin-error", Static).render())
            assert "login" not in calls
    finally:
        snapshot_token.service.tracers.clear()


async def test_refresh_keeps_the_login_and_rescan_does_not(token: Any, tmp_path: Any) -> None:
    """r lists the open token again on its session: still logged in, and objects another tool
    wrote meanwhile appear. ctrl+r re-initialises the module (new SoftHSM tokens), which logs out."""
    from tests.support.helpers import pkcs11_tool

    token.login()
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        main = app.main_screen
        assert main.listing is not None and main.listing.logged_in
        data = tmp_path / "note.bin"
        data.write_bytes(b"written by another process")
        pkcs11_tool(token, "--write-object", str(data), "--type", "data", "--label", "from-elsewhere")
        seen = _count_calls(token.service, "any")
        try:
            await pilot.press("r")
            await settle(pilot)
            assert main.listing.logged_in, "r must not log the operator out"
            assert "from-elsewhere" in [o.label for o in main.listing.objects]
            assert "rescan" not in seen and "login" not in seen and "list_objects" in seen
            await pilot.press("ctrl+r")
            await settle(pilot)
            assert "rescan" in seen
            assert main.listing is not None and not main.listing.logged_in
        finally:
            token.service.tracers.clear()
