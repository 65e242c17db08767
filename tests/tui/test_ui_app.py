"""App-level behaviour: worker errors become a dialog, the crash screen hides locals, bindings
and the command palette, the demo banner."""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App
from textual.binding import Binding
from textual.widgets import Static

from ikm_tui.ui.app import IkmApp
from ikm_tui.ui.screens.error_screen import ErrorScreen
from ikm_tui.ui.main_screen import MainScreen
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for, wait_for_screen


async def test_unknown_token_opens_error_dialog_listing_labels(snapshot_token: Any, module_path: str) -> None:
    from ikm_tui.ui.app import make_app
    from tests.support.ui_helpers import FIXED_NOW

    app = make_app(module=module_path, token="no such token", modules=[module_path], clock=lambda: FIXED_NOW)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_screen(pilot, ErrorScreen)
        text = str(app.screen.query_one("#error-message", Static).render())
        assert "No token matches 'no such token'" in text
        assert snapshot_token.label in text
        assert "What to do" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_textual_still_renders_crashes_with_locals(capsys: pytest.CaptureFixture[str]) -> None:
    # Tripwire: IkmApp._fatal_error exists only because plain Textual prints every frame's
    # locals on a crash. If this fails, Textual changed: re-check whether the override is
    # still needed/valid.
    def boom() -> None:
        marker_local = "-".join(["LOCAL", "SHOWN", "42"])
        raise RuntimeError(f"boom {len(marker_local)}")

    app: App[None] = App()
    with pytest.raises(RuntimeError):
        async with app.run_test(size=SIZE) as pilot:
            app.call_later(boom)
            await pilot.pause(0.2)
    assert "LOCAL-SHOWN-42" in capsys.readouterr().err
    assert IkmApp._fatal_error is not App._fatal_error  # noqa: SLF001 - the override under test


async def test_crash_screen_shows_no_locals(snapshot_token: Any, capsys: pytest.CaptureFixture[str]) -> None:
    app = app_for(snapshot_token)

    def boom() -> None:
        # Built at run time, so only a locals dump (not the source excerpt) could show it.
        secret_pin = "-".join(["SECRET", "PIN", "4711"])
        raise RuntimeError(f"boom {len(secret_pin)}")

    with pytest.raises(RuntimeError):
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.call_later(boom)
            await pilot.pause(0.2)
    text = capsys.readouterr().err  # Textual prints the crash screen to stderr on exit
    assert "boom 15" in text
    assert "SECRET-PIN-4711" not in text


def test_every_binding_has_id_and_tooltip() -> None:
    from ikm_tui.ui.screens.error_screen import ErrorScreen
    from ikm_tui.ui.screens.help_screen import HelpScreen
    from ikm_tui.ui.screens.pin_screen import PinScreen

    for owner in (IkmApp, MainScreen, PinScreen, ErrorScreen, HelpScreen):
        for b in owner.BINDINGS:
            assert isinstance(b, Binding), owner
            assert b.id and b.tooltip, (owner, b.key)


async def test_palette_runs_rescan(snapshot_token: Any) -> None:
    seen: list[str] = []
    snapshot_token.service.tracers.append(lambda e: seen.append(e.function))
    try:
        app = app_for(snapshot_token)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            seen.clear()
            await pilot.press("ctrl+p")
            await pilot.pause(0.2)
            await pilot.press(*"Rescan tokens")
            await pilot.pause(0.5)
            await pilot.press("enter")
            await wait_for(pilot, lambda: "rescan" in seen and "list_objects" in seen)
    finally:
        snapshot_token.service.tracers.clear()


async def test_demo_banner_shows_pin(snapshot_token: Any) -> None:
    app = app_for(snapshot_token, demo_pin="123456")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "Demo token – PIN 123456" in str(app.main_screen.query_one("#demo-banner", Static).render())
