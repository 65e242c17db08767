"""Pairing on screen: selecting a certificate puts the Keys cursor on its key and says so."""

from __future__ import annotations

from typing import Any

from textual.widgets import TabbedContent

from ikm_tui.core.model import ObjClass
from ikm_tui.ui.widgets.details import DetailsPane
from ikm_tui.ui.widgets.object_table import ObjectTable
from tests.support.ui_helpers import SIZE, app_for, settle


def _handle(listing: Any, cls: ObjClass, label: str) -> int:
    return next(o.handle for o in listing.objects if o.cls is cls and o.label == label)


async def test_selecting_a_cert_highlights_its_key(snapshot_token: Any) -> None:
    snapshot_token.login()
    app = app_for(snapshot_token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        main = app.main_screen
        listing = main.listing
        assert listing is not None and listing.logged_in
        cert = _handle(listing, ObjClass.CERTIFICATE, "mq-server")
        key = _handle(listing, ObjClass.PRIVATE_KEY, "mq-server")
        keys = main.query_one("#keys", ObjectTable)
        keys.move_cursor(row=0)
        main.query_one("#tabs", TabbedContent).active = "tab-certs"
        await pilot.pause()
        certs = main.query_one("#certs", ObjectTable)
        certs.focus()
        certs.select_handle(cert)
        await pilot.pause()
        assert keys.current_handle() == key
        key_id = listing.by_handle(key).id.hex()  # type: ignore[union-attr]
        text = main.query_one("#details", DetailsPane).plain_text
        assert f"paired with key mq-server (id {key_id})" in text
        assert "subject" in text and "CN=mq.example.com" in text

        # And the reverse: a key names its certificate and moves the Certificates cursor.
        certs.move_cursor(row=0)
        main.query_one("#tabs", TabbedContent).active = "tab-keys"
        await pilot.pause()
        keys.select_handle(key)
        await pilot.pause()
        assert certs.current_handle() == cert
        assert "paired with certificate mq-server" in main.query_one("#details", DetailsPane).plain_text


async def test_orphans_and_signers_say_so(snapshot_token: Any) -> None:
    snapshot_token.login()
    app = app_for(snapshot_token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        main = app.main_screen
        listing = main.listing
        assert listing is not None
        details = main.query_one("#details", DetailsPane)
        main.query_one("#keys", ObjectTable).select_handle(
            _handle(listing, ObjClass.PRIVATE_KEY, "new-key-no-cert"))
        await pilot.pause()
        assert "orphan: no certificate" in details.plain_text
        main.query_one("#tabs", TabbedContent).active = "tab-certs"
        await pilot.pause()
        main.query_one("#certs", ObjectTable).select_handle(
            _handle(listing, ObjClass.CERTIFICATE, "partner (no key)"))
        await pilot.pause()
        assert "orphan: no private key" in details.plain_text
        assert "marker   ! signer" in details.plain_text or "! signer" in details.plain_text
