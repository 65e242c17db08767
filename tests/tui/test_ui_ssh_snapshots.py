"""Snapshots at 80x24 for the SSH terminal (issue #14): days left with a filter, help, `m`, ASCII.

Fixed clock (12 days before the demo leaves expire), theme, size and snapshot token, as in
test_ui_snapshots.py. `snap_compare` runs its own event loop, so these are plain functions.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from tests.support.ui_helpers import settle, wait_for
from tests.tui.test_ui_navigation import later_app

SIZE_80 = (80, 24)


def test_certificates_days_left_filtered_80x24(snap_compare: Any, snapshot_token: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("2", "slash", *"example.com")
        await pilot.pause()
        pilot.app.screen.query_one("#filter-certs", Input).cursor_blink = False
        await pilot.pause()

    assert snap_compare(later_app(snapshot_token), terminal_size=SIZE_80, run_before=run_before)


def test_help_80x24(snap_compare: Any, snapshot_token: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "HelpScreen" and pilot.app.screen.is_mounted)
        await pilot.pause()

    assert snap_compare(later_app(snapshot_token), terminal_size=SIZE_80, run_before=run_before)


def test_show_me_the_command_80x24(snap_compare: Any, snapshot_token: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("2", "down", "m")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "CommandScreen"
                       and pilot.app.screen.is_mounted)
        await pilot.pause()

    assert snap_compare(later_app(snapshot_token), terminal_size=SIZE_80, run_before=run_before)
