"""Requests in the TUI on real SoftHSM tokens: the New request form, keygen in the token thread
while the UI keeps answering keys, the Requests pane (select, save, delete) and the self-signed form."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Footer, Input, Select, Static, TabbedContent, Tabs

from tests.support import faults
from ikm_tui.core.ops import capabilities as capabilities_ops
from ikm_tui.core.ops import pending as pending_ops
from ikm_tui.core.ops import requests as reqs
from ikm_tui.core.conventions import REQUEST_APPLICATION
from ikm_tui.core.model import ObjClass
from ikm_tui.core.p11 import objects
from ikm_tui.ui.screens.confirm_screen import ConfirmScreen, TypeToConfirmScreen
from ikm_tui.ui.widgets.details import DetailsPane
from ikm_tui.ui.screens.help_screen import HelpScreen
from ikm_tui.ui.widgets.object_table import ObjectTable
from ikm_tui.ui.screens.pin_screen import PinScreen
from ikm_tui.ui.screens.request_form import RequestForm
from ikm_tui.ui.widgets.request_progress import RequestProgress
from ikm_tui.ui.widgets.requests_pane import RequestsPane
from ikm_tui.ui.screens.save_screen import SavePathScreen
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for, wait_for_screen


async def open_form(pilot: Pilot[Any], key: str = "n") -> RequestForm:
    await pilot.press(key)
    await wait_for_screen(pilot, RequestForm)
    form = pilot.app.screen
    assert isinstance(form, RequestForm)
    await pilot.pause()
    return form


async def fill(pilot: Pilot[Any], form: RequestForm, *, label: str, key_type: str, subject: str,
               sans: str = "", key_id: str = "") -> None:
    form.query_one("#form-key-type", Select).value = key_type
    await pilot.pause()
    form.query_one("#form-label", Input).value = label
    form.query_one("#form-subject", Input).value = subject
    form.query_one("#form-sans", Input).value = sans
    form.query_one("#form-id", Input).value = key_id
    await pilot.pause()


async def answer_offer(pilot: Pilot[Any], save: bool = False, timeout: float = 30.0) -> None:
    """The "Request created: save it?" offer that ends a successful create."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen)
                   and bool(pilot.app.screen.query("#confirm-no")), timeout=timeout)
    pilot.app.screen.query_one("#confirm-yes" if save else "#confirm-no", Button).press()
    await pilot.pause()


def pane_of(app: Any) -> RequestsPane:
    return app.main_screen.query_one("#requests", RequestsPane)


async def test_ec_request_via_form_after_pin_is_selected_in_requests_pane(token: Any) -> None:
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # Not logged in: the form is preceded by the PIN dialog.
        await pilot.press("n")
        await wait_for_screen(pilot, PinScreen)
        await pilot.press(*token.pin, "enter")
        form = await _wait_form(pilot)
        # Defaults follow the key type: RSA server usage, then EC's.
        assert form.query_one("#form-ku", Input).value == "digitalSignature,keyEncipherment"
        await fill(pilot, form, label="web-ec", key_type="ec:p384", subject="/C=GB/O=HW/CN=web.example",
                   sans="DNS:web.example, IP:10.0.0.1")
        assert form.query_one("#form-ku", Input).value == "digitalSignature"
        assert form.query_one("#form-eku", Input).value == "serverAuth,clientAuth"
        assert form.query_one("#form-hash", Select).value == "sha384"
        await pilot.press("ctrl+s")
        await answer_offer(pilot)
        await settle(pilot)
        main = app.main_screen
        assert main.query_one("#tabs", TabbedContent).active == "tab-requests"
        pane = pane_of(app)
        req = pane.current()
        assert req is not None and req.label == "web-ec"
        assert req.subject == "CN=web.example,O=HW,C=GB"  # RFC 4514 text: most specific RDN first
        assert req.sans == ("DNS:web.example", "IP:10.0.0.1")
        assert req.key_usage == ("digitalSignature",) and req.eku == ("serverAuth", "clientAuth")
        assert req.signature_valid and req.has_key is True and req.key_type == "ec:p384"
        text = main.query_one("#details", DetailsPane).plain_text
        assert "request web-ec" in text and "CN=web.example,O=HW,C=GB" in text
        # The key pair is there too, under the same label.
        labels = {(o.cls, o.label) for o in main.listing.objects}  # type: ignore[union-attr]
        assert (ObjClass.PRIVATE_KEY, "web-ec") in labels and (ObjClass.PUBLIC_KEY, "web-ec") in labels


