"""'Use this key elsewhere…' (key U) in the TUI: the dialog writes export-config's files, which the tools accept."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from textual.widgets import Button, Input, RadioButton

from ikm_tui.core.model import ObjClass
from ikm_tui.ui.screens.confirm_screen import ConfirmScreen
from ikm_tui.ui.screens.message_screen import MessageScreen
from ikm_tui.ui.screens.use_elsewhere_screen import UseElsewhereScreen
from tests.interop.test_interop_receive import need, nss_flags, run_cli
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for_screen
from tests.tui.test_ui_manage import _obj, _select


async def _write(pilot: Any, target: str, directory: Path) -> None:
    await pilot.press("U")
    screen = await wait_for_screen(pilot, UseElsewhereScreen)
    screen.query_one(f"#use-{target}", RadioButton).value = True
    screen.query_one("#use-dir", Input).value = str(directory)
    await pilot.pause()
    screen.query_one("#use-ok", Button).press()


async def test_use_elsewhere_writes_files_the_tools_accept(token: Any, tmp_path: Path) -> None:
    res = run_cli(token, "cert", "create", "--label", "web01", "--key-type", "ec:p256", "--subject", "CN=web01")
    assert res.returncode == 0, res.stderr
    token.login()
    key = _obj(token, ObjClass.PRIVATE_KEY, "web01")
    cert = _obj(token, ObjClass.CERTIFICATE, "web01")
    out = tmp_path / "use"
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _select(pilot, "tab-keys", key.handle)
        await _write(pilot, "nss", out)
        msg = await wait_for_screen(pilot, MessageScreen)
        assert "nss-check.sh" in msg.plain_text and f"{token.label}:web01  u,u,u" in msg.plain_text
        msg.query_one("#message-ok", Button).press()
        await settle(pilot)
        # From the certificate: the key of its CKA_ID; Java's files go next to NSS's.
        await _select(pilot, "tab-certs", cert.handle)
        await _write(pilot, "java", out)
        msg = await wait_for_screen(pilot, MessageScreen)
        assert "web01, ..., PrivateKeyEntry" in msg.plain_text
        msg.query_one("#message-ok", Button).press()
        await settle(pilot)
        # Again: the files exist, so it asks; Cancel leaves them as they are.
        (out / "README-java.txt").write_text("mine")
        await _write(pilot, "java", out)
        confirm = await wait_for_screen(pilot, ConfirmScreen)
        confirm.query_one("#confirm-no", Button).press()
        await settle(pilot)
        assert not isinstance(app.screen, MessageScreen)
    assert (out / "README-java.txt").read_text() == "mine"
    assert token.pin not in "".join(p.read_text() for p in out.iterdir())
    need("certutil")
    env = token.env() | {"NSSDB": f"sql:{tmp_path / 'db'}"}
    subprocess.run(["sh", str(out / "nss-add-module.sh")], env=env, check=True, capture_output=True, timeout=60)
    (tmp_path / "pw").write_text(token.pin + "\n")
    res2 = subprocess.run(["sh", str(out / "nss-check.sh"), "-f", str(tmp_path / "pw")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert nss_flags(res2.stdout, f"{token.label}:web01") == "u,u,u", res2.stdout + res2.stderr
