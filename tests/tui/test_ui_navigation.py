"""Keyboard-only navigation (issue #14 items 2, 3): 1-5 and [ ] for tabs, / filter, days left."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from textual.widgets import Static, TabbedContent

from ikm_tui.ui.app import make_app
from ikm_tui.ui.widgets.filter_bar import FilterBar
from ikm_tui.ui.widgets.object_table import ObjectTable
from tests.support.fixtures.make_snapshot_token import FIXED_NOW
from tests.support.ui_helpers import SIZE, settle

# 12 days before the demo leaves (issued for a year at FIXED_NOW) expire; old-server is expired.
LATER = FIXED_NOW + timedelta(days=365 - 12)


def later_app(tok: Any, ascii_only: bool = False) -> Any:
    return make_app(module=tok.module, token=tok.label, modules=[tok.module], clock=lambda: LATER,
                    ascii_only=ascii_only)


def _labels(table: ObjectTable, app: Any) -> list[str]:
    return [app.main_screen.listing.by_handle(h).label for h in table.handles]


async def test_number_and_bracket_keys_switch_tabs(snapshot_token: Any) -> None:
    app = later_app(snapshot_token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tabs = app.main_screen.query_one("#tabs", TabbedContent)
        for key, tab in (("2", "tab-certs"), ("5", "tab-trace"), ("right_square_bracket", "tab-keys"),
                         ("left_square_bracket", "tab-trace"), ("3", "tab-requests"), ("1", "tab-keys")):
            await pilot.press(key)
            await pilot.pause()
            assert tabs.active == tab, key
        footer = " ".join(str(w.render()) for w in app.main_screen.query("FooterKey"))
        assert "1-5" in footer and "Filter" in footer


async def test_days_left_column_and_header_count(snapshot_token: Any) -> None:
    app = later_app(snapshot_token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        certs = app.main_screen.query_one("#certs", ObjectTable)
        left = {app.main_screen.listing.by_handle(h).label: str(certs.get_row_at(i)[3])
                for i, h in enumerate(certs.handles)}
        assert left["old-server"] == "EXPIRED"
        assert left["mq-server"] == "12d SOON"
        status = str(app.main_screen.query_one("#status", Static).render())
        assert "1 EXPIRED" in status and "<30d" in status
        await pilot.press("2", "o")  # soonest first: the expired one on top
        await pilot.pause()
        assert _labels(certs, app)[0] == "old-server"


async def test_slash_filters_the_table_and_escape_clears(snapshot_token: Any) -> None:
    app = later_app(snapshot_token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        certs = app.main_screen.query_one("#certs", ObjectTable)
        every = _labels(certs, app)
        await pilot.press("slash", *"partner")
        await pilot.pause()
        assert _labels(certs, app) == ["partner (no key)"]
        await pilot.press("enter")  # back to the rows; the filter stays
        await pilot.pause()
        assert certs.has_focus and _labels(certs, app) == ["partner (no key)"]
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert _labels(certs, app) == every
        assert not app.main_screen.query(FilterBar)
        await pilot.press("slash", *"Demo CA")  # the issuer matches too (every leaf the CA issued)
        await pilot.pause()
        assert "partner (no key)" in _labels(certs, app) and "old-server" in _labels(certs, app)


async def test_dialogs_show_their_own_keys_in_the_footer(snapshot_token: Any) -> None:
    from ikm_tui.ui.screens.pin_screen import PinScreen
    from tests.support.ui_helpers import wait_for, wait_for_screen

    app = later_app(snapshot_token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        pin = await wait_for_screen(pilot, PinScreen)
        await wait_for(pilot, lambda: bool(pin.query("FooterKey")))
        keys = " ".join(str(w.render()) for w in pin.query("FooterKey"))
        assert "Login" not in keys and "Reload" not in keys  # not the main screen's


async def test_palette_switches_tabs_and_opens_the_filter(snapshot_token: Any) -> None:
    from tests.support.ui_helpers import wait_for

    app = later_app(snapshot_token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tabs = app.main_screen.query_one("#tabs", TabbedContent)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: app.screen is not app.main_screen and app.screen.is_mounted)
        await pilot.press(*"Certificates tab", "enter")
        await wait_for(pilot, lambda: tabs.active == "tab-certs")
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: app.screen is not app.main_screen and app.screen.is_mounted)
        await pilot.press(*"Filter table", "enter")
        await wait_for(pilot, lambda: bool(app.main_screen.query(FilterBar)))
