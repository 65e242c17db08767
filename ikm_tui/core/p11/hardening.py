"""Keep PINs out of core dumps: RLIMIT_CORE = 0 and PR_SET_DUMPABLE = 0 once a PIN can be in memory."""

from __future__ import annotations

import ctypes
import resource
import sys

PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4

_protected = False


def _prctl(option: int, arg: int = 0) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(option, arg, 0, 0, 0))


def protect_process() -> None:
    """No core file and no ptrace/`/proc/PID/mem` access by other processes of the user, for
    the rest of the process.

    Process-wide and never undone: once a PIN was in memory, copies Python cannot wipe (the
    str behind an Input, the bytes python-pkcs11 hands to C_Login) may linger in the heap until
    the process ends. A crash then leaves no core with them, and a core_pattern pipe (systemd-
    coredump, apport) gets nothing either, because a non-dumpable process is not dumped.
    Best effort: a platform without prctl keeps the rlimit alone.
    """
    global _protected
    if _protected:
        return
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError):
        pass
    if sys.platform.startswith("linux"):
        try:
            _prctl(PR_SET_DUMPABLE, 0)
        except (OSError, AttributeError):
            pass
    _protected = True


def dumpable() -> int | None:
    """prctl(PR_GET_DUMPABLE): 0 when no core can be written, None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    return _prctl(PR_GET_DUMPABLE)
