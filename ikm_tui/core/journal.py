"""A 0600 note per token, written while a CLI command writes to it: a killed run leaves it behind.

SIGINT/SIGTERM/SIGHUP are held until a write finishes (cli/hold.py), but SIGKILL, a crash or
a power cut still stop a command between two writes. The note names the command, so the next
run on that token can say what was cut short and how to finish or undo it, instead of the
operator finding "key without certificate" and "already exists" with no story.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ikm_tui.core.files import SECRET_MODE, read_input, write_file


def journal_dir(*, create: bool = True) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    path = Path(base) / "ikm-tui" / "journal"
    if create:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def journal_path(token_key: str, *, create: bool = True) -> Path:
    """The token's note, by the key its lock file uses (core/tokenlock.token_key); `create`
    makes the directory (a reading command only looks)."""
    return journal_dir(create=create) / f"{token_key}.json"


def begin(path: Path, argv: list[str]) -> None:
    """Record the command before its first write (the caller holds the token lock)."""
    entry = {"argv": argv, "pid": os.getpid(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_file(path, json.dumps(entry), overwrite=True, mode=SECRET_MODE)


def end(path: Path) -> None:
    path.unlink(missing_ok=True)


def unfinished(path: Path) -> dict[str, object] | None:
    """The note a stopped run left (its process gone), else None."""
    if not path.exists():
        return None
    try:
        entry = json.loads(read_input(path, what="journal", limit=1 << 16))
    except (ValueError, OSError, Exception):  # noqa: BLE001 - a torn note still says a run was cut
        return {"argv": ["?"], "started": "?"}
    if not isinstance(entry, dict):
        return {"argv": ["?"], "started": "?"}
    pid = entry.get("pid")
    if isinstance(pid, int) and pid != os.getpid() and _alive(pid):
        return None  # that run is still going (seen without the lock, by a reading command)
    return entry


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def advice(entry: dict[str, object]) -> str:
    """What the operator reads: which command was cut short and how to finish or undo it."""
    argv = entry.get("argv")
    words = [str(a) for a in argv] if isinstance(argv, list) else ["?"]
    command = " ".join(words)
    return (f"an earlier `ikm-tui {command}` (started {entry.get('started', '?')}) was stopped before it "
            "finished (killed or crashed). To finish it, run the same command again; to see and clean up "
            "what it left (temporary key pairs, lone public keys), run `ikm-tui cert doctor` "
            "(then --fix --yes). This note goes away when cert doctor runs.")
