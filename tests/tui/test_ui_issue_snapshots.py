"""Snapshot (in snapshots/) of the CA's issue preview: what will be signed, before anything is.

Deterministic: the committed snapshot token, the fixed clock/theme/size of the other snapshot
tests (the plan's validity starts at the app's clock), a fixed serial, and a preview that fills the
screen (nothing of the tables below, whose CA row would carry today's dates, shows through). The CA
key and the request key are made fresh, but nothing of them but their type is on screen.
`snap_compare` runs its own event loop: a plain function.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Button, OptionList, Select, TabbedContent

from ikm_tui.core.model import ObjClass
from ikm_tui.core.ops import requests as reqs
from ikm_tui.core.ops.ca import create_ca
from ikm_tui.core.x509 import issue
from ikm_tui.ui.screens.issue_preview import IssuePreviewScreen
from ikm_tui.ui.screens.issue_source import IssueSourceScreen
from ikm_tui.ui.widgets.object_table import ObjectTable
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for_screen

SERIAL = 0x4F1A2B3C4D5E6F708192A3B4C5D6E7F8


def test_issue_preview(snap_compare: Any, snapshot_token: Any, monkeypatch: Any) -> None:
    tok = snapshot_token
    tok.login()
    tok.service.run(create_ca, tok.slot_id, "ec:p384", "lab-ca", "CN=Lab Issuing CA,O=Example", 3650, 0,
                    key_id=bytes.fromhex("ca17ca17"))
    tok.service.run(reqs.create_request, tok.slot_id, "ec:p256", "mq-issue", "CN=mq1.example,O=Example,C=GB",
                    ["DNS:mq1.example", "DNS:mq1-alt.example", "IP:10.1.2.3"], key_id=bytes.fromhex("c0ffee17"))
    monkeypatch.setattr(issue, "random_serial", lambda: SERIAL)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        main = pilot.app.main_screen  # type: ignore[attr-defined]
        main.query_one("#tabs", TabbedContent).active = "tab-certs"
        await pilot.pause()
        ca = next(o for o in main.listing.objects if o.cls is ObjClass.CERTIFICATE and o.label == "lab-ca")
        main.query_one("#certs", ObjectTable).select_handle(ca.handle)
        await pilot.pause()
        await pilot.press("I")
        source = await wait_for_screen(pilot, IssueSourceScreen)
        index = next(i for i, p in enumerate(source.pending)
                     if p.request.label == "mq-issue" and p.token_label == tok.label)
        source.query_one("#issue-pending", OptionList).highlighted = index
        source.query_one("#issue-profile", Select).value = "both"
        source.query_one("#issue-ok", Button).press()
        await wait_for_screen(pilot, IssuePreviewScreen, timeout=30)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app_for(tok), terminal_size=SIZE, run_before=run_before)
