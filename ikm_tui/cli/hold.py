"""SIGINT/SIGTERM/SIGHUP during a token write wait until the write and its read-back finish."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

# (command attribute, subcommand) of the commands that write to a token.
WRITERS = {
    ("certreq_command", "create"), ("certreq_command", "delete"), ("certreq_command", "recreate"),
    ("cert_command", "receive"), ("cert_command", "add"), ("cert_command", "delete"),
    ("cert_command", "rename"), ("cert_command", "doctor"), ("cert_command", "create"),
    ("key_command", "delete"), ("pin_command", "change"), ("ca_command", "create"),
    ("journal_command", "finish"), ("journal_command", "undo"),
}


def writes_token(args: argparse.Namespace) -> bool:
    return any(getattr(args, attr, None) == sub for attr, sub in WRITERS)


def _name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:  # pragma: no cover
        return f"signal {signum}"


class SignalHold:
    """Process-wide: installed for writing commands; armed once the token session is open.

    Why: a Ctrl-C or SIGTERM used to end the process while the owner thread was between two
    writes (key pair made, request not stored; cert renamed, keys not). Armed, the first signal
    is noted and the command runs to its end (every step reads back what it wrote), then the
    signal takes effect with its usual exit status (130, 143, 129) and a line saying the
    operation completed. A second signal ends the process at once (os._exit; the journal note
    stays for the next run). SIGKILL cannot be held: the journal note and `cert doctor` are
    what find what it leaves.
    """

    SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))

    def __init__(self) -> None:
        self.installed = False
        self.armed = False
        self.pending: int | None = None
        self._old: dict[int, Any] = {}
        self.argv: list[str] = []  # the command words, for the journal note (never a PIN: refused in argv)
        self.journal: Path | None = None
        # The real process (not a test calling main()): after the command a late signal is ignored.
        # Restored, Python's handlers are reset to SIG_DFL during interpreter shutdown, and a
        # Ctrl-C there killed the finished command by the signal (status -2, no message).
        self.exit_late = False

    def install(self) -> None:
        for s in self.SIGNALS:
            self._old[s] = signal.getsignal(s)
            signal.signal(s, self._handle)
        self.installed = True

    def uninstall(self) -> None:
        for s, old in self._old.items():
            signal.signal(s, signal.SIG_IGN if self.exit_late else old)
        self._old.clear()
        self.installed = self.armed = False
        self.pending = None
        self.argv = []
        self.journal = None

    def arm(self) -> None:
        if self.installed:
            self.armed = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.armed:
            self._deliver(signum, frame)
            return
        if self.pending is not None:
            _say(f"{_name(signum)} again: stopping now; the token may be left half-written "
                 "(`ikm-tui cert doctor` lists leftovers).")
            # os._exit, not an exception: unwinding into interpreter shutdown while the owner
            # thread is inside a C call crashed the process (SIGSEGV) in the old Ctrl-C path.
            # The journal note stays, so the next run names what was cut short.
            os._exit(128 + signum)
        self.pending = signum
        _say(f"{_name(signum)}: finishing the token write first (send it again to stop at once).")

    def _deliver(self, signum: int, frame: FrameType | None) -> None:
        old = self._old.get(signum)
        if callable(old):
            old(signum, frame)  # Python's SIGINT handler raises KeyboardInterrupt; hangup's raises Hangup
        raise SystemExit(128 + signum)

    def release(self) -> int | None:
        """After the command: the exit status of a held signal (its message printed), else None.
        A held SIGHUP is delivered to its own handler (the sessions are closed there)."""
        self.armed = False
        signum, self.pending = self.pending, None
        if signum is None:
            return None
        _say(f"{_name(signum)} arrived during the token write; the operation was completed first "
             "(see above), then stopped.")
        if signum == getattr(signal, "SIGHUP", None):
            self._deliver(signum, None)
        return 128 + signum


def _say(text: str) -> None:
    try:
        print(f"ikm-tui: {text}", file=sys.stderr, flush=True)
    except OSError:  # the terminal may be gone (SIGHUP)
        pass


HOLD = SignalHold()
