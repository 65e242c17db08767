"""Call trace of the owner thread: every backend call and every C_* call it made, PINs shown as ***."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from ikm_tui.core.files import SECRET_MODE, open_append
from ikm_tui.core.p11.service import TraceEntry


def format_entry(e: TraceEntry) -> str:
    # PKCS#11 calls are indented; the operation that made them is traced when it ends, after
    # them, as a summary line of its own.
    indent = "  " if e.function.startswith(("C_", "fast-path")) else ""
    return f"#{e.seq:05d} {indent}{e.function}({e.args}) -> {e.result} [{e.duration_ms:.1f} ms]"


def file_tracer(path: str) -> Callable[[TraceEntry], None]:
    """Append entries to `path`, created 0600 (a trace tells which keys exist and when)."""
    fh = open_append(path, SECRET_MODE)
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


class TraceFeed:
    """A TraceBuffer plus a thread-safe queue of entries the UI has not drawn yet.

    `attach(service)` adds the buffer to the service's tracers once; `detach_all()` removes it
    again (the services are process-wide and outlive one app).
    """

    def __init__(self, size: int = 2000) -> None:
        self.buffer = TraceBuffer(size)
        self.buffer.listeners.append(self._queue)
        self._lock = threading.Lock()
        self._pending: list[TraceEntry] = []
        self._scheduled = False
        self._services: list[Any] = []
        # Told (on the owner thread) that entries are pending; the Trace pane posts itself a
        # message from it. None until a pane exists: the buffer alone keeps entries until then.
        self.wake: Callable[[], None] | None = None
        self.count = 0  # entries seen by this feed: the pane's row numbers

    def attach(self, service: Any) -> None:
        """Trace this service into the feed (once, however often it is asked)."""
        if any(s is service for s in self._services):
            return
        self._services.append(service)
        service.tracers.append(self.buffer)

    def detach_all(self) -> None:
        for svc in self._services:
            try:
                svc.tracers.remove(self.buffer)
            except ValueError:
                pass  # a test cleared the tracers already
        self._services.clear()

    def _queue(self, entry: TraceEntry) -> None:
        # Owner thread: never touch widgets here. Without a pane the buffer alone keeps it.
        with self._lock:
            if self.wake is None:
                return
            self._pending.append(entry)
            if self._scheduled:
                return
            self._scheduled = True
            wake = self.wake
        wake()

    def drain(self) -> list[TraceEntry]:
        with self._lock:
            out, self._pending = self._pending, []
            self._scheduled = False
            return out


# Config files p11-kit reads for module options (`log-calls: yes` logs every call, PINs included).
_P11KIT_CONFIGS = ("/etc/pkcs11/pkcs11.conf", "~/.config/pkcs11/pkcs11.conf")


def _p11kit_log_calls(config_dirs: list[str], config_files: tuple[str, ...]) -> list[str]:
    import glob
    import re

    hits: list[str] = []
    files = [os.path.expanduser(f) for f in config_files]
    for d in config_dirs:
        files += sorted(glob.glob(os.path.join(os.path.expanduser(d), "*.module")))
    for f in files:
        try:
            with open(f, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            continue
        if re.search(r"^\s*log-calls\s*:\s*(yes|true)\s*$", text, re.M | re.I):
            hits.append(f)
    return hits


def _opensc_conf_debug(conf: str) -> int:
    import re

    try:
        with open(conf, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return 0
    levels = [int(m) for m in re.findall(r"^\s*debug\s*=\s*(\d+)\s*;", text, re.M)]
    return max(levels, default=0)


def trace_warnings(module_path: str, env: dict[str, str] | None = None,
                   p11kit_dirs: list[str] | None = None,
                   p11kit_files: tuple[str, ...] = _P11KIT_CONFIGS) -> list[str]:
    """Warnings when the module (or its debug settings) logs PINs in clear.

    pkcs11-spy, p11-kit's call log and OpenSC at debug level 3+ write C_Login's PIN (ASCII and
    hex) to their log files, failed attempts included. Our own trace redacts; theirs cannot.
    """
    from ikm_tui.core.p11.modules import _P11KIT_DIRS

    env = dict(os.environ) if env is None else env
    base = os.path.basename(os.path.realpath(module_path) if os.path.exists(module_path)
                            else module_path).lower()
    given = os.path.basename(module_path).lower()
    out: list[str] = []
    if "pkcs11-spy" in base or "pkcs11-spy" in given:
        target = env.get("PKCS11SPY", "(PKCS11SPY not set)")
        log = env.get("PKCS11SPY_OUTPUT", "stderr")
        out.append(f"{module_path} is pkcs11-spy (wrapping {target}): it logs every C_Login PIN in "
                   f"clear, in ASCII and hex, to {log}. Use the real module for logins, or delete "
                   "that log afterwards.")
    if base.startswith("p11-kit") or given.startswith("p11-kit"):
        if env.get("P11_KIT_DEBUG"):
            out.append(f"P11_KIT_DEBUG={env['P11_KIT_DEBUG']} is set: p11-kit's debug output can "
                       "include PINs. Unset it before logging in.")
        logged = _p11kit_log_calls(_P11KIT_DIRS if p11kit_dirs is None else p11kit_dirs, p11kit_files)
        if logged:
            out.append("p11-kit call logging (log-calls: yes) is on in " + ", ".join(logged)
                       + ": it logs C_Login with the PIN in clear. Turn it off before logging in.")
    if "opensc" in base or "opensc" in given:
        try:
            level = int(env.get("OPENSC_DEBUG", "0") or 0)
        except ValueError:
            level = 0
        conf_level = _opensc_conf_debug(env.get("OPENSC_CONF", "/etc/opensc/opensc.conf"))
        if max(level, conf_level) >= 3:
            where = "OPENSC_DEBUG" if level >= 3 else "opensc.conf `debug`"
            out.append(f"OpenSC debug level {max(level, conf_level)} ({where}) logs APDUs and the "
                       "PIN in clear. Set it below 3 before logging in.")
    return out
