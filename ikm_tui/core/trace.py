"""Call trace of the owner thread: every backend call with PINs shown as ***."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable

from ikm_tui.core.service import TraceEntry


def format_entry(e: TraceEntry) -> str:
    return f"#{e.seq:05d} {e.function}({e.args}) -> {e.result} [{e.duration_ms:.1f} ms]"


def file_tracer(path: str) -> Callable[[TraceEntry], None]:
    """Append entries to `path`, created 0600 (a trace tells which keys exist and when)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    fh = os.fdopen(fd, "a", encoding="utf-8", buffering=1)
    lock = threading.Lock()

    def write(entry: TraceEntry) -> None:
        with lock:
            fh.write(format_entry(entry) + "\n")

    return write


class TraceBuffer:
    """The last N entries in memory, for the TUI's Trace pane."""

    def __init__(self, size: int = 2000) -> None:
        self.entries: deque[TraceEntry] = deque(maxlen=size)
        self.listeners: list[Callable[[TraceEntry], None]] = []

    def __call__(self, entry: TraceEntry) -> None:
        self.entries.append(entry)
        for listener in list(self.listeners):
            listener(entry)
