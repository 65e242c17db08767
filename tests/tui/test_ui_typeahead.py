"""Type-ahead (issue #14 item 1): keys that arrive in ONE read go to the dialog the first key opens.

`pilot.press` waits for the app to go idle after every key, which is not what an SSH link or a
paste does. `burst` hands all the keys to the driver at once, as the terminal driver does with
the keys it parses out of one read, and only then lets the app run.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from ikm_tui.ui.screens.pin_screen import PinScreen
from ikm_tui.ui.screens.request_form import RequestForm
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for, wait_for_screen

_NAMED = {"tab": None, "enter": "\r", "escape": "\x1b"}


def burst(pilot: Pilot[Any], *keys: str) -> None:
    """Post every key to the app with no pause in between: what the terminal driver does with
    the keys it parses out of one read (Driver.process_message -> app._post_message)."""
    for key in keys:
        if key in _NAMED:
            char = _NAMED[key]
        else:
            char = key if len(key) == 1 else unicodedata.lookup(key.upper().replace("_", " "))
        event = events.Key(key, char)
        event.set_sender(pilot.app)
        pilot.app.post_message(event)


async def test_l_then_q_in_one_read_types_q_into_the_pin_dialog(token: Any) -> None:
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        burst(pilot, "l", "q")
        screen = await wait_for_screen(pilot, PinScreen)
        await wait_for(pilot, lambda: screen.query_one("#pin-input", Input).value == "q")
        await pilot.pause(0.2)
        assert app.is_running and app.return_code is None  # q in the dialog never quits
        assert app.screen is screen
        assert screen.query_one("#pin-input", Input).value == "q"


async def test_l_pin_enter_in_one_read_logs_in(token: Any) -> None:
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        burst(pilot, "l", *token.pin, "enter")
        await wait_for(pilot, lambda: app.main_screen.listing is not None and app.main_screen.listing.logged_in)
        await settle(pilot)
        assert app.screen is app.main_screen  # the dialog took the PIN and closed
        # None of the PIN's digits reached the main screen as a command (1-5 would switch tabs).
        assert app.main_screen.query_one("#tabs").active == "tab-keys"  # type: ignore[attr-defined]


async def test_request_form_fields_follow_tabs_typed_ahead(token: Any) -> None:
    token.login()
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        burst(pilot, "n", "a", "b", "c", "tab", "tab", "tab", "d", "e", "f")
        form = await wait_for_screen(pilot, RequestForm)
        await wait_for(pilot, lambda: form.query_one("#form-subject", Input).value.endswith("def"))
        assert form.query_one("#form-label", Input).value == "abc"
        assert form.query_one("#form-subject", Input).value == "def"


async def test_q_typed_into_a_dialog_that_is_opening_closes_it_never_the_app(token: Any) -> None:
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for opener in ("question_mark", "m"):  # help, and "show me the command"
            burst(pilot, opener, "q")  # q is the dialog's close key: it closes that, not the app
            await pilot.pause(0.3)
            await settle(pilot)
            assert app.is_running and app.return_code is None
            assert app.screen is app.main_screen
        burst(pilot, "question_mark", "escape", "m")  # and the key after a closing one goes below
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandScreen")
        assert app.is_running


async def test_typing_bound_characters_into_a_field_is_not_held(token: Any) -> None:
    """q, 1-5 and o are main-screen keys, but in the / filter they are characters: no wait."""
    import time

    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "slash")
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        field = app.focused
        assert isinstance(field, Input)
        started = time.monotonic()
        burst(pilot, *"q1o2")
        await wait_for(pilot, lambda: field.value == "q1o2")
        assert time.monotonic() - started < 0.8
        assert not app.key_gate.holding and app.is_running
