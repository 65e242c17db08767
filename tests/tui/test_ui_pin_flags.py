"""PinScreen with FINAL_TRY / LOCKED flags. SoftHSM never locks a PIN (PKCS11_NOTES), so the
flags come from a TokenInfo and the service is a recorder: what matters is what gets called."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual.app import App
from textual.widgets import Checkbox, Input, Static

from ikm_tui.core.errors import IkmError
from ikm_tui.core.model import PinState, TokenInfo
from ikm_tui.core.pin import Pin
from ikm_tui.ui.screens.pin_screen import PinScreen
from tests.support.ui_helpers import wait_for

INFO = TokenInfo(label="UserPIN (card)", manufacturer="m", model="x", serial="1", flags=(),
                 pin=PinState(), min_pin_len=6, max_pin_len=15)


class RecordingService:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.fail = fail

    async def arun(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        name = fn.__name__
        self.calls.append((name, args, kwargs))
        if name == "login" and self.fail:
            raise IkmError("The PIN was wrong.", "Check it.", "CKR_PIN_INCORRECT", 0xA0, "Login")
        if name == "token_info":
            return INFO
        return None


class Host(App[None]):
    def __init__(self, screen: PinScreen) -> None:
        super().__init__()
        self.pin_screen = screen
        self.result: bool | None = None

    def on_mount(self) -> None:
        def done(value: bool | None) -> None:
            self.result = value

        self.push_screen(self.pin_screen, done)


async def test_final_try_needs_explicit_confirmation() -> None:
    svc = RecordingService()
    info = replace(INFO, pin=PinState(user_count_low=True, user_final_try=True))
    app = Host(PinScreen(svc, 7, info))
    async with app.run_test() as pilot:
        await pilot.pause()
        screen = app.pin_screen
        assert "FINAL TRY" in str(screen.query_one("#pin-flags", Static).render())
        assert screen.query_one("#pin-final-try", Checkbox).display
        await pilot.press(*"123456", "enter")
        await pilot.pause()
        assert svc.calls == []
        assert "tick the box" in str(screen.query_one("#pin-error", Static).render())
        screen.query_one("#pin-final-try", Checkbox).value = True
        screen.query_one("#pin-input", Input).value = "123456"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.result is not None)
        assert [c[0] for c in svc.calls] == ["login"]
        name, args, kwargs = svc.calls[0]
        assert args == (7, Pin("123456")) and isinstance(args[1], Pin)
        assert kwargs == {"allow_final_try": True}
        assert app.result is True


async def test_locked_pin_is_never_tried() -> None:
    svc = RecordingService()
    info = replace(INFO, pin=PinState(user_locked=True))
    app = Host(PinScreen(svc, 7, info))
    async with app.run_test() as pilot:
        await pilot.pause()
        screen = app.pin_screen
        flags = str(screen.query_one("#pin-flags", Static).render())
        assert "LOCKED" in flags and "will not try" in flags
        assert screen.query_one("#pin-input", Input).disabled
        screen.submit()
        await pilot.pause()
        assert svc.calls == []


async def test_one_login_per_submit_even_when_it_fails() -> None:
    svc = RecordingService(fail=True)
    app = Host(PinScreen(svc, 7, INFO))
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press(*"1234567", "enter")
        await wait_for(pilot, lambda: not app.pin_screen.busy and len(svc.calls) >= 2)
        await pilot.pause(0.2)
        assert [c[0] for c in svc.calls] == ["login", "token_info"]
        assert "CKR_PIN_INCORRECT" in str(app.pin_screen.query_one("#pin-error", Static).render())
