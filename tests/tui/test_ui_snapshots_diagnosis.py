"""Snapshots (in snapshots/) of an error dialog, the Trace pane after a login and a lint result.

Same rules as tests/tui/test_ui_snapshots.py: the committed snapshot token, one module, fixed
clock, theme and size, and `timings=False` so call durations do not change the picture.
"""

from __future__ import annotations

from typing import Any

import pkcs11.exceptions as p11x
from textual.pilot import Pilot
from textual.widgets import TabbedContent

from tests.support import faults
from ikm_tui.core.model import ObjClass
from ikm_tui.ui.screens.error_screen import ErrorScreen
from ikm_tui.ui.widgets.object_table import ObjectTable
from ikm_tui.ui.screens.pin_screen import PinScreen
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for, wait_for_screen


def test_error_dialog_token_removed(snap_compare: Any, snapshot_token: Any) -> None:
    """A listing that fails because the token went away: cause, CKR name, what to do."""
    plan = faults.FaultPlan()

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        plan.fail("list_objects", p11x.DeviceRemoved, on_call=1)
        await pilot.press("r")
        await wait_for_screen(pilot, ErrorScreen)
        await pilot.pause()

    faults.install(snapshot_token.service, plan)
    try:
        assert snap_compare(app_for(snapshot_token), terminal_size=SIZE, run_before=run_before)
    finally:
        faults.uninstall(snapshot_token.service)


def test_trace_pane_after_login(snap_compare: Any, snapshot_token: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("l")
        await wait_for_screen(pilot, PinScreen)
        await pilot.press(*snapshot_token.pin, "enter")
        main = pilot.app.main_screen  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: main.listing is not None and main.listing.logged_in)
        await settle(pilot)
        main.query_one("#tabs", TabbedContent).active = "tab-trace"
        pilot.app.clear_notifications()  # "Logged in" would expire at a time-dependent moment
        await settle(pilot)

    assert snap_compare(app_for(snapshot_token, timings=False), terminal_size=SIZE, run_before=run_before)


def test_lint_keycertsign_without_ca(snap_compare: Any, snapshot_token: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        main = pilot.app.main_screen  # type: ignore[attr-defined]
        main.query_one("#tabs", TabbedContent).active = "tab-certs"
        await pilot.pause()
        certs = main.query_one("#certs", ObjectTable)
        certs.focus()
        certs.select_handle(next(o.handle for o in main.listing.objects
                                 if o.cls is ObjClass.CERTIFICATE and o.label == "keyCertSign-but-not-CA"))
        await settle(pilot)

    assert snap_compare(app_for(snapshot_token), terminal_size=SIZE, run_before=run_before)
