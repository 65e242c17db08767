"""Issue #19 items 6, 7 (must-show 2): hostile labels in the dialogs that pre-fill an Input (Rename `R`,
Add-CA `a`), in dialog titles and notifications; the delete confirm accepts the escaped label.
In-process for what each widget holds, then the real app under a pty for the raw bytes."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from textual.widgets import Button, Input

from ikm_tui.core.errors import IkmError
from ikm_tui.core.model import ObjClass
from ikm_tui.core.p11 import keys, objects
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.sanitize import safe_text
from ikm_tui.ui.screens.confirm_screen import TypeToConfirmScreen
from ikm_tui.ui.screens.label_screen import LabelScreen
from ikm_tui.ui.screens.receive_screen import CertSourceScreen
from ikm_tui.ui.widgets.object_table import ObjectTable
from tests.conftest import delete_token, new_token
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for_screen
from tests.support import pty

# Terminal title, clipboard write (OSC 52), clear screen, a hyperlink (OSC 8), a C1 CSI, and the
# invisible characters that make two labels look alike.
TITLE = "\x1b]0;owned\x07"
CLIP = "\x1b]52;c;ZWNobyBwd25lZA==\x07"
LINK = "\x1b]8;;http://evil/\x1b\\here\x1b]8;;\x1b\\"
LABEL = f"web{TITLE}{CLIP}\x1b[2J{LINK}\x9b2J\u2028\u2029\u200d\u202e01"
CA_CN = f"Evil CA{TITLE}{CLIP}\u2028"
PAYLOADS = [b"\x1b]0;owned", b"\x1b]52;", b"ZWNobyBwd25lZA==\x07", b"\x1b]8;;http://evil", b"\xc2\x9b2J",
            "\u2028".encode(), "\u2029".encode(), "\u200d".encode(), "\u202e".encode()]


def _cert(cn: str, *, ca: bool) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.now(timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(77).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))


@pytest.fixture
def hostile(service: Any, module_path: str, tmp_path: Path) -> Any:
    tok = new_token(service, module_path)
    tok.login()
    service.run(keys.generate_keypair, tok.slot_id, keys.KeySpec.parse("ec:p256"), LABEL, b"\x66")
    der = _cert("leaf", ca=False).public_bytes(serialization.Encoding.DER)
    service.run(objects.write_certificate, tok.slot_id, der, LABEL, b"\x66")
    (tmp_path / "ca.pem").write_bytes(_cert(CA_CN, ca=True).public_bytes(serialization.Encoding.PEM))
    yield tok
    try:
        service.run(Backend.logout, tok.slot_id)
    except IkmError:
        pass
    delete_token(tok)


def _clean(text: str, where: str) -> None:
    bad = [c for c in text if ord(c) < 0x20 and c != "\n" or 0x7F <= ord(c) <= 0x9F
           or c in "\u2028\u2029\u200d\u202e"]
    assert not bad, f"{where}: {bad!r}"


async def test_prefilled_inputs_titles_and_delete_confirm_use_the_escaped_label(hostile: Any,
                                                                                tmp_path: Path) -> None:
    app = app_for(hostile)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        main = app.main_screen
        assert main.listing is not None
        cert = next(o for o in main.listing.objects if o.cls is ObjClass.CERTIFICATE)
        main.query_one("#tabs").active = "tab-certs"  # type: ignore[attr-defined]
        await pilot.pause()
        table = main.query_one("#certs", ObjectTable)
        table.focus()
        table.select_handle(cert.handle)
        await settle(pilot)
        # Rename: the Input is pre-filled with the label as shown, never the raw bytes.
        await pilot.press("R")
        screen = await wait_for_screen(pilot, LabelScreen)
        value = screen.query_one("#label-input", Input).value
        assert value == safe_text(LABEL)
        _clean(value, "rename input")
        _clean(app.export_screenshot(), "rename dialog")
        await pilot.press("escape")
        await settle(pilot)
        # Add CA: the CA file's CN pre-fills the label.
        await pilot.press("a")
        source = await wait_for_screen(pilot, CertSourceScreen)
        source.query_one("#source-path", Input).value = str(tmp_path / "ca.pem")
        await pilot.press("enter")
        screen = await wait_for_screen(pilot, LabelScreen)
        value = screen.query_one("#label-input", Input).value
        # (cn_label trims the trailing U+2028 as whitespace; the rest arrives escaped)
        assert value.startswith("Evil CA\\x1b]0;owned\\x07") and "\\x1b]52;" in value
        _clean(value, "add-CA input")
        _clean(app.export_screenshot(), "add-CA dialog")
        await pilot.press("escape")
        await settle(pilot)
        # Delete: typing the label as shown (escaped) confirms.
        table.focus()
        table.select_handle(cert.handle)
        await pilot.press("d")
        confirm = await wait_for_screen(pilot, TypeToConfirmScreen)
        _clean(app.export_screenshot(), "delete dialog")
        field = confirm.query_one("#delete-input", Input)
        field.value = safe_text(LABEL)
        await pilot.pause()
        assert not confirm.query_one("#delete-yes", Button).disabled
        await pilot.press("enter")
        await settle(pilot)
        assert main.listing is not None
        assert not [o for o in main.listing.objects if o.cls is ObjClass.CERTIFICATE]
        # Notifications go through the same path: title and message.
        app.notify(f"Deleted {LABEL}", title=f"Gone {LABEL}")
        await pilot.pause()
        note = list(app._notifications)[-1]  # noqa: SLF001
        _clean(note.message + note.title, "notification")
        _clean(app.export_screenshot(), "screen with notification")


def test_raw_pty_bytes_through_the_rename_and_add_ca_dialogs(hostile: Any, tmp_path: Path) -> None:
    hostile.service.run(Backend.logout, hostile.slot_id)
    child, master = pty.spawn([sys.executable, "-m", "ikm_tui", "--module", hostile.module, "--token", hostile.label],
                              pty.pty_env(hostile.env(), IKM_PIN=hostile.pin), cwd=tmp_path)
    out = bytearray()
    try:
        pty.read_until(master, out, b"web\\x1b]0;owned", 30)
        pty.read(master, out, 0.5)
        steps: list[tuple[bytes, bytes | None]] = [
            (b"\t", None), (b"\x1b[C", None), (b"\t", None),  # Certificates tab, into the table
            (b"R", b" Rename "), (b"\x1b", None),
            (b"a", b"Add a CA"), (b"ca.pem\r", b"Evil CA\\x1b]0;owned"), (b"\x1b", None),
        ]
        for key, expect in steps:
            os.write(master, key)
            if expect is not None:
                pty.read_until(master, out, expect, 15)
            pty.read(master, out, 0.4)
        assert child.poll() is None
        os.write(master, b"q")
        pty.wait_exit(child, master, out)
    finally:
        pty.close(child, master)
    for payload in PAYLOADS:
        assert payload not in out, f"{payload!r} from the token or file reached the terminal"
    assert b"Evil CA\\x1b]0;owned" in out  # the add-CA dialog was really shown, escaped
    assert b"Traceback" not in out


async def test_hostile_file_names_in_the_file_picker_are_escaped_and_still_read(hostile: Any,
                                                                              tmp_path: Path) -> None:
    from ikm_tui.ui.screens.receive_screen import CertFileTree

    pick = tmp_path / "pick"
    pick.mkdir()
    name = f"ca{TITLE}{CLIP}\u202e.pem"
    (pick / name).write_bytes((tmp_path / "ca.pem").read_bytes())
    app = app_for(hostile)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        results: list[Any] = []
        app.push_screen(CertSourceScreen("Pick", start_dir=pick), results.append)
        screen = await wait_for_screen(pilot, CertSourceScreen)
        tree = screen.query_one(CertFileTree)
        for _ in range(50):
            await pilot.pause()
            if tree.root.children:
                break
        node = next(n for n in tree.root.children if n.data is not None and n.data.path.name == name)
        _clean(app.export_screenshot(), "file tree")
        assert "\\x1b]52;" in str(node.label)
        tree.select_node(node)
        await pilot.pause()
        field = screen.query_one("#source-path", Input)
        for _ in range(20):
            if field.value:
                break
            await pilot.pause()
        _clean(field.value, "picked path")
        assert field.value.endswith(safe_text(name))
        await pilot.press("enter")
        await pilot.pause()
        assert results and results[0] is not None and len(results[0].certs) == 1


async def test_pasted_text_is_escaped_before_an_input_holds_it(hostile: Any) -> None:
    from textual import events

    app = app_for(hostile)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(LabelScreen("Paste here", "a label", ""))
        screen = await wait_for_screen(pilot, LabelScreen)
        field = screen.query_one("#label-input", Input)
        field.focus()
        await pilot.pause()
        app.post_message(events.Paste(f"pasted{TITLE}{CLIP}\u202e"))
        for _ in range(20):
            await pilot.pause()
            if field.value:
                break
        assert field.value == safe_text(f"pasted{TITLE}{CLIP}\u202e")
        _clean(field.value, "pasted input")
        _clean(app.export_screenshot(), "screen after paste")


# Pasted (bracketed paste) and typed: a C1 CSI and U+202E arrive as characters of their own.
PASTE = f"\x1b[200~pasted{TITLE}{CLIP}\x1b[2J{LINK}\x9b2J\u2028\u202e\x1b[201~".encode()
# Digits no dialog binds (letters are keys in the dialogs without a field: `y` copies).
TYPED = "0909\x9b2J\u202e\u2029\u200d".encode()


def test_raw_pty_bytes_when_hostile_text_is_pasted_or_typed_into_every_input(hostile: Any, tmp_path: Path) -> None:
    """Must-show 2, Input values: every dialog with a text field gets the payloads pasted and
    typed through the real terminal; no ESC/OSC/C1 or invisible separator reaches the pty."""
    hostile.service.run(Backend.logout, hostile.slot_id)
    child, master = pty.spawn([sys.executable, "-m", "ikm_tui", "--module", hostile.module, "--token", hostile.label],
                              pty.pty_env(hostile.env(), IKM_PIN=hostile.pin), cwd=tmp_path)
    out = bytearray()
    # (key that opens the dialog, text it shows): rename, delete (type to confirm), save cert,
    # add CA (file field), receive (file field), new request (label field), change PIN.
    dialogs = [(b"R", b" Rename "), (b"d", b"Type"), (b"x", b"Save"), (b"a", b"Add a CA"), (b"i", b"eceive"),
               (b"n", b"equest"), (b"P", b"PIN"), (b"p", b"ublic"), (b"D", b"octor"), (b"l", b"Log")]
    # Not the command screen (`m`, no field): a paste holding ESC reaches it as keys, and its `c`
    # copies the (escaped) commands with the terminal's own OSC 52, which this scan would count.
    opened = 0
    try:
        pty.read_until(master, out, b"web\\x1b]0;owned", 30)
        pty.read(master, out, 0.5)
        for key in (b"\t", b"\x1b[C", b"\t"):  # Certificates tab, into the table
            os.write(master, key)
            pty.read(master, out, 0.4)
        for key, expect in dialogs:
            mark = len(out)
            os.write(master, key)
            pty.read(master, out, 0.8)
            if expect in out[mark:]:
                opened += 1
            os.write(master, PASTE)
            pty.read(master, out, 0.4)
            os.write(master, TYPED)
            pty.read(master, out, 0.4)
            for _ in range(2):  # out of the dialog (and of a second one it may have opened)
                os.write(master, b"\x1b")
                pty.read(master, out, 0.4)
        assert child.poll() is None
        os.write(master, b"q")
        pty.wait_exit(child, master, out)
    finally:
        pty.close(child, master)
    for payload in PAYLOADS:
        at = bytes(out).find(payload)
        assert payload not in out, f"{payload!r} typed or pasted reached the terminal: {bytes(out[at-300:at+200])!r}"
    assert opened >= 8, (opened, bytes(out[-3000:]))
    # The pasted text was shown, escaped, in the fields.
    # The fields got the printable rest (the terminal parser and ui/text drop or escape the
    # control and invisible characters: either way none is drawn raw).
    assert b"pasted" in out and b"09092J" in out
    assert b"Traceback" not in out
