"""Issue #19: SIGTERM during a token write in the TUI waits for the write and its read-back.

The real app under a pty renames a key pair and its certificate (`R`); SIGTERM goes out the
moment the rename's journal holds its intent (the instant before the first write). Before
ui/writes.py the process died of the signal wherever it was (status -15); now it leaves with
143 once the rename is complete, and every object carries the new label.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

from ikm_tui.core.p11 import keys, objects
from ikm_tui.core.p11.backend import Backend
from tests.tui.test_ui_hostile_dialogs import _cert
from tests.tui.test_ui_hostile_everywhere import _read, _read_until
from cryptography.hazmat.primitives import serialization


def _intent(state: Path) -> bool:
    for f in (state / "ikm-tui" / "journal").glob("*.json"):
        try:
            if '"steps": [{' in f.read_text():
                return True
        except OSError:
            pass
    return False


def test_sigterm_during_a_tui_rename_waits_for_it(token: Any, tmp_path: Path) -> None:
    token.login()
    token.service.run(keys.generate_keypair, token.slot_id, keys.KeySpec.parse("ec:p256"), "web", b"\x42")
    der = _cert("web", ca=False).public_bytes(serialization.Encoding.DER)
    token.service.run(objects.write_certificate, token.slot_id, der, "web", b"\x42")
    token.service.run(Backend.logout, token.slot_id)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    env = token.env()
    env.update(TERM="xterm", COLUMNS="120", LINES="36", IKM_PIN=token.pin, XDG_STATE_HOME=str(tmp_path / "state"))
    for var in ("TEXTUAL", "TEXTUAL_LOG", "NO_COLOR"):
        env.pop(var, None)
    child = subprocess.Popen([sys.executable, "-m", "ikm_tui", "--module", token.module, "--token", token.label],
                             stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
                             close_fds=True, cwd=tmp_path)
    os.close(slave)
    out = bytearray()
    try:
        _read_until(master, out, b"web", 30)
        _read(master, out, 0.5)
        for key in (b"\t", b"\x1b[C", b"\t"):  # Certificates tab, into the table
            os.write(master, key)
            _read(master, out, 0.4)
        os.write(master, b"R")
        _read_until(master, out, b" Rename ", 15)
        _read(master, out, 0.3)
        os.write(master, b"\x7f\x7f\x7fsite\r")
        end = time.monotonic() + 30
        while not _intent(tmp_path / "state") and child.poll() is None:
            assert time.monotonic() < end, bytes(out[-2000:])
            time.sleep(0.0005)
        child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while child.poll() is None and time.monotonic() < deadline:
            _read(master, out, 0.2)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)
        os.close(master)
    assert child.returncode == 128 + signal.SIGTERM, (child.returncode, bytes(out[-1500:]))
    token.login()
    labels = sorted((o.cls.value, o.label) for o in token.service.run(Backend.list_objects, token.slot_id).objects)
    assert labels == [("certificate", "site"), ("private_key", "site"), ("public_key", "site")], labels
    assert not list((tmp_path / "state" / "ikm-tui" / "journal").glob("*.json"))  # the write ended whole
    assert b"Traceback" not in out
