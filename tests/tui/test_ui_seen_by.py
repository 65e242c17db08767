"""Issue #12 on screen: the marker follows Java/NSS, the details pane says what each tool sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import TabbedContent

from ikm_tui.core.model import ObjClass
from ikm_tui.ui.widgets.details import DetailsPane
from ikm_tui.ui.widgets.object_table import ObjectTable
from ikm_tui.core.p11.backend import Backend
from tests.support.helpers import SoftCA, pkcs11_tool
from tests.support.ui_helpers import SIZE, app_for, settle


def _pair(tok: Any, tmp: Path, label: str, *id_args: str) -> None:
    """Key and cert written by pkcs11-tool, as the seed's flow does (no --id unless given)."""
    from cryptography.hazmat.primitives import serialization

    pkcs11_tool(tok, "--keypairgen", "--key-type", "rsa:2048", "--label", label, *id_args)
    pub = tmp / f"{label}.pub"
    pkcs11_tool(tok, "--read-object", "--type", "pubkey", "--label", label, "-o", str(pub))
    cert = SoftCA().issue(serialization.load_der_public_key(pub.read_bytes()), f"{label}.example.com")
    (tmp / f"{label}.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    pkcs11_tool(tok, "--write-object", str(tmp / f"{label}.der"), "--type", "cert", "--label", label, *id_args)


async def _cert_details(app: Any, pilot: Any, label: str) -> tuple[str, str]:
    main = app.main_screen
    listing = main.listing
    handle = next(o.handle for o in listing.objects if o.cls is ObjClass.CERTIFICATE and o.label == label)
    main.query_one("#tabs", TabbedContent).active = "tab-certs"
    await pilot.pause()
    certs = main.query_one("#certs", ObjectTable)
    certs.focus()
    certs.select_handle(handle)
    await pilot.pause()
    marker = certs.get_row(str(handle))[0].plain
    return marker, main.query_one("#details", DetailsPane).plain_text


async def test_empty_id_pair_is_marked_as_the_tools_see_it(token: Any, tmp_path: Path) -> None:
    _pair(token, tmp_path, "my_key3")
    token.login()
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        marker, text = await _cert_details(app, pilot, "my_key3")
    assert marker == "!"
    assert "paired with key my_key3 (id (empty))" in text
    assert "Java: not listed (empty CKA_ID" in text and ",, (empty CKA_ID" in text
    assert "TOOLS DIFFER" in text and "cert doctor" in text


async def test_before_login_the_public_key_object_pairs_the_cert(token: Any, tmp_path: Path) -> None:
    _pair(token, tmp_path, "web01", "--id", "01")
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.main_screen.listing.logged_in
        marker, text = await _cert_details(app, pilot, "web01")
    assert marker == "-"
    assert "paired with key web01 (its public-key object, id 01" in text
    assert "u,u,u" in text and "TOOLS DIFFER" not in text


async def test_doctor_gives_the_empty_id_pair_one_id(token: Any, tmp_path: Path) -> None:
    from textual.widgets import Button

    from ikm_tui.ui.screens.confirm_screen import ConfirmScreen
    from ikm_tui.ui.screens.doctor_screen import DoctorScreen
    from ikm_tui.ui.screens.message_screen import MessageScreen
    from tests.support.ui_helpers import wait_for_screen

    _pair(token, tmp_path, "my_key3")
    token.login()
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("D")
        await wait_for_screen(pilot, DoctorScreen)
        await pilot.pause()
        assert "have an empty CKA_ID" in app.screen.plain_text and "set CKA_ID" in app.screen.plain_text
        app.screen.query_one("#doctor-apply", Button).press()
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.pause()
        app.screen.query_one("#confirm-yes", Button).press()
        await wait_for_screen(pilot, MessageScreen)
        await pilot.pause()
        assert "Repairs applied" in app.screen.plain_text and app.screen.plain_text.count("(ok)") == 3
    token.login()
    ids = {o.id for o in token.service.run(Backend.list_objects, token.slot_id).objects}
    assert len(ids) == 1 and b"" not in ids


async def test_receive_ticks_assign_id_for_an_empty_id_key(token: Any, tmp_path: Path) -> None:
    """Receive does not copy an empty CKA_ID: the preview offers (ticked) one ID for key and cert."""
    from cryptography.hazmat.primitives import serialization
    from textual.widgets import Button, Checkbox

    from ikm_tui.ui.screens.receive_preview import ReceivePreviewScreen
    from tests.support.ui_helpers import wait_for
    from tests.tui.test_ui_manage import receive_via_dialog, wait_preview

    pkcs11_tool(token, "--keypairgen", "--key-type", "rsa:2048", "--label", "noid")
    pub = tmp_path / "noid.pub"
    pkcs11_tool(token, "--read-object", "--type", "pubkey", "--label", "noid", "-o", str(pub))
    ca = SoftCA()
    cert = ca.issue(serialization.load_der_public_key(pub.read_bytes()), "noid.example.com")
    path = tmp_path / "noid.pem"
    # With its CA, as CAs deliver it: without the issuer, receive's lint gate refuses first.
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca.cert.public_bytes(serialization.Encoding.PEM))
    token.login()
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await receive_via_dialog(pilot, path)
        preview = await wait_preview(pilot)
        assert "empty CKA_ID" in preview.plain_text
        tick = preview.query_one("#receive-assign-id", Checkbox)
        assert tick.display and tick.value
        preview.query_one("#receive-apply", Button).press()
        await wait_for(pilot, lambda: not isinstance(app.screen, ReceivePreviewScreen))
        await settle(pilot)
        listing = app.main_screen.listing
        # The pair (key, public key, leaf); the CA from the file is stored beside it under its own ID.
        pair = [o for o in listing.objects if not (o.cert is not None and o.cert.is_ca)]
        assert len({o.id for o in pair}) == 1 and b"" not in {o.id for o in pair}
        c = next(o for o in pair if o.cls is ObjClass.CERTIFICATE)
        assert listing.pairing.markers[c.handle] == "-"
