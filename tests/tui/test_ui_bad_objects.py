"""The TUI with objects that used to break it (issue #19 items 4, 5): one object whose attributes
cannot be read, and two pending requests with the same label, on a real SoftHSM token."""

from __future__ import annotations

from typing import Any

import pkcs11.exceptions as p11x

from ikm_tui.core.conventions import REQUEST_APPLICATION
from ikm_tui.core.p11.objects import create_data_object, write_raw_certificate
from ikm_tui.ui.widgets.object_table import ObjectTable
from ikm_tui.ui.widgets.requests_pane import RequestsPane
from tests.support import faults
from tests.support.ui_helpers import SIZE, app_for, settle


async def test_one_unreadable_object_is_a_row_and_the_rest_are_listed(token: Any) -> None:
    for i in range(4):
        token.service.run(write_raw_certificate, token.slot_id, b"\x30\x00", f"c{i}", bytes([i]))
    plan = faults.FaultPlan().fail("_describe", p11x.AttributeValueInvalid, on_call=2)
    with faults.installed(token.service, plan):
        app = app_for(token)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            main = app.main_screen
            assert main.listing is not None and len(main.listing.objects) == 4
            assert len(main.query_one("#certs", ObjectTable).handles) == 3
            keys = main.query_one("#keys", ObjectTable)
            rows = [" ".join(str(c) for c in keys.get_row_at(i)) for i in range(keys.row_count)]
            assert any("UNREADABLE (CKR_ATTRIBUTE_VALUE_INVALID)" in r for r in rows), rows


async def test_two_requests_with_one_label_are_both_listed(token: Any) -> None:
    for _ in range(2):
        token.service.run(create_data_object, token.slot_id, REQUEST_APPLICATION, "web01", b"\x30\x00")
    token.service.run(create_data_object, token.slot_id, REQUEST_APPLICATION, "web02", b"\x30\x00")
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = app.main_screen.query_one("#requests", RequestsPane)
        assert pane.row_count == 3 and [r.label for r in pane.requests].count("web01") == 2
        assert not [n for n in app._notifications if n.severity == "error"]  # noqa: SLF001
