"""Issue 6, must-show 1: hostile text in a token label, an object label and a certificate subject
is literal in every pane and dialog, never a live action, never a terminal control.

Two halves: in-process (Pilot) for what each widget shows, and the real app under a pty for
what bytes reach the terminal. Textual's own escape sequences are expected on the pty; the
test looks for the data's payloads only.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from textual.widgets import Static, TabbedContent

from ikm_tui.core.p11 import keys, objects
from ikm_tui.core.errors import IkmError
from ikm_tui.core.model import ObjClass
from ikm_tui.ui.screens.command_screen import CommandScreen
from ikm_tui.ui.widgets.details import DetailsPane
from ikm_tui.ui.screens.error_screen import ErrorScreen
from ikm_tui.ui.screens.help_screen import HelpScreen
from ikm_tui.ui.widgets.lint_view import LintView
from ikm_tui.ui.widgets.object_table import ObjectTable
from ikm_tui.ui.screens.pin_screen import PinScreen
from ikm_tui.ui.widgets.trace_pane import TracePane
from ikm_tui.ui.workers import start
from ikm_tui.core.p11.backend import Backend
from tests.conftest import delete_token, new_token
from tests.support import pty
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for_screen

CLICK = "[@click=app.quit]"
OSC = "\x1b]0;pwn\x07"  # set the window title
CLEAR = "\x1b[2J"  # clear the screen
RLO = "\u202e"  # right-to-left override
# 32 bytes: the longest label a PKCS#11 token takes.
TOKEN_LABEL = CLICK + OSC + CLEAR + RLO
OBJECT_LABEL = f"{CLICK}x[/] CN=[/ foo {OSC}{CLEAR} {RLO}gpj.exe"
SUBJECT_CN = f"CN=[/ foo {OSC}{CLEAR}{RLO}txt.exe"
SUBJECT_O = f"{CLICK}org[/]"
# What the payloads must never be on the terminal, and their escaped, visible forms.
RAW_PAYLOADS = [b"\x1b]0;pwn", b"pwn\x07", b"\x07\x1b[2J", RLO.encode()]


def _hostile_cert() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, SUBJECT_O),
                      x509.NameAttribute(NameOID.COMMON_NAME, SUBJECT_CN)])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(66).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False, False),
                           critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture
def hostile_token(service: Any, module_path: str) -> Any:
    tok = new_token(service, module_path, label=TOKEN_LABEL)
    assert service.run(Backend.find_slot, TOKEN_LABEL) == tok.slot_id
    tok.login()
    service.run(keys.generate_keypair, tok.slot_id, keys.KeySpec.parse("ec:p256"), OBJECT_LABEL, b"\x66")
    service.run(objects.write_certificate, tok.slot_id, _hostile_cert(), OBJECT_LABEL, b"\x67")
    service.run(objects.write_data_object, tok.slot_id, "ikm-tui request", OBJECT_LABEL, b"not a CSR")
    service.run(Backend.logout, tok.slot_id)
    yield tok
    try:
        service.run(Backend.logout, tok.slot_id)
    except IkmError:
        pass
    delete_token(tok)


def _assert_clean(text: str, where: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and RLO not in text, where


async def test_every_pane_and_dialog_shows_hostile_text_literally(hostile_token: Any) -> None:
    app = app_for(hostile_token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        main = app.main_screen
        assert main.listing is not None and main.listing.token.label == TOKEN_LABEL
        tabs = main.query_one("#tabs", TabbedContent)
        screens = []
        for tab in ("tab-keys", "tab-certs", "tab-requests", "tab-mechs", "tab-trace"):
            tabs.active = tab
            await settle(pilot)
            # A live [@click=app.quit] anywhere on screen would quit on these clicks.
            await pilot.click("#tokens", offset=(4, 3))
            await pilot.click("#tabs", offset=(10, 3))
            await pilot.pause()
            assert app.is_running, tab
            screens.append(app.export_screenshot())
        # The certificate's details, lint included.
        tabs.active = "tab-certs"
        await pilot.pause()
        certs = main.query_one("#certs", ObjectTable)
        certs.focus()
        certs.select_handle(next(o.handle for o in main.listing.objects if o.cls is ObjClass.CERTIFICATE))
        await settle(pilot)
        details = main.query_one("#details", DetailsPane).plain_text
        assert f"label       {CLICK}x[/] CN=[/ foo \\x1b]0;pwn\\x07\\x1b[2J \\u202egpj.exe" in details
        # RFC 4514 escapes the ';' itself; the ESC and BEL arrive as visible escapes.
        assert "CN=CN=[/ foo \\x1b]0\\;pwn\\x07\\x1b[2J\\u202etxt.exe" in details and CLICK + "org[/]" in details
        _assert_clean(details, "details")
        lint = main.query_one(LintView)
        assert lint.display and "keycertsign-without-ca" in lint.plain_text
        _assert_clean(lint.plain_text, "lint")
        await pilot.click("#details", offset=(5, 5))
        screens.append(app.export_screenshot())
        # Show me the command, for the hostile label.
        await pilot.press("m")
        await wait_for_screen(pilot, CommandScreen)
        _assert_clean(app.screen.plain_text, "commands")  # type: ignore[attr-defined]
        screens.append(app.export_screenshot())
        await pilot.press("escape")
        # The PIN dialog names the token.
        await pilot.press("l")
        await wait_for_screen(pilot, PinScreen)
        title = str(app.screen.query_one(".dialog-title", Static).render())
        assert title == "Log in to " + CLICK + "\\x1b]0;pwn\\x07\\x1b[2J\\u202e"
        screens.append(app.export_screenshot())
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("question_mark")
        await wait_for_screen(pilot, HelpScreen)
        screens.append(app.export_screenshot())
        await pilot.press("escape")
        await pilot.pause()

        # An error dialog quoting the label, through the app's one worker-error path.
        async def fail() -> None:
            raise IkmError(f"Cannot delete {OBJECT_LABEL!s}: the token refused.", f"Check {TOKEN_LABEL}.")

        start(main, fail(), name="delete", group="test")
        await wait_for_screen(pilot, ErrorScreen)
        message = str(app.screen.query_one("#error-message", Static).render())
        assert "Cannot delete " + CLICK + "x[/] CN=[/ foo \\x1b]0;pwn" in message
        _assert_clean(message, "error dialog")
        await pilot.click("#error-message")
        screens.append(app.export_screenshot())
        await pilot.press("escape")
        await pilot.pause()
        tabs.active = "tab-trace"
        await pilot.pause()
        _assert_clean(main.query_one(TracePane).plain_text, "trace")
        assert app.is_running and app.return_code is None
    for svg in screens:
        _assert_clean(svg, "screenshot")
    assert any("\\x1b]0;pwn" in svg for svg in screens)


# ----- the real app on a pty ---------------------------------------------------------------------
def test_raw_terminal_output_holds_no_escape_from_the_data(hostile_token: Any) -> None:
    env = pty.pty_env(hostile_token.env())
    env.pop("IKM_PIN", None)
    child, master = pty.spawn([sys.executable, "-m", "ikm_tui", "--module", hostile_token.module,
                               "--token", TOKEN_LABEL], env)
    out = bytearray()
    try:
        # The tree and the status bar show the token label once the token is listed.
        pty.read_until(master, out, b"[@click=app.quit]\\x1b]0;pwn", 30)
        pty.read(master, out, 0.5)
        keys_ = [b"\t", b"\x1b[C", b"\x1b[C", b"\x1b[C", b"\x1b[C",  # tabs: Certificates .. Trace
                 b"\x1b[D", b"\x1b[D", b"\x1b[D", b"\t",  # back to Certificates, into the table
                 b"m", b"\x1b", b"l", b"\x1b", b"?", b"\x1b"]  # commands, PIN dialog, help
        for key in keys_:
            os.write(master, key)
            pty.read(master, out, 0.4)
        assert child.poll() is None, "the app quit on its own: a [@click=app.quit] went live?"
        # Every stop was reached: the Trace tab, the certificate's details (its lint), the
        # command lines, the PIN dialog and the help.
        for seen in (b"arguments (PIN", b"keycertsign-without-ca", b"Show me the command", b"Log in to",
                     b"ikm-tui: keys, certificates"):
            assert seen in out, seen
        os.write(master, b"q")
        pty.wait_exit(child, master, out)
        assert child.poll() == 0, f"exit status {child.poll()}"
        pty.read(master, out, 0.3)
    finally:
        pty.close(child, master)
    for payload in RAW_PAYLOADS:
        assert payload not in out, f"{payload!r} from the token data reached the terminal"
    assert b"Traceback" not in out
