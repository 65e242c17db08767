"""The real `ikm-tui` on a pseudo-terminal: start it, read its raw bytes, type, and stop it.

Tests that must see what reaches the terminal byte for byte (escape injection, signals) run
the app as a child process on a pty instead of Textual's Pilot; this is their one copy of the
spawning, reading and stopping.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import termios
import time
from collections.abc import Sequence
from pathlib import Path


def read(fd: int, sink: bytearray, seconds: float) -> None:
    """Collect what the child writes for `seconds` (returns early when it closed the terminal)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not chunk:
                return
            sink += chunk


def read_until(fd: int, sink: bytearray, needle: bytes, timeout: float) -> None:
    """Collect until `needle` has reached the terminal; fails the test after `timeout` seconds."""
    end = time.monotonic() + timeout
    while needle not in sink:
        assert time.monotonic() < end, f"{needle!r} never reached the terminal"
        read(fd, sink, 0.2)


def pty_env(base: dict[str, str], rows: int = 36, cols: int = 120, **extra: str) -> dict[str, str]:
    """`base` as a plain xterm of that size sees it, without Textual's own debugging variables."""
    env = dict(base)
    env.update(TERM="xterm", COLUMNS=str(cols), LINES=str(rows), **extra)
    for var in ("TEXTUAL", "TEXTUAL_LOG", "NO_COLOR"):
        env.pop(var, None)
    return env


def spawn(argv: Sequence[str], env: dict[str, str], *, cwd: Path | None = None, rows: int = 36,
          cols: int = 120) -> tuple[subprocess.Popen[bytes], int]:
    """(child, master fd): `argv` on a new pty of rows x cols, in its own session."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    child = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave, env=env,
                             start_new_session=True, close_fds=True, cwd=cwd)
    os.close(slave)
    return child, master


def wait_exit(child: subprocess.Popen[bytes], master: int, sink: bytearray, timeout: float = 15) -> None:
    """Keep draining the terminal until the child exits (a full pty would block it)."""
    deadline = time.monotonic() + timeout
    while child.poll() is None and time.monotonic() < deadline:
        read(master, sink, 0.2)


def close(child: subprocess.Popen[bytes], master: int) -> None:
    """Kill the child if it is still there, and close the terminal."""
    if child.poll() is None:
        child.kill()
        child.wait(5)
    os.close(master)
