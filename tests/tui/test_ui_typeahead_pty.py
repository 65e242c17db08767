"""Type-ahead end to end (issue #14 item 1): the real TUI on a pty, each burst in ONE write.

This goes through Textual's own input parser, as an SSH session's bursts and pastes do.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from typing import Any



class Pty:
    """The TUI on an 80x24 pty; `read_until` collects output, `write` is one write() call."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     close_fds=True, start_new_session=True)
        os.close(slave)
        self.out = b""

    def read_until(self, marker: bytes, timeout: float = 20.0) -> bool:
        end = time.monotonic() + timeout
        start = len(self.out)
        while time.monotonic() < end:
            if marker in self.out[start:]:
                return True
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return marker in self.out[start:]
                if not chunk:
                    break
                self.out += chunk
        return marker in self.out[start:]

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> int:
        try:
            end = time.monotonic() + 10
            while self.proc.poll() is None and time.monotonic() < end:
                self.read_until(b"\0never", timeout=0.2)  # keep draining: a full pty blocks the app
            return self.proc.wait(timeout=1)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.master)


def _start(tok: Any) -> Pty:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IKM_")}
    env.update(tok.env())
    env.update({"TERM": "xterm-256color", "IKM_ASCII": "0"})
    return Pty([sys.executable, "-m", "ikm_tui", "--module", tok.module, "--token", tok.label], env)


def test_l_pin_enter_in_one_write_logs_in(token: Any) -> None:
    tui = _start(token)
    try:
        assert tui.read_until(b"public only"), tui.out[-2000:]
        time.sleep(0.3)
        tui.write(b"l" + token.pin.encode() + b"\r")  # one read for the app
        assert tui.read_until(b"logged in"), tui.out[-2000:]
        tui.write(b"q")
    finally:
        rc = tui.close()
    assert rc == 0
    assert b"Traceback" not in tui.out


def test_l_q_in_one_write_does_not_quit(token: Any) -> None:
    tui = _start(token)
    try:
        assert tui.read_until(b"public only"), tui.out[-2000:]
        time.sleep(0.3)
        tui.write(b"lq")
        assert tui.read_until(b"Log in to"), tui.out[-2000:]  # the PIN dialog
        time.sleep(1.0)
        assert tui.proc.poll() is None, "q typed into the opening PIN dialog quit the app"
        tui.write(b"\x1b")  # esc closes the dialog (Textual waits briefly for a sequence)
        time.sleep(0.6)
        tui.write(b"q")
    finally:
        rc = tui.close()
    assert rc == 0
