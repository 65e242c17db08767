"""One writer per token at a time: an flock on a per-token lock file under the XDG state dir."""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from ikm_tui.core.errors import IkmError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def lock_dir() -> Path:
    """XDG_STATE_HOME/ikm-tui/locks (~/.local/state/ikm-tui/locks), created 0700."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    path = Path(base) / "ikm-tui" / "locks"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def token_key(module: str, serial: str, label: str) -> str:
    # Hashed: labels hold any character; module + serial + label names one token of one module
    # (tpm2-pkcs11 gives every token serial 0000000000000000).
    key = hashlib.sha256("\0".join((os.path.realpath(module), serial, label)).encode("utf-8", "replace"))
    return key.hexdigest()[:32]


def lock_path(module: str, serial: str, label: str) -> Path:
    return lock_dir() / f"{token_key(module, serial, label)}.lock"


class TokenLock:
    """Held from acquire() until release() or the end of the process (the kernel drops it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self, *, timeout: float = 120.0, waiting: Callable[[], None] | None = None) -> None:
        """Blocks until no other ikm-tui writes to this token; IkmError after `timeout` seconds.

        Why: two `certreq create --label X` at once both found no X and both wrote one; a
        rename interleaved with a receive swapped labels. Under the lock each one's checks
        (label unique, request absent) see the other's finished writes.
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and waiting is not None:
                    waiting()
                    told = True
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise IkmError("Another ikm-tui has been writing to this token for "
                                   f"{int(timeout)} s; nothing was changed.",
                                   "Wait for it to finish (or stop it), then try again.") from None
                time.sleep(0.05)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None


# The lock the running CLI command holds (cli/common.open_token takes it for writing commands).
HELD: list[TokenLock] = []


def release_all() -> None:
    while HELD:
        HELD.pop().release()
