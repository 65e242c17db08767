"""Terminal loss (SIGHUP): close every token session and exit 129, with no traceback."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

HANGUP_EXIT = 128 + signal.SIGHUP  # 129, what a shell reports for a process killed by SIGHUP


class Hangup(Exception):
    """Raised in the main thread by the CLI's SIGHUP handler; carries nothing (no locals)."""


def _raise_hangup(signum: int, frame: FrameType | None) -> None:
    raise Hangup()


def install_cli_handler() -> bool:
    """Make SIGHUP raise Hangup in the main thread; the CLI catches it and closes sessions.

    A blocking wait on the owner thread (`Future.result`) is interrupted, so the handler runs
    even while a token call hangs.
    """
    if not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signal.SIGHUP, _raise_hangup)
    return True


def install_loop_handler(loop: Any, on_hangup: Callable[[], None]) -> bool:
    """For the TUI: run `on_hangup` on the event loop at SIGHUP (e.g. `app.exit(HANGUP_EXIT)`);
    the app's shutdown then calls `close_sessions()` and restores the terminal."""
    if not hasattr(signal, "SIGHUP"):
        return False
    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    return True


def close_sessions(wait: float = 5.0) -> None:
    """Close every module's sessions (logging out). Waits up to `wait` s per module for a call
    in progress: a hung module is abandoned (its thread is a daemon) rather than waited on."""
    from ikm_tui.core.p11.service import close_all

    close_all(wait)
