"""Receive (issue #14 item 4): the "Store chain CA certs" box starts as it looks, and Apply does that."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Button, Checkbox

from ikm_tui.core.model import ObjClass
from ikm_tui.ui.screens.receive_preview import ReceivePreviewScreen
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for
from tests.tui.test_ui_manage_snapshots import _to_preview, write_signed_bundle


async def test_chain_box_starts_ticked_and_apply_stores_the_ca(snapshot_token: Any, tmp_path: Path,
                                                                monkeypatch: Any) -> None:
    snapshot_token.login()
    write_signed_bundle(snapshot_token, tmp_path)
    monkeypatch.chdir(tmp_path)
    app = app_for(snapshot_token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not _ca_stored(app)
        preview = await _to_preview(pilot)
        box = preview.query_one("#receive-chain", Checkbox)
        assert box.display and box.value
        assert str(box.label).endswith(": yes")  # in words: the X differs only by colour
        preview.query_one("#receive-apply", Button).press()
        await wait_for(pilot, lambda: not isinstance(app.screen, ReceivePreviewScreen))
        await settle(pilot)
        assert _ca_stored(app)


def _ca_stored(app: Any) -> bool:
    return any(o.cls is ObjClass.CERTIFICATE and o.cert is not None and "Snapshot Test CA" in o.cert.subject
               and o.cert.is_ca for o in app.main_screen.listing.objects)
