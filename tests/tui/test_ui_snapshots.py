"""Snapshots of the main screen, a certificate's details and the PIN dialog (in snapshots/).

Deterministic on purpose: the committed snapshot token (fixed serial, slot id, keys), one
module only, a fixed clock, theme and terminal size. `snap_compare` runs its own event loop,
so these tests are plain functions.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, TabbedContent

from ikm_tui.core.model import ObjClass
from ikm_tui.ui.widgets.object_table import ObjectTable
from ikm_tui.ui.screens.pin_screen import PinScreen
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for_screen


def test_main_screen(snap_compare: Any, snapshot_token: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)

    assert snap_compare(app_for(snapshot_token), terminal_size=SIZE, run_before=run_before)


def test_main_screen_80x24(snap_compare: Any, snapshot_token: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)

    assert snap_compare(app_for(snapshot_token), terminal_size=(80, 24), run_before=run_before)


def test_certificate_details(snap_compare: Any, snapshot_token: Any) -> None:
    snapshot_token.login()

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        main = pilot.app.main_screen  # type: ignore[attr-defined]
        main.query_one("#tabs", TabbedContent).active = "tab-certs"
        await pilot.pause()
        certs = main.query_one("#certs", ObjectTable)
        certs.focus()
        cert = next(o.handle for o in main.listing.objects
                    if o.cls is ObjClass.CERTIFICATE and o.label == "mq-server")
        certs.select_handle(cert)
        await settle(pilot)

    assert snap_compare(app_for(snapshot_token), terminal_size=SIZE, run_before=run_before)


def test_pin_dialog(snap_compare: Any, snapshot_token: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("l")
        await wait_for_screen(pilot, PinScreen)
        # A blinking cursor would make the snapshot depend on timing.
        pilot.app.screen.query_one("#pin-input", Input).cursor_blink = False
        await pilot.press(*"1234")
        await pilot.pause()

    assert snap_compare(app_for(snapshot_token), terminal_size=SIZE, run_before=run_before)
