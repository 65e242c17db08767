"""A 0600 journal per token, written while a command writes to it: the intent of a killed run survives it.

SIGINT/SIGTERM/SIGHUP are held until a write finishes (cli/hold.py), but SIGKILL, a crash or
a power cut still stop a command between two writes. Before its first write every multi-object
operation records its intent here (`intend`): each object it will create, destroy or change,
with the old and new values. The note goes when the command ends; one that stays names the
half-done state, and `ikm-tui journal finish|undo` (core/ops/journal_fix.py) reaches the state
after or before it. A PIN is never recorded (a PIN change records only that it ran).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ikm_tui.core.files import SECRET_MODE, read_input, write_file
from ikm_tui.core.model import Listing, ObjClass, ObjectInfo

Step = dict[str, Any]

# core/p11/unreadable.UNREADABLE, the flag of an object the module would not describe (not
# imported: that module loads pkcs11, which a reading command's journal check does not need).
UNREADABLE_FLAG = "unreadable"

# The note the running operation writes its intent to: set by the CLI under the token lock
# (one token per command) and by the TUI's write guard around each write (ui/writes.py). A
# context variable, not a process-wide slot: the TUI may write two tokens at once, and the
# owner thread runs each call in the context it was submitted from (core/p11/service.py), so
# an operation's intent reaches its own token's note, never the other's.
_NOTE: ContextVar[Path | None] = ContextVar("ikm_tui_journal_note", default=None)


def current() -> Path | None:
    """The note of the operation running in this context (None: no journal, e.g. library use)."""
    return _NOTE.get()


def activate(path: Path | None) -> None:
    """Make `path` the note of everything this context runs from now on (the CLI: one command)."""
    _NOTE.set(path)


@contextmanager
def recording(path: Path) -> Iterator[None]:
    """`path` is the note of the calls submitted inside the block (a TUI write)."""
    token = _NOTE.set(path)
    try:
        yield
    finally:
        _NOTE.reset(token)


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


def write_entry(path: Path, entry: dict[str, Any]) -> None:
    # Written beside and renamed over: a kill mid-write leaves the old note whole, never a torn one.
    tmp = path.with_name(path.name + ".tmp")
    write_file(tmp, json.dumps(entry), overwrite=True, mode=SECRET_MODE)
    os.replace(tmp, path)


def begin(path: Path, argv: list[str], token: str | None = None) -> None:
    """Record the command before its first write (the caller holds the token lock)."""
    entry = {"version": 1, "argv": argv, "pid": os.getpid(), "token": token,
             "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "steps": []}
    write_entry(path, entry)


def end(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".tmp").unlink(missing_ok=True)
    _copy_path(path).unlink(missing_ok=True)


def _copy_path(path: Path) -> Path:
    return path.with_name(path.stem + ".store-copy")


def keep_copy(store: Path | None) -> Step:
    """Copy a module's store file beside the active journal (0600); the step keys that name both."""
    note = current()
    if store is None or note is None:
        return {}
    copy = _copy_path(note)
    write_file(copy, read_input(store, what="token store", limit=1 << 26), overwrite=True, mode=SECRET_MODE)
    return {"store": str(store), "copy": str(copy)}


def stranded(token: str | None) -> list[tuple[Path, dict[str, Any]]]:
    """Notes of killed runs, for token label `token` (any when None), whose module store file a
    copy can bring back: what is left when the token itself cannot be found any more."""
    out = []
    try:
        notes = sorted(journal_dir(create=False).glob("*.json"))
    except OSError:
        return []
    for note in notes:
        entry = unfinished(note)
        if entry is None or (token is not None and entry.get("token") not in (token, None)):
            continue
        if any(isinstance(s, dict) and s.get("copy") for s in entry.get("steps", [])):
            out.append((note, entry))
    return out


def restore_copies(entry: dict[str, Any]) -> list[str]:
    """Put back a store file a killed write left empty or missing; returns what was restored."""
    done = []
    for s in entry.get("steps", []):
        if not isinstance(s, dict) or not s.get("store") or not s.get("copy"):
            continue
        store, copy = Path(s["store"]), Path(s["copy"])
        if copy.is_file() and (not store.exists() or store.stat().st_size < copy.stat().st_size):
            data = read_input(copy, what="token store copy", limit=1 << 26)
            write_file(store, data, overwrite=True, mode=SECRET_MODE)
            done.append(str(store))
    return done


