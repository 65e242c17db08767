"""The "All tokens" view (key E): every certificate of every module and remote, soonest first; sort, filter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ikm_tui.core.ops.expiry import days_left
from ikm_tui.core.p11 import softhsm
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.p11.modules import remote_candidates
from ikm_tui.core.p11.remote import client_module, request
from ikm_tui.ui.app import make_app
from ikm_tui.ui.main_screen import MainScreen
from ikm_tui.ui.screens.expiry_screen import ExpiryScreen
from ikm_tui.ui.widgets.token_tree import TokenTree
from tests.conftest import PIN, SO_PIN
from tests.support.ui_helpers import FIXED_NOW, SIZE, app_for, settle, wait_for, wait_for_screen


def _labels(screen: ExpiryScreen) -> list[str]:
    return [r.label for r in screen.shown_rows()]


async def test_all_tokens_sorted_filtered_and_back(snapshot_token: Any) -> None:
    listing = snapshot_token.service.run(Backend.list_objects, snapshot_token.slot_id)
    certs = [o for o in listing.objects if o.cls.value == "certificate"]
    app = app_for(snapshot_token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("E")
        screen = await wait_for_screen(pilot, ExpiryScreen)
        await wait_for(pilot, lambda: screen.pending == 0)
        rows = screen.shown_rows()
        assert len(rows) == len(certs) and screen.tokens == 1
        # Soonest first, days counted from the app's clock (snapshot tests pin it).
        lefts = [r.days_left for r in rows if r.days_left is not None]
        assert lefts == sorted(lefts)
        by_label = {o.label: o for o in certs}
        for r in rows:
            na = by_label[r.label].cert.not_after if by_label[r.label].cert else None
            assert r.days_left == days_left(na, FIXED_NOW)
        table = screen.query_one("#expiry-table")
        assert table.row_count == len(certs)
        # Sort by label (column 5), then reversed; `s` steps to the next column.
        screen.sort_by(5)
        assert _labels(screen) == sorted(_labels(screen), key=str.lower)
        screen.sort_by(5)
        assert _labels(screen) == sorted(_labels(screen), key=str.lower, reverse=True)
        await pilot.press("s")
        assert screen.sort_column == 6 and not screen.reverse
        # Filter: `/` then text; only matching rows stay in the table.
        needle = rows[0].label
        await pilot.press("slash")
        await pilot.press(*needle)
        await wait_for(pilot, lambda: screen.needle == needle)
        assert all(needle.casefold() in (r.label + r.subject + r.token + r.module).casefold()
                   for r in screen.shown_rows())
        assert 1 <= table.row_count < len(certs) or len(certs) == 1
        await pilot.press("escape")
        await wait_for_screen(pilot, MainScreen)


@pytest.mark.skipif(client_module() is None, reason="p11-kit-client.so missing (bootstrap)")
async def test_a_remote_is_a_module_of_its_own_in_tree_and_all_tokens(
        snapshot_token: Any, tmp_path: Path, module_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    far = softhsm.make_home(tmp_path / "far")
    softhsm.init_token(far, "far-token", PIN, SO_PIN)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    request([f"env SOFTHSM2_CONF={far.conf} p11-kit remote {module_path}"])
    try:
        remote = remote_candidates()[0]
        app = make_app(module=snapshot_token.module, token=snapshot_token.label, ascii_only=False,
                       modules=[snapshot_token.module, remote.path], clock=lambda: FIXED_NOW)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            tree = app.screen.query_one("#tokens", TokenTree)
            await wait_for(pilot, lambda: any(str(n.label).startswith("remote") for n in tree.root.children))
            labels = [str(n.label) for n in tree.root.children]
            assert labels[1].startswith("remote  (remote)"), labels
            assert "far-token" in str(tree.root.children[1].children[0].children[0].label)
            await pilot.press("E")
            screen = await wait_for_screen(pilot, ExpiryScreen)
            await wait_for(pilot, lambda: screen.pending == 0)
            assert screen.tokens == 2 and not screen.problems
    finally:
        request([])


@pytest.mark.skipif(client_module() is None, reason="p11-kit-client.so missing (bootstrap)")
async def test_remote_token_rows_appear_while_the_listing_arrives(
        tmp_path: Path, module_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """20 ms per call: the Certificates table shows rows within a second and fills up as they come.

    The full listing's budget is checked without the UI in tests/interop/test_remote_latency.py. Here
    the relay counts round trips: opening the token (from its C_OpenSession) until the listing is on
    screen costs at most objects + 15 (must-show 4), and the mechanism list (one round trip per
    mechanism: ~40 on SoftHSM) is read only when the Mechanisms tab is shown, once."""
    import time

    from textual.widgets import Static

    from ikm_tui.ui.widgets.mechanism_table import MechanismTable
    from ikm_tui.ui.widgets.object_table import ObjectTable
    from tests.support.remote import delayed_remote, far_token_with_certs, round_trips

    home = far_token_with_certs(tmp_path / "far", module_path, "hundred", 100)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    count = tmp_path / "round-trips"
    request([delayed_remote(home, module_path, 0.020, count)])
    try:
        remote = remote_candidates()[0]
        app = make_app(module=remote.path, token="hundred", ascii_only=False, modules=[remote.path],
                       clock=lambda: FIXED_NOW)
        async with app.run_test(size=SIZE) as pilot:
            # From the first frame: the module loads from here (the CLI starts it before Textual).
            started = time.monotonic()
            certs = app.screen.query_one("#certs", ObjectTable)
            status = app.screen.query_one("#status", Static)
            await wait_for(pilot, lambda: certs.row_count > 0, timeout=10)
            first = time.monotonic() - started
            partial = certs.row_count
            reading = "reading…" in str(status.render())
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.listing is not None,
                           timeout=10)
            done = time.monotonic() - started
            calls = round_trips(count)
            # To the listing's last read: the journal check that follows it may have started.
            last = len(calls) - calls[::-1].index("C_GetAttributeValue")
            opening = calls[calls.index("C_OpenSession"):last]
            print(f"TUI on a 20 ms link: first {partial} rows {first:.2f} s after the first frame, all 100 "
                  f"after {done:.2f} s; {len(calls)} round trips from the module's load, {len(opening)} from "
                  f"the token's C_OpenSession: {[c for c in calls if c != 'C_GetAttributeValue']}")
            assert certs.row_count == 100 and "reading" not in str(status.render())
            assert "C_GetMechanismInfo" not in calls and "C_GetMechanismList" not in calls
            assert len(opening) <= 100 + 15
            # The Mechanisms tab reads the list once; showing it again costs nothing.
            mechs = app.screen.query_one("#mechanisms", MechanismTable)
            await pilot.press("4")
            await wait_for(pilot, lambda: mechs.row_count > 0, timeout=10)
            read = round_trips(count).count("C_GetMechanismInfo")
            # At most one C_GetMechanismInfo per row (p11-kit-client answers some locally).
            assert 0 < read <= mechs.row_count
            await pilot.press("1")
            await pilot.press("4")
            await settle(pilot)
            assert round_trips(count).count("C_GetMechanismInfo") == read and mechs.row_count > 0
    finally:
        request([])
    assert first < 1.0 and partial < 100 and reading
