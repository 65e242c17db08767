"""Issue 6, must-show 2 (TUI part): a wrong PIN, a right one, crashes inside the login and
listing workers, and the trace; then every output is searched for either PIN, in ASCII and hex.

Outputs searched: the Trace pane and its buffer, SVG screenshots of every step, the Textual
log (TEXTUAL_LOG, the file Textual writes every `log` call to), the PIN dialog's error, the
error dialog, every notification, and the process's stdout/stderr. The CLI half is
tests/token/test_pin_hygiene.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import textual.constants
from textual.notifications import Notify
from textual.widgets import Static, TabbedContent

from tests.support import faults
from ikm_tui.core.p11.trace import format_entry
from ikm_tui.ui.screens.error_screen import ErrorScreen
from ikm_tui.ui.screens.pin_screen import PinScreen
from ikm_tui.ui.widgets.trace_pane import TracePane
from tests.token.test_pin_hygiene import assert_no_pin
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for, wait_for_screen

WRONG = "86420975"


class WorkerCrash(RuntimeError):
    """Injected: the module (or our code under it) blowing up mid-call."""


async def test_no_pin_in_any_tui_output(token: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capfd: pytest.CaptureFixture[str]) -> None:
    log_file = tmp_path / "textual.log"
    monkeypatch.setattr(textual.constants, "LOG_FILE", str(log_file))
    messages: list[Any] = []
    texts: list[str] = []  # everything shown or written, to search at the end
    plan = faults.FaultPlan()
    app = app_for(token)
    faults.install(token.service, plan)
    try:
        async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
            app.log("ikm-tui test: the Textual log is being written")  # proves the log is captured
            await settle(pilot)
            # 1. A wrong PIN: SoftHSM refuses it; the dialog shows why and stays open.
            await pilot.press("l")
            await wait_for_screen(pilot, PinScreen)
            pin_screen = app.screen
            assert isinstance(pin_screen, PinScreen)
            # Textual's log records key presses one by one: the dialog says so before any is typed.
            assert "TEXTUAL_LOG=" in str(pin_screen.query_one("#pin-flags", Static).render())
            await pilot.press(*WRONG, "enter")
            await wait_for(pilot, lambda: pin_screen.attempts == 1 and not pin_screen.busy)
            await pilot.pause()
            error = str(pin_screen.query_one("#pin-error", Static).render())
            assert "CKR_PIN_INCORRECT" in error
            texts += [error, app.export_screenshot()]
            # 2. The right PIN, but the login call crashes on the owner thread with the PIN in flight.
            plan.fail("C_Login", WorkerCrash("C_Login blew up"), on_call=1)
            await pilot.press(*token.pin, "enter")
            await wait_for(pilot, lambda: pin_screen.attempts == 2 and not pin_screen.busy)
            await pilot.pause()
            error = str(pin_screen.query_one("#pin-error", Static).render())
            assert "WorkerCrash" in error
            texts += [error, app.export_screenshot()]
            # 3. The right PIN again: logged in; then the listing worker crashes -> error dialog.
            plan.fail("list_objects", WorkerCrash("listing blew up"), on_call=1)
            await pilot.press(*token.pin, "enter")
            await wait_for_screen(pilot, ErrorScreen)
            dialog = str(app.screen.query_one("#error-message", Static).render())
            assert "listing blew up" in dialog
            texts += [dialog, app.export_screenshot()]
            await pilot.press("escape")
            await settle(pilot)
            # Rescan (re-initialises the module: logged out), log in for good, copy the URI:
            # both leave notifications.
            await pilot.press("ctrl+r")
            await settle(pilot)
            await pilot.press("l")
            await wait_for_screen(pilot, PinScreen)
            await pilot.press(*token.pin, "enter")
            await wait_for(pilot, lambda: app.main_screen.listing is not None and app.main_screen.listing.logged_in)
            await pilot.press("c")
            await settle(pilot)
            # 4. The trace: the three logins are there, with *** for the PIN.
            app.main_screen.query_one("#tabs", TabbedContent).active = "tab-trace"
            await settle(pilot)
            pane = app.main_screen.query_one(TracePane)
            logins = [line for line in pane.lines if " login(" in line]
            assert len(logins) == 4 and all("***" in line for line in logins), logins
            assert "CKR_PIN_INCORRECT" in logins[0] and "-> OK" not in logins[1]
            assert "-> OK" in logins[2] and "-> OK" in logins[3]
            texts += [pane.plain_text, app.export_screenshot(),
                      "\n".join(format_entry(e) for e in app.trace_feed.buffer.entries)]
            texts += [f"{n.title} {n.message}" for n in app._notifications]  # noqa: SLF001
    finally:
        faults.uninstall(token.service)
    notices = [m.notification for m in messages if isinstance(m, Notify)]
    assert any("Logged in" in n.message for n in notices) and any("Copied" in n.message for n in notices)
    texts += [f"{n.title} {n.message}" for n in notices]
    log = log_file.read_text(encoding="utf-8", errors="replace")
    assert "the Textual log is being written" in log and "Worker" in log
    # The PIN field's messages are logged, redacted (Input's own would show the whole PIN).
    assert "PinInput.Changed(value=***)" in log and "PinInput.Submitted(value=***)" in log
    texts.append(log)
    out = capfd.readouterr()
    texts += [out.out, out.err]
    assert_no_pin("\n".join(texts), token.pin, WRONG)