def read(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        entry = json.loads(read_input(path, what="journal", limit=1 << 22))
    except Exception:  # noqa: BLE001 - a torn note still says a run was cut
        return {"argv": ["?"], "started": "?", "steps": []}
    return entry if isinstance(entry, dict) else {"argv": ["?"], "started": "?", "steps": []}


def intend(op: str, steps: list[Step], listing: Listing | None = None, files: list[str] | None = None) -> None:
    """Before a write: add (or revise, by step "key") what the operation is about to do.

    `listing`, the token as the operation read it: how many hollow objects (is_hollow) it held
    before, so one the write leaves half-made is known as this run's. A no-op when no command
    journal is active (library use, tests calling ops directly).
    """
    path = current()
    if path is None:
        return
    entry = read(path) or {"version": 1, "argv": ["?"], "pid": os.getpid(), "started": "?", "steps": []}
    entry.setdefault("op", op)
    if listing is not None:
        entry.setdefault("hollow_before", count_hollow(listing))
    if files is not None:  # the module's object files (SoftHSM), for an object it cannot destroy
        entry.setdefault("files_before", files)
    old = [s for s in entry.get("steps", []) if isinstance(s, dict)]
    keys = {s.get("key") for s in steps if s.get("key")}
    entry["steps"] = [s for s in old if s.get("key") not in keys] + steps
    write_entry(path, entry)


def is_hollow(o: ObjectInfo) -> bool:
    """An object a killed C_CreateObject can leave: SoftHSM makes the object file first and writes
    the attributes after, so it is unreadable, or a certificate with no value, or a data object
    with no label, application or value; a killed C_GenerateKeyPair, a key with no label and no
    CKA_ID but the temporary one (seen with ca create, ec:p256: a public key with neither)."""
    return (UNREADABLE_FLAG in o.flags or (o.cls is ObjClass.CERTIFICATE and not o.value)
            or (o.cls is ObjClass.DATA and not (o.label or o.application or o.value))
            or (o.cls in _KEYS and not o.label and (not o.id or o.id.startswith(_TEMP_ID))))


_KEYS = (ObjClass.PUBLIC_KEY, ObjClass.PRIVATE_KEY)
_TEMP_ID = b"ikm-tui-pending-"  # core/p11/keygen.py (ops/leftovers.TEMP_ID_PREFIX)


def count_hollow(listing: Listing) -> int:
    return sum(1 for o in listing.objects if is_hollow(o))


def _digest(value: bytes | None) -> str | None:
    return hashlib.sha256(value).hexdigest() if value is not None else None


def spec(o: ObjectInfo) -> Step:
    """What finds the object again in another session: class, label, CKA_ID, value digest."""
    out: Step = {"cls": o.cls.value, "label": o.label, "id": o.id.hex()}
    if o.cls in (ObjClass.CERTIFICATE, ObjClass.DATA) and o.value is not None:
        out["sha256"] = _digest(o.value)
        out["value"] = o.value.hex()  # public (a certificate, a request): lets undo write it again
    if o.application is not None:
        out["app"] = o.application
    if o.cert_category is not None:
        out["category"] = o.cert_category
    return out


def set_step(o: ObjectInfo, *, label: str | None = None, key_id: bytes | None = None) -> Step:
    new: Step = {}
    if label is not None:
        new["label"] = label
    if key_id is not None:
        new["id"] = key_id.hex()
    return {"do": "set", **spec(o), "new": new}


def destroy_step(o: ObjectInfo) -> Step:
    return {"do": "destroy", **spec(o)}


def create_step(cls: ObjClass, label: str, key_id: bytes | None, value: bytes | None = None, *,
                app: str | None = None, category: int | None = None, key: str | None = None) -> Step:
    """`key_id` None: any CKA_ID (a key made under a temporary one); `value` lets finish write it."""
    out: Step = {"do": "create", "cls": cls.value, "label": label, "id": key_id.hex() if key_id is not None else None}
    if value is not None:
        out["sha256"] = _digest(value)
        out["value"] = value.hex()
    if app is not None:
        out["app"] = app
    if category is not None:
        out["category"] = category
    if key is not None:
        out["key"] = key
    return out


def unfinished(path: Path) -> dict[str, Any] | None:
    """The note a stopped run left (its process gone), else None."""
    entry = read(path)
    if entry is None:
        return None
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


def command_of(entry: dict[str, Any]) -> str:
    argv = entry.get("argv")
    words = [str(a) for a in argv] if isinstance(argv, list) else ["?"]
    return " ".join(words)


def has_steps(entry: dict[str, Any]) -> bool:
    return bool(entry.get("steps"))


def advice(entry: dict[str, Any]) -> str:
    """What the operator reads: which command was cut short and how to finish or undo it."""
    head = (f"an earlier `ikm-tui {command_of(entry)}` (started {entry.get('started', '?')}) was stopped "
            "before it finished (killed or crashed).")
    if has_steps(entry):
        return (head + " Its journal names what it was changing: `ikm-tui journal show` says how far it got; "
                "`ikm-tui journal finish` completes it, `ikm-tui journal undo` puts the token back "
                "(`ikm-tui cert doctor` lists other leftovers).")
    return (head + " To finish it, run the same command again; to see and clean up what it left (temporary "
            "key pairs, lone public keys), run `ikm-tui cert doctor` (then --fix --yes). This note goes "
            "away when cert doctor runs.")