async def _wait_form(pilot: Pilot[Any]) -> RequestForm:
    await wait_for_screen(pilot, RequestForm)
    await pilot.pause()
    return pilot.app.screen  # type: ignore[return-value]


async def _until(predicate: Any, timeout: float = 10.0) -> float:
    """Poll with plain sleeps and return when `predicate` held. Pilot's press()/pause() wait for
    the *process* to go idle, which it never does while SoftHSM computes a key in the owner thread."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
    return time.monotonic()


async def test_keys_are_handled_while_rsa4096_keygen_runs(snapshot_token: Any) -> None:
    """Keys pressed during the keygen are handled before it ends.

    A real RSA-4096 keygen takes 0.7-3.5 s on SoftHSM here, too random to fit every check in.
    So the keygen is first held at C_GenerateKeyPair by a fault-plan hang (deterministic: tab
    switch, help, cursor, timer), then released to run for real while one more key is pressed.
    """
    snapshot_token.login()
    app = app_for(snapshot_token)
    plan = faults.FaultPlan().hang("session.generate_keypair", seconds=60)
    with faults.installed(snapshot_token.service, plan):
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            main = app.main_screen
            tabs = main.query_one("#tabs", TabbedContent)
            certs = main.query_one("#certs", ObjectTable)
            form = await open_form(pilot)
            await fill(pilot, form, label="big", key_type="rsa:4096", subject="CN=big.example")
            app.simulate_key("ctrl+s")
            await _until(plan.hanging.is_set)
            progress = main.query_one(RequestProgress)
            worker = next(w for w in app.workers if w.name == "new_request")
            handled: dict[str, float] = {}

            # A tab switch by key: with the tab strip focused, right moves to the next tab.
            app.set_focus(tabs.query_one(Tabs))
            app.simulate_key("right")
            handled["tab"] = await _until(lambda: tabs.active == "tab-certs")
            # Help opens and closes.
            app.simulate_key("question_mark")
            handled["help open"] = await _until(lambda: isinstance(app.screen, HelpScreen))
            app.simulate_key("escape")
            handled["help closed"] = await _until(lambda: not isinstance(app.screen, HelpScreen))
            # The cursor moves in the certificates table.
            certs.focus()
            before = certs.cursor_row
            app.simulate_key("down")
            handled["cursor"] = await _until(lambda: certs.cursor_row == before + 1)
            # The progress line is laid out on screen, not hidden under the docked footer, and its
            # elapsed time is a UI timer that ticks while the token works.
            handled["laid out"] = await _until(lambda: progress.region.height == 1)
            assert not progress.region.overlaps(main.query_one(Footer).region)
            handled["timer"] = await _until(
                lambda: str(progress.query_one("#progress-elapsed", Static).render()) not in ("", "0.0 s"))
            assert worker.is_running and progress.stage == "keygen" and plan.hanging.is_set()

            # Now the real RSA-4096 keygen: one more key while SoftHSM computes.
            released = time.monotonic()
            plan.release.set()
            tabs.query_one(Tabs).focus()
            app.simulate_key("left")
            handled["tab back"] = await _until(lambda: tabs.active == "tab-keys")

            await answer_offer(pilot, timeout=120)
            stages = dict(progress.stages_seen)
            assert list(stages)[:5] == ["check", "keygen", "sign", "verify", "store"]
            # Every key was handled after the keygen began and before it ended (the "sign" stage).
            for what, at in handled.items():
                assert stages["keygen"] < at < stages["sign"], f"{what} not handled during the keygen"
            assert stages["sign"] > released
            await settle(pilot)
            assert not main.query("#request-progress")
            assert tabs.active == "tab-requests"
            assert pane_of(app).current_label() == "big"
            assert pane_of(app).current().key_type == "rsa:4096"  # type: ignore[union-attr]


async def test_save_refuses_overwrite_without_confirm(token: Any, tmp_path: Path) -> None:
    token.login()
    app = app_for(token)
    out = tmp_path / "web.csr.pem"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        form = await open_form(pilot)
        await fill(pilot, form, label="web", key_type="rsa:2048", subject="CN=web.example,O=Test")
        await pilot.press("ctrl+s")
        await answer_offer(pilot, save=True)  # "Save request…" right away
        await wait_for_screen(pilot, SavePathScreen)
        assert app.screen.query_one("#save-path", Input).value == "./web.csr.pem"
        app.screen.query_one("#save-path", Input).value = str(out)
        await pilot.press("enter")
        await wait_for(pilot, out.exists)
        await settle(pilot)
        verify = subprocess.run(["openssl", "req", "-verify", "-in", str(out), "-noout"],
                                capture_output=True, text=True, check=False)
        assert "verify OK" in (verify.stdout + verify.stderr)
        # Again to the same file, via the pane's key: asked first; "Cancel" keeps the file.
        out.write_text("precious\n")
        pane_of(app).focus()
        await pilot.press("s")
        await wait_for_screen(pilot, SavePathScreen)
        app.screen.query_one("#save-path", Input).value = str(out)
        await pilot.press("enter")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert out.read_text() == "precious\n"
        # And confirmed: overwritten with the request.
        await pilot.press("s")
        await wait_for_screen(pilot, SavePathScreen)
        app.screen.query_one("#save-path", Input).value = str(out)
        await pilot.press("enter")
        await wait_for_screen(pilot, ConfirmScreen)
        app.screen.query_one("#confirm-yes", Button).press()
        await wait_for(pilot, lambda: out.read_text().startswith("-----BEGIN CERTIFICATE REQUEST-----"))


async def test_delete_needs_the_label_typed(token: Any) -> None:
    token.login()
    token.service.run(reqs.create_request, token.slot_id, "ec:p256", "gone", "CN=gone")
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        main = app.main_screen
        main.query_one("#tabs", TabbedContent).active = "tab-requests"
        pane_of(app).focus()
        await pilot.pause()
        assert pane_of(app).current_label() == "gone"
        await pilot.press("d")
        await wait_for_screen(pilot, TypeToConfirmScreen)
        dialog = app.screen
        await pilot.press(*"gon", "enter")
        await pilot.pause()
        assert app.screen is dialog and dialog.query_one("#delete-yes", Button).disabled
        await pilot.press("e", "enter")
        await wait_for(pilot, lambda: not pane_of(app).requests)
        assert token.service.run(pending_ops.list_requests, token.slot_id) == ()
        # The key pair stays (the box to delete it too was not ticked).
        assert any(o.label == "gone" and o.cls is ObjClass.PRIVATE_KEY
                   for o in main.listing.objects)  # type: ignore[union-attr]


async def test_form_offers_only_supported_types_and_checks_live(token: Any, monkeypatch: Any) -> None:
    token.login()
    monkeypatch.setattr(capabilities_ops, "capabilities", lambda _b, _s: reduced_capabilities())
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        form = await open_form(pilot)
        select = form.query_one("#form-key-type", Select)
        offered = [value for _prompt, value in select._options if value is not Select.NULL]  # noqa: SLF001
        assert offered == ["rsa:2048", "ec:p256", "ec:p384"]
        unsupported = str(form.query_one("#form-unsupported", Static).render())
        assert "rsa:4096: token's CKM_RSA_PKCS_KEY_PAIR_GEN takes 1024-2048 bits, not 4096" in unsupported
        assert "ed25519: token has no CKM_EC_EDWARDS_KEY_PAIR_GEN" in unsupported
        # Live DN check: the parser's message is shown inline, Create refuses.
        form.query_one("#form-label", Input).value = "x"
        form.query_one("#form-subject", Input).value = "CN=[/ foo,=bad"
        await pilot.pause()
        error = str(form.query_one("#form-error", Static).render())
        assert error.startswith("Subject:")
        await pilot.press("ctrl+s")
        assert app.screen is form
        form.query_one("#form-subject", Input).value = "cn=colin,o=SSS"
        form.query_one("#form-eku", Input).value = "serverAuth,bogusAuth"
        await pilot.pause()
        assert "bogusAuth" in str(form.query_one("#form-error", Static).render())
        await pilot.press("escape")
        await settle(pilot)
        assert not pane_of(app).requests


async def test_ed25519_needs_the_warning_confirmed(token: Any) -> None:
    token.login()
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        form = await open_form(pilot)
        await fill(pilot, form, label="ed", key_type="ed25519", subject="CN=ed")
        assert "OpenSSL pkcs11 engine" in str(form.query_one("#form-warning", Static).render())
        assert form.query_one("#form-hash", Select).disabled
        assert form.problems() == ["Ed25519: tick the box to confirm you read the warning."]
        await pilot.press("ctrl+s")
        assert app.screen is form
        form.query_one("#form-ed25519-ok", Checkbox).value = True
        await pilot.pause()
        assert form.problems() == []
        await pilot.press("ctrl+s")
        await answer_offer(pilot)
        await settle(pilot)
        assert pane_of(app).current().key_type == "ed25519"  # type: ignore[union-attr]


async def test_self_signed_variant_writes_a_certificate(token: Any) -> None:
    token.login()
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        form = await open_form(pilot, "N")
        assert form.self_signed
        await fill(pilot, form, label="selfie", key_type="ec:p256", subject="CN=selfie.example")
        form.query_one("#form-days", Input).value = "30"
        await pilot.pause()
        await pilot.press("ctrl+s")
        main = app.main_screen
        await wait_for(pilot, lambda: main.query_one("#tabs", TabbedContent).active == "tab-certs"
                       and not main.query("#request-progress"), timeout=30)
        await settle(pilot)
        certs = main.query_one("#certs", ObjectTable)
        obj = main.listing.by_handle(certs.current_handle())  # type: ignore[union-attr,arg-type]
        assert obj is not None and obj.label == "selfie" and obj.cls is ObjClass.CERTIFICATE
        assert obj.cert is not None
        assert (obj.cert.not_after - obj.cert.not_before).days == 30


async def test_hostile_request_label_is_shown_literally(token: Any) -> None:
    token.login()
    label = "[@click=app.quit]x[/] \x1b]0;owned\x07"
    token.service.run(reqs.create_request, token.slot_id, "ec:p256", "hostile", "CN=[/ foo")
    # create_request refuses control characters in labels now (issue #19); another tool can
    # still write them, so the stored request gets the hostile label the way such a tool would.
    token.service.run(lambda b: [objects.set_attributes(o, label=label)
                                 for o in objects.find_data_objects(b, token.slot_id, REQUEST_APPLICATION,
                                                                    "hostile")])
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        main = app.main_screen
        main.query_one("#tabs", TabbedContent).active = "tab-requests"
        pane_of(app).focus()
        await settle(pilot)
        assert app.is_running  # the label's [@click=app.quit] did not become an action
        cell = str(pane_of(app).get_row_at(0)[0])
        assert cell.startswith("[@click=app.quit]x[/]") and "\x1b" not in cell and "\\x1b" in cell
        text = main.query_one("#details", DetailsPane).plain_text
        assert "CN=[/ foo" in text and "\x1b" not in text and "\x07" not in text


async def test_resign_replaces_the_pending_request(token: Any) -> None:
    token.login()
    first = token.service.run(reqs.create_request, token.slot_id, "ec:p256", "again", "CN=again",
                              key_usage=["digitalSignature"])
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.main_screen.query_one("#tabs", TabbedContent).active = "tab-requests"
        pane_of(app).focus()
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and bool(app.screen.query("#confirm-yes")))
        app.screen.query_one("#confirm-yes", Button).press()
        # ECDSA signatures are randomised: a re-signed request differs (RSA PKCS#1 v1.5 would not).
        await wait_for(pilot, lambda: (r := pane_of(app).current()) is not None and r.der != first.der, timeout=30)
        req = pane_of(app).current()
        assert req is not None and req.label == "again" and req.signature_valid
        assert req.key_id == first.key_id and req.key_usage == ("digitalSignature",)


async def test_palette_commands_reach_the_form(token: Any) -> None:
    from ikm_tui.ui.commands import COMMANDS

    actions = {action for _name, action, _help in COMMANDS}
    assert {"new_request", "new_self_signed", "save_request", "delete_request", "recreate_request"} <= actions
    token.login()
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await app.run_action("new_self_signed")
        form = await _wait_form(pilot)
        assert form.self_signed
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, RequestForm)


def reduced_capabilities() -> capabilities_ops.KeyCapabilities:
    """A token with RSA up to 2048 bits and ECDSA on P-256/P-384, no Ed25519."""
    import pkcs11

    from ikm_tui.core.model import MechanismInfo

    def m(name: str, lo: int, hi: int, *flags: str) -> MechanismInfo:
        return MechanismInfo(name, int(pkcs11.Mechanism[name[4:]]), lo, hi, flags)

    return capabilities_ops.capabilities_from_mechanisms([
        m("CKM_RSA_PKCS_KEY_PAIR_GEN", 1024, 2048, "generate_key_pair"),
        m("CKM_RSA_PKCS", 1024, 2048, "sign"),
        m("CKM_SHA256_RSA_PKCS", 1024, 2048, "sign"),
        m("CKM_EC_KEY_PAIR_GEN", 256, 384, "generate_key_pair"),
        m("CKM_ECDSA", 256, 384, "sign"),
    ])


