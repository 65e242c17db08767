"""What a PKCS#11 module prints on file descriptor 2, captured instead of scribbling over the screen.

Why: modules write to stderr from C (tpm2-pkcs11 without a TPM prints a dozen `ERROR:tcti:`
lines at C_Initialize), straight over the TUI, and their reason for failing to load is only
there: python-pkcs11 then raises an exception without a message.

Two modes:
- `redirect_process_stderr()` (the TUI, before it starts): fd 2 goes to a private file for the
  rest of the process, and the terminal stays reachable through the returned file object (Textual
  draws on `sys.__stderr__`). A load then reads what was added to the file meanwhile.
- otherwise (the CLI) `capture()` swaps fd 2 for a temporary file around one load, under a lock.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

_lock = threading.Lock()
_process_file: IO[bytes] | None = None


class Captured:
    """The text fd 2 received during a `capture()` block (filled in when the block ends)."""

    text: str = ""

    def lines(self, limit: int = 3) -> list[str]:
        from ikm_tui.core.sanitize import safe_text

        out = [safe_text(line.strip()) for line in self.text.splitlines() if line.strip()]
        return out[:limit]


def redirect_process_stderr() -> IO[str] | None:
    """Send fd 2 to a private file for good; a text file on the terminal's stderr, or None when
    fd 2 is not a terminal (then nothing is changed: there is no screen to protect)."""
    global _process_file
    if _process_file is not None or not os.isatty(2):
        return None
    sys.stderr.flush()
    terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                         errors="backslashreplace")
    fh = tempfile.TemporaryFile(prefix="ikm-tui-module-stderr-")
    os.dup2(fh.fileno(), 2)
    _process_file = fh
    return terminal


def _size(fh: IO[bytes]) -> int:
    return os.fstat(fh.fileno()).st_size


def _read_from(fh: IO[bytes], start: int) -> str:
    end = _size(fh)
    if end <= start:
        return ""
    data = os.pread(fh.fileno(), min(end - start, 65536), start)
    return data.decode("utf-8", "replace")


@contextmanager
def capture() -> Iterator[Captured]:
    """What fd 2 receives inside the block, kept off the terminal."""
    got = Captured()
    fh = _process_file
    if fh is not None:
        start = _size(fh)
        try:
            yield got
        finally:
            got.text = _read_from(fh, start)
        return
    with _lock:
        try:
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass
        saved = os.dup(2)
        tmp: Any = tempfile.TemporaryFile(prefix="ikm-tui-module-stderr-")
        os.dup2(tmp.fileno(), 2)
        try:
            yield got
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            got.text = _read_from(tmp, 0)
            tmp.close()
