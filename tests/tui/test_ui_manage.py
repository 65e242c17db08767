"""Certificate and key management in the TUI on real SoftHSM tokens (issue 4, must-show 5 and the
dialogs around it): receive through the dialog + preview + apply, refusal without a matching key,
replace needs a confirm, delete by handle with the label typed, rename with read-back, change PIN
(wrong old PIN shown, never retried), pairing doctor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Input, TabbedContent

from ikm_tui.core.ops import pending as pending_ops, plans as plans_ops
from ikm_tui.core.ops import requests as reqs
from ikm_tui.core.model import ObjClass
from ikm_tui.core.p11.objects import write_certificate
from ikm_tui.core.pin import Pin
from ikm_tui.ui.screens.confirm_screen import ConfirmScreen, TypeToConfirmScreen
from ikm_tui.ui.widgets.details import DetailsPane
from ikm_tui.ui.screens.doctor_screen import DoctorScreen
from ikm_tui.ui.screens.error_screen import ErrorScreen
from ikm_tui.ui.screens.label_screen import LabelScreen
from ikm_tui.ui.screens.message_screen import MessageScreen
from ikm_tui.ui.widgets.object_table import ObjectTable
from ikm_tui.ui.screens.pin_change_screen import PinChangeScreen
from ikm_tui.ui.screens.pin_screen import PinScreen
from ikm_tui.ui.screens.receive_preview import ReceivePreviewScreen
from ikm_tui.ui.screens.receive_screen import CertSourceScreen
from ikm_tui.core.p11.backend import Backend
from tests.support.helpers import SoftCA
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for, wait_for_screen


def make_request_and_sign(tok: Any, tmp_path: Path, label: str = "web01", serial: int = 100) -> Path:
    """A request made on the token (core create_request on the owner thread), signed by a
    software CA from its public key; the cert PEM, followed by the CA's (as CAs deliver it: without
    its issuer lint reports an error and receiving needs the explicit tick), written to tmp_path."""
    tok.login()
    res = tok.service.run(reqs.create_request, tok.slot_id, "ec:p256", label, f"CN={label}.example")
    csr = x509.load_der_x509_csr(res.der)
    ca = SoftCA()
    cert = ca.issue(csr.public_key(), f"{label}.example", serial=serial)
    path = tmp_path / f"{label}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca.cert.public_bytes(serialization.Encoding.PEM))
    return path


def count(tok: Any) -> int:
    return len(tok.service.run(Backend.list_objects, tok.slot_id).objects)


async def receive_via_dialog(pilot: Pilot[Any], path: Path, *, logged_in: bool = True, pin: str = "") -> None:
    """Press i (PIN first when asked), type the path, Preview."""
    await pilot.press("i")
    if not logged_in:
        await wait_for_screen(pilot, PinScreen)
        await pilot.pause()
        await pilot.press(*pin, "enter")
    await wait_for_screen(pilot, CertSourceScreen)
    await pilot.pause()
    pilot.app.screen.query_one("#source-path", Input).value = str(path)
    pilot.app.screen.query_one("#source-ok", Button).press()


async def wait_preview(pilot: Pilot[Any]) -> ReceivePreviewScreen:
    await wait_for_screen(pilot, ReceivePreviewScreen)
    await pilot.pause()
    return pilot.app.screen  # type: ignore[return-value]


async def test_receive_flow_pair_linked(token: Any, tmp_path: Path) -> None:
    """Must-show 5: request on the token → signed by a test CA → received in the TUI → linked."""
    path = make_request_and_sign(token, tmp_path)
    token.service.run(Backend.logout, token.slot_id)  # the flow must offer the PIN dialog itself
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await receive_via_dialog(pilot, path, logged_in=False, pin=token.pin)
        preview = await wait_preview(pilot)
        text = preview.plain_text
        assert "subject  CN=web01.example" in text and "issuer   CN=Test CA" in text
        assert "matches private key 'web01'" in text and "matched by " in text
        assert "will be stored with label 'web01'" in text
        assert "Pending request 'web01' will be removed as fulfilled." in text
        assert "Lint: " in text
        assert not preview.query_one("#receive-replace", Checkbox).display  # nothing to replace
        preview.query_one("#receive-apply", Button).press()
        await wait_for(pilot, lambda: not isinstance(app.screen, ReceivePreviewScreen))
        await settle(pilot)
        main = app.main_screen
        assert main.query_one("#tabs", TabbedContent).active == "tab-certs"
        listing = main.listing
        assert listing is not None
        cert = next(o for o in listing.objects if o.cls is ObjClass.CERTIFICATE and o.label == "web01")
        key = next(o for o in listing.objects if o.cls is ObjClass.PRIVATE_KEY and o.label == "web01")
        assert cert.id == key.id
        certs = main.query_one("#certs", ObjectTable)
        assert certs.current_handle() == cert.handle
        row = certs.get_row(str(cert.handle))
        assert row[0].plain == "-" and row[2].plain == "web01"  # personal marker, Key column
        details = main.query_one("#details", DetailsPane).plain_text
        assert f"paired with key web01 (id {key.id.hex()})" in details
        # The fulfilled request is gone.
        assert not any(o.cls is ObjClass.DATA and o.label == "web01" for o in listing.objects)


async def test_receive_without_matching_key_is_refused(token: Any, tmp_path: Path) -> None:
    token.login()
    stranger = SoftCA().issue(ec.generate_private_key(ec.SECP256R1()).public_key(), "elsewhere.example")
    path = tmp_path / "elsewhere.pem"
    path.write_bytes(stranger.public_bytes(serialization.Encoding.PEM))
    token.service.run(reqs.create_request, token.slot_id, "ec:p256", "mine", "CN=mine")
    before = count(token)
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await receive_via_dialog(pilot, path)
        await wait_for_screen(pilot, ErrorScreen)
        await pilot.pause()
        message = app.screen._message  # noqa: SLF001
        assert "matches no private key on this token, so nothing was written" in message
        assert "'mine'" in message  # the keys present are listed
    assert count(token) == before


async def test_source_dialog_reports_a_csr_inside_and_paste_works(token: Any, tmp_path: Path) -> None:
    path = make_request_and_sign(token, tmp_path)
    csr_path = tmp_path / "r.csr"
    csr_path.write_text(token.service.run(pending_ops.extract, token.slot_id, "web01"))
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await receive_via_dialog(pilot, csr_path)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CertSourceScreen)  # stays open, says why
        err = str(screen.query_one("#source-error").render())
        assert "request you sent" in err
        await pilot.click("#--content-tab-source-paste-tab")
        await pilot.pause()
        assert screen.query_one("#source-tabs", TabbedContent).active == "source-paste-tab"
        from textual.widgets import TextArea

        screen.query_one("#source-paste", TextArea).text = path.read_text()
        screen.query_one("#source-ok", Button).press()
        preview = await wait_preview(pilot)
        assert "the pasted text" in preview.plain_text and "matches private key 'web01'" in preview.plain_text


async def test_receive_twice_needs_replace_confirm(token: Any, tmp_path: Path) -> None:
    first = make_request_and_sign(token, tmp_path, serial=100)
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await receive_via_dialog(pilot, first)
        (await wait_preview(pilot)).query_one("#receive-apply", Button).press()
        await settle(pilot)
        # Second cert for the same key (another serial): Apply is disabled until replace is ticked.
        pub = x509.load_pem_x509_certificate(first.read_bytes()).public_key()
        second = tmp_path / "second.pem"
        ca = SoftCA()
        second.write_bytes(ca.issue(pub, "web01.example", serial=200).public_bytes(serialization.Encoding.PEM)
                           + ca.cert.public_bytes(serialization.Encoding.PEM))
        await receive_via_dialog(pilot, second)
        preview = await wait_preview(pilot)
        assert "WILL BE REPLACED" in preview.plain_text
        apply = preview.query_one("#receive-apply", Button)
        assert apply.disabled
        apply.press()
        await pilot.pause()
        assert isinstance(app.screen, ReceivePreviewScreen)  # nothing happened
        preview.query_one("#receive-replace", Checkbox).value = True
        await pilot.pause()
        assert not apply.disabled
        apply.press()
        await settle(pilot)
    certs = [o for o in token.service.run(Backend.list_objects, token.slot_id).objects
             if o.cls is ObjClass.CERTIFICATE and o.label == "web01"]
    assert len(certs) == 1 and certs[0].cert is not None and certs[0].cert.serial == "c8"


async def _select(pilot: Pilot[Any], tab: str, handle: int) -> None:
    main = pilot.app.main_screen  # type: ignore[attr-defined]
    main.query_one("#tabs", TabbedContent).active = tab
    await pilot.pause()
    table = main.query_one("#certs" if tab == "tab-certs" else "#keys", ObjectTable)
    table.focus()
    assert table.select_handle(handle)
    await pilot.pause()


def _obj(tok: Any, cls: ObjClass, label: str) -> Any:
    listing = tok.service.run(Backend.list_objects, tok.slot_id)
    return next(o for o in listing.objects if o.cls is cls and o.label == label)


async def test_delete_selected_cert_by_handle_type_the_label(token: Any, tmp_path: Path) -> None:
    """Two certs share a label; the selected one (by handle) goes, the other stays."""
    token.login()
    ca = SoftCA()
    for serial in (1, 2):
        der = ca.issue(ec.generate_private_key(ec.SECP256R1()).public_key(), "dup.example", serial=serial)
        token.service.run(write_certificate, token.slot_id, der.public_bytes(serialization.Encoding.DER),
                          "dup", bytes([serial]))
    objs = [o for o in token.service.run(Backend.list_objects, token.slot_id).objects if o.label == "dup"]
    victim = next(o for o in objs if o.id == b"\x02")
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _select(pilot, "tab-certs", victim.handle)
        await pilot.press("d")
        await wait_for_screen(pilot, TypeToConfirmScreen)
        await pilot.pause()
        screen = app.screen
        message = screen._message  # noqa: SLF001
        assert "This deletes exactly:" in message and "id=02 " in message
        assert "NOT deleted" in message and "id=01 " in message  # the duplicate is shown
        delete = screen.query_one("#delete-yes", Button)
        await pilot.press(*"du")
        assert delete.disabled
        await pilot.press("p", "enter")
        await settle(pilot)
    left = [o for o in token.service.run(Backend.list_objects, token.slot_id).objects if o.label == "dup"]
    assert [o.id for o in left] == [b"\x01"]


async def test_delete_key_with_cert_warns_orphan(token: Any, tmp_path: Path) -> None:
    path = make_request_and_sign(token, tmp_path)
    from ikm_tui.core.x509.certfile import read_cert_file
    from ikm_tui.core.ops.receive import receive

    token.service.run(receive, token.slot_id, read_cert_file(path).certs)
    key = _obj(token, ObjClass.PRIVATE_KEY, "web01")
    before = count(token)
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _select(pilot, "tab-keys", key.handle)
        await pilot.press("d")
        await wait_for_screen(pilot, TypeToConfirmScreen)
        await pilot.pause()
        message = app.screen._message  # noqa: SLF001
        assert "private key 'web01'" in message and "public key 'web01'" in message
        assert "becomes an orphan" in message
        app.screen.query_one("#delete-no", Button).press()
        await settle(pilot)
    assert count(token) == before


async def test_rename_pair_shows_read_back(token: Any, tmp_path: Path) -> None:
    path = make_request_and_sign(token, tmp_path)
    from ikm_tui.core.x509.certfile import read_cert_file
    from ikm_tui.core.ops.receive import receive

    token.service.run(receive, token.slot_id, read_cert_file(path).certs)
    cert = _obj(token, ObjClass.CERTIFICATE, "web01")
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _select(pilot, "tab-certs", cert.handle)
        await pilot.press("R")
        await wait_for_screen(pilot, LabelScreen)
        await pilot.pause()
        app.screen.query_one("#label-input", Input).value = "web01-2026"
        await pilot.pause()
        app.screen.query_one("#label-ok", Button).press()
        await wait_for_screen(pilot, MessageScreen)
        await pilot.pause()
        text = app.screen.plain_text
        assert "Renamed to web01-2026" in text and text.count(": ok") == 3
        app.screen.query_one("#message-ok", Button).press()
        await settle(pilot)
        details = app.main_screen.query_one("#details", DetailsPane).plain_text
        assert "paired with key web01-2026" in details
    labels = {(o.cls, o.label) for o in token.service.run(Backend.list_objects, token.slot_id).objects}
    assert {(ObjClass.CERTIFICATE, "web01-2026"), (ObjClass.PRIVATE_KEY, "web01-2026"),
            (ObjClass.PUBLIC_KEY, "web01-2026")} <= labels


async def test_change_pin_wrong_old_pin_shown_not_retried(token: Any) -> None:
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("P")
        await wait_for_screen(pilot, PinChangeScreen)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PinChangeScreen)
        await pilot.press(*"99999999", "enter", *"11223344", "enter", *"11223344", "enter")
        await wait_for(pilot, lambda: not screen.busy and screen.attempts == 1)
        await pilot.pause()
        err = str(screen.query_one("#pinchg-error").render())
        assert "CKR_PIN_INCORRECT" in err and "nothing is retried" in err
        assert screen.attempts == 1
        assert all(screen.query_one(s, Input).value == "" for s in ("#pinchg-old", "#pinchg-new", "#pinchg-again"))
        # Mismatched new PINs never reach the token.
        await pilot.press(*token.pin, "enter", *"11223344", "enter", *"11223345", "enter")
        await pilot.pause()
        assert screen.attempts == 1 and "differ" in str(screen.query_one("#pinchg-error").render())
        # The right old PIN: changed, and the new one logs in.
        for sel in ("#pinchg-old", "#pinchg-new", "#pinchg-again"):
            screen.query_one(sel, Input).value = ""
        screen.query_one("#pinchg-old", Input).focus()
        await pilot.press(*token.pin, "enter", *"11223344", "enter", *"11223344", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, PinChangeScreen))
        await settle(pilot)
        assert screen.attempts == 2
    token.service.run(Backend.login, token.slot_id, Pin("11223344"))


async def test_doctor_lists_findings_and_repairs_on_confirm(token: Any, tmp_path: Path) -> None:
    path = make_request_and_sign(token, tmp_path)
    # What another tool leaves: the cert stored under another CKA_ID and label.
    der = x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)
    token.service.run(write_certificate, token.slot_id, der, "imported-by-other-tool", b"\x99")
    token.service.run(reqs.create_request, token.slot_id, "ec:p256", "lonely", "CN=lonely")
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("D")
        await wait_for_screen(pilot, DoctorScreen)
        await pilot.pause()
        screen = app.screen
        assert "Keys without a certificate" in screen.plain_text and "'lonely'" in screen.plain_text
        assert "label 'imported-by-other-tool' -> 'web01'" in screen.plain_text
        screen.query_one("#doctor-apply", Button).press()
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.pause()
        app.screen.query_one("#confirm-yes", Button).press()
        await wait_for_screen(pilot, MessageScreen)
        await pilot.pause()
        assert "Repairs applied" in app.screen.plain_text and "(ok)" in app.screen.plain_text
    cert = _obj(token, ObjClass.CERTIFICATE, "web01")
    assert cert.id == _obj(token, ObjClass.PRIVATE_KEY, "web01").id
    assert plans_ops.describe(cert).startswith("certificate 'web01'")


async def test_add_ca_then_save_it_asks_before_overwrite(token: Any, tmp_path: Path) -> None:
    ca = SoftCA("Example Root CA")
    src = tmp_path / "root.pem"
    src.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    out = tmp_path / "out.der"
    out.write_bytes(b"keep me")
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await wait_for_screen(pilot, CertSourceScreen)
        await pilot.pause()
        app.screen.query_one("#source-path", Input).value = str(src)
        app.screen.query_one("#source-ok", Button).press()
        await wait_for_screen(pilot, LabelScreen)
        await pilot.pause()
        assert app.screen.query_one("#label-input", Input).value == "Example Root CA"  # the CN
        app.screen.query_one("#label-ok", Button).press()
        await wait_for(pilot, lambda: not isinstance(app.screen, LabelScreen))
        await settle(pilot)
        main = app.main_screen
        assert main.query_one("#tabs", TabbedContent).active == "tab-certs"
        from ikm_tui.ui.flows.manage_flow import selected_object

        sel = selected_object(main)
        assert sel is not None and sel.label == "Example Root CA" and sel.cert_category == 2
        # x: save it as DER over an existing file — asks first; "Cancel" keeps the file.
        await pilot.press("x")
        from ikm_tui.ui.screens.export_screen import ExportScreen

        await wait_for_screen(pilot, ExportScreen)
        await pilot.pause()
        app.screen.query_one("#export-path", Input).value = str(out)
        from textual.widgets import RadioButton

        app.screen.query_one("#export-der", RadioButton).value = True
        await pilot.pause()
        app.screen.query_one("#export-ok", Button).press()
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.pause()
        app.screen.query_one("#confirm-no", Button).press()
        await settle(pilot)
        assert out.read_bytes() == b"keep me"
        await pilot.press("x")
        await wait_for_screen(pilot, ExportScreen)
        await pilot.pause()
        app.screen.query_one("#export-path", Input).value = str(out)
        app.screen.query_one("#export-der", RadioButton).value = True
        await pilot.pause()
        app.screen.query_one("#export-ok", Button).press()
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.pause()
        app.screen.query_one("#confirm-yes", Button).press()
        await settle(pilot)
    assert out.read_bytes() == ca.der


async def test_export_public_key_of_selected_key(token: Any, tmp_path: Path) -> None:
    make_request_and_sign(token, tmp_path)
    key = _obj(token, ObjClass.PRIVATE_KEY, "web01")
    out = tmp_path / "web01.pub.pem"
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _select(pilot, "tab-keys", key.handle)
        await pilot.press("p")
        from ikm_tui.ui.screens.export_screen import ExportScreen

        await wait_for_screen(pilot, ExportScreen)
        await pilot.pause()
        app.screen.query_one("#export-path", Input).value = str(out)
        app.screen.query_one("#export-ok", Button).press()
        await settle(pilot)
    pub = serialization.load_pem_public_key(out.read_bytes())
    csr_pub = x509.load_pem_x509_certificate((tmp_path / "web01.pem").read_bytes()).public_key()
    assert pub == csr_pub


async def test_receive_with_a_lint_error_needs_the_explicit_tick(token: Any, tmp_path: Path) -> None:
    """Issue 13: a certificate clients will reject is not stored until 'receive despite' is ticked."""
    path = make_request_and_sign(token, tmp_path, label="bare")
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))  # without its CA: chain-missing-issuer
    before = count(token)
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await receive_via_dialog(pilot, path)
        preview = await wait_preview(pilot)
        assert "ERROR chain-missing-issuer" in preview.plain_text
        apply = preview.query_one("#receive-apply", Button)
        force = preview.query_one("#receive-force", Checkbox)
        assert force.display and apply.disabled
        apply.press()
        await pilot.pause()
        assert isinstance(app.screen, ReceivePreviewScreen) and count(token) == before  # nothing happened
        force.value = True
        await pilot.pause()
        assert not apply.disabled
        apply.press()
        await settle(pilot)
    assert [o.label for o in token.service.run(Backend.list_objects, token.slot_id).objects
            if o.cls is ObjClass.CERTIFICATE] == ["bare"]
