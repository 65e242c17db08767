"""Plain terminals (issue #14 item 6): C locale with Python's coercion off, through a real pty.

No non-ASCII byte may reach the terminal and nothing may crash, for the TUI and for `list`, on
a token whose label is not ASCII. Also the ASCII mode's snapshot at 80x24.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from textual.pilot import Pilot

from ikm_tui.core.text.plain_terminal import ascii_only, to_ascii
from tests.conftest import delete_token, new_token
from tests.support import pty
from tests.support.ui_helpers import settle
from tests.tui.test_ui_navigation import later_app

LABEL = "café-Ω"
C_LOCALE = {"LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0",
            "PYTHONIOENCODING": "", "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}


@pytest.fixture
def odd_token(service: Any, module_path: str) -> Iterator[Any]:
    tok = new_token(service, module_path, label=LABEL)
    yield tok
    delete_token(tok)


def _env(tok: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "IKM_"))}
    env.update(tok.env())
    env.update(C_LOCALE)
    return env


def _run_in_pty(argv: list[str], env: dict[str, str], keys: bytes = b"", until: bytes = b"",
                timeout: float = 30.0) -> tuple[bytes, int]:
    """Run argv on a pty of 80x24; once `until` has been seen, type `keys`; all output and rc."""
    proc, master = pty.spawn(argv, env, rows=24, cols=80)
    out, end = bytearray(), time.monotonic() + timeout
    try:
        if keys:
            pty.read_until(master, out, until, timeout)
            pty.read(master, out, 0.5)  # let the first frame settle
            os.write(master, keys)
        pty.wait_exit(proc, master, out, max(end - time.monotonic(), 1))
        pty.read(master, out, 0.2)
        rc = proc.wait(timeout=10)
    finally:
        pty.close(proc, master)
    return bytes(out), rc


def _token_uri() -> str:
    return "pkcs11:token=" + quote(LABEL.encode("utf-8"), safe="")


def test_list_on_a_c_locale_writes_ascii_only(odd_token: Any) -> None:
    out, rc = _run_in_pty([sys.executable, "-m", "ikm_tui", "--module", odd_token.module,
                           "--token", _token_uri(), "list"], _env(odd_token))
    assert rc == 0, out
    assert b"Traceback" not in out and b"UnicodeEncodeError" not in out
    assert all(b < 0x80 for b in out), out
    assert b"caf\\xe9" in out or b"caf" in out


def test_tui_on_a_c_locale_writes_ascii_only(odd_token: Any) -> None:
    out, rc = _run_in_pty([sys.executable, "-m", "ikm_tui", "--module", odd_token.module,
                           "--token", _token_uri()], _env(odd_token), keys=b"q", until=b"public only")
    assert b"Traceback" not in out
    non_ascii = {b for b in out if b >= 0x80}
    assert not non_ascii, sorted(non_ascii)
    assert b"public only" in out  # it did draw the token
    assert re.search(rb"\+(\x1b\[[0-9;]*m)*-", out), "no ASCII border"  # +- with colours between
    assert rc == 0


def test_detection() -> None:
    assert ascii_only({"TERM": "xterm-256color"}, "ascii")
    assert ascii_only({"TERM": "vt100"}, "utf-8")
    assert ascii_only({"TERM": "linux"}, "UTF-8")
    assert not ascii_only({"TERM": "xterm-256color"}, "utf-8")
    assert not ascii_only({"TERM": "vt100", "IKM_ASCII": "0"}, "ascii")
    assert to_ascii("╭─ Tokens ─╮ ▼ café │") == "+- Tokens -+ v caf? |"


def test_ascii_mode_80x24(snap_compare: Any, snapshot_token: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)

    assert snap_compare(later_app(snapshot_token, ascii_only=True), terminal_size=(80, 24),
                        run_before=run_before)
