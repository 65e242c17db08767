"""Snapshots (in snapshots/) of the New request form with token-gated choices, and of its result:
the new request selected in the Requests pane.

Deterministic: the committed snapshot token, a fixed clock/theme/size, a capabilities set that
lacks RSA-4096 and Ed25519, and a fixed CKA_ID typed into the form (the key itself is random but
nothing random is on screen). `snap_compare` runs its own event loop: plain functions.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Button, Input

from ikm_tui.core.ops import capabilities as capabilities_ops
from ikm_tui.ui.screens.confirm_screen import ConfirmScreen
from ikm_tui.ui.screens.request_form import RequestForm
from tests.tui.test_ui_requests import fill, reduced_capabilities
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for, wait_for_screen


async def _form(pilot: Pilot[Any]) -> RequestForm:
    await settle(pilot)
    await pilot.press("n")
    await wait_for_screen(pilot, RequestForm)
    await pilot.pause()
    form = pilot.app.screen
    assert isinstance(form, RequestForm)
    for field in form.query(Input):
        field.cursor_blink = False  # a blinking cursor would make the snapshot depend on timing
    return form


def test_request_form_token_gated(snap_compare: Any, snapshot_token: Any, monkeypatch: Any) -> None:
    snapshot_token.login()
    monkeypatch.setattr(capabilities_ops, "capabilities", lambda _b, _s: reduced_capabilities())

    async def run_before(pilot: Pilot[Any]) -> None:
        form = await _form(pilot)
        await fill(pilot, form, label="mq-client", key_type="ec:p384", subject="cn=colin,o=SSS,c=GB",
                   sans="DNS:mq.example, IP:10.1.2.3")
        form.query_one("#form-label", Input).focus()
        await pilot.pause()

    assert snap_compare(app_for(snapshot_token), terminal_size=SIZE, run_before=run_before)


def test_request_form_80x24_live_error(snap_compare: Any, snapshot_token: Any) -> None:
    snapshot_token.login()

    async def run_before(pilot: Pilot[Any]) -> None:
        form = await _form(pilot)
        await fill(pilot, form, label="web", key_type="rsa:2048", subject="CN=web,O=")
        form.query_one("#form-subject", Input).focus()
        await pilot.pause()

    assert snap_compare(app_for(snapshot_token), terminal_size=(80, 24), run_before=run_before)


def test_new_request_selected_in_requests_pane(snap_compare: Any, snapshot_token: Any) -> None:
    snapshot_token.login()

    async def run_before(pilot: Pilot[Any]) -> None:
        form = await _form(pilot)
        await fill(pilot, form, label="mq-client", key_type="ec:p256", subject="/C=GB/O=SSS/CN=colin",
                   sans="DNS:mq.example", key_id="c0ffee01")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen)
                       and bool(pilot.app.screen.query("#confirm-no")), timeout=30)
        pilot.app.screen.query_one("#confirm-no", Button).press()
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app_for(snapshot_token), terminal_size=SIZE, run_before=run_before)
