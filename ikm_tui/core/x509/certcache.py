"""What each certificate says, kept between runs by its SHA-256, so a listing parses only new ones.

Why: on a token of 1,000 certificates, parsing them with cryptography (and importing it) is a
third of a cold `ikm-tui list --json` (~100 ms of ~430; issue 16), and it is the same work every
run: a certificate's bytes never change, and what we read from them depends only on those bytes
and on the parsing code. So the CertFields of each certificate parsed are kept in one file under
XDG_CACHE_HOME/ikm-tui/, found again by the SHA-256 of the DER (which the listing prints anyway).

The file's name carries a signature of everything the fields depend on (ikm-tui's version, the
size and mtime of the parsing modules and of the installed cryptography): an upgrade or an edit
of either starts a new file (the two newest others are kept, the older ones removed). Only
public certificate contents are stored, never anything of a key or a PIN. The file is the user's
own (0600 in a 0700 directory); one that is not, or that does not load, is ignored (and replaced
on the next write), so the worst a broken cache costs is the parse it would have saved.
IKM_CERT_CACHE=off turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import marshal
import os
import stat
import tempfile
import threading
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from pathlib import Path

from ikm_tui.core.model import CertFields

FORMAT = 1
# Entries kept at most (~0.5 KB each): a keystore's certificates plus room for a few others.
MAX_ENTRIES = 20_000
KEEP_OTHERS = 2  # files of other signatures kept (see _prune)
_NAMES = tuple(f.name for f in fields(CertFields))
_DATES = tuple(i for i, n in enumerate(_NAMES) if n in ("not_before", "not_after"))


class _Store:
    def __init__(self, path: Path | None, entries: dict[str, tuple[object, ...]]) -> None:
        self.path = path
        self.entries = entries
        self.ready: dict[str, CertFields] = {}  # entries already made into CertFields (prepare())
        self.used: set[str] = set()
        self.dirty = False


_lock = threading.Lock()
_store: _Store | None = None


def cert_fields(der: bytes) -> CertFields:
    """parse_certificate(der), from the cache when this certificate was parsed before."""
    sha256 = hashlib.sha256(der).hexdigest()
    store = _current()
    ready = store.ready.get(sha256)
    if ready is not None:
        store.used.add(sha256)
        return ready
    row = store.entries.get(sha256)
    found = _trusted(sha256, row) if row is not None else None
    if found is not None:
        store.used.add(sha256)
        return found
    from ikm_tui.core.x509.info import parse_certificate  # cryptography: only on a miss

    parsed = parse_certificate(der)
    if store.path is not None:
        with _lock:
            store.entries[sha256] = _pack(parsed)
            store.used.add(sha256)
            store.dirty = True
    return parsed


def preload() -> None:
    """Read the cache file now (while the owner thread loads the module, say), not at the first
    certificate; with nothing cached (a first run), import the parser now for the same reason."""
    if not _current().entries:
        import ikm_tui.core.x509.info  # noqa: F401


def prepare(stop: Callable[[], bool]) -> None:
    """Make the cached entries into CertFields until `stop()` (checked every 256): time the
    caller would spend waiting anyway (the owner thread in C_Initialize, which reads every
    object file of the token: ~0.25 s for 5,000 objects) instead of ~3 us a certificate later,
    on the listing's path."""
    store = _current()
    ready = store.ready
    for i, (sha256, row) in enumerate(list(store.entries.items())):
        if i % 256 == 0 and stop():
            return
        if sha256 not in ready:
            found = _trusted(sha256, row)
            if found is not None:
                ready[sha256] = found


def flush() -> None:
    """Write what this process parsed (nothing when every certificate was known), then forget
    the entries: the listing holds what it needs, and a later one (a TUI refresh) reads the
    file again (~4 ms per 1,000 certificates) rather than keep it all in memory meanwhile."""
    global _store
    store = _store
    if store is None:
        return
    with _lock:
        if _store is store:
            _store = None
    if not store.dirty or store.path is None:
        return
    with _lock:
        entries = store.entries
        if len(entries) > MAX_ENTRIES:  # keep what this process listed, then the rest
            keep = {k: entries[k] for k in store.used if k in entries}
            for k, v in entries.items():
                if len(keep) >= MAX_ENTRIES:
                    break
                keep.setdefault(k, v)
            entries = store.entries = keep
        data = marshal.dumps(entries)
        store.dirty = False
    with contextlib.suppress(OSError):
        _write(store.path, data)


def _current() -> _Store:
    global _store
    store = _store
    if store is not None:
        return store
    with _lock:
        if _store is None:
            path = _path()
            _store = _Store(path, _load(path) if path is not None else {})
        return _store


def _path() -> Path | None:
    if os.environ.get("IKM_CERT_CACHE", "").lower() in ("off", "0", "no"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ikm-tui" / f"certs-{_signature()}.marshal"


def _signature() -> str:
    """A digest of what parsed fields depend on: our parsing code and the installed cryptography."""
    from ikm_tui import __version__

    here = Path(__file__).parent
    files = [here / "info.py", here / "names.py", here / "certcache.py", here.parent / "model.py"]
    spec = importlib.util.find_spec("cryptography")  # finds it without importing it
    if spec is not None and spec.origin:
        pkg = Path(spec.origin).parent
        files += [pkg / "__about__.py", pkg / "hazmat" / "bindings" / "_rust.abi3.so"]
    parts = [str(FORMAT), __version__]
    for f in files:
        try:
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{f.name}:-")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _load(path: Path) -> dict[str, tuple[object, ...]]:
    """The entries of the cache file; {} when it is missing, not ours, or does not load."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return {}
    try:
        st = os.fstat(fd)
        # Only a regular file of our own that nobody else can write is read (marshal data is
        # trusted input to the interpreter).
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return {}
        with os.fdopen(fd, "rb", closefd=False) as f:
            entries = marshal.loads(f.read())  # noqa: S302 - our own 0600 file, checked above
    except Exception:  # noqa: BLE001 - a torn or foreign file: start again
        return {}
    finally:
        os.close(fd)
    return entries if isinstance(entries, dict) else {}


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".certs-", dir=path.parent)  # 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _prune(path)


def _prune(path: Path) -> None:
    """Remove the files of other signatures (other versions) but the KEEP_OTHERS newest: two
    installs used in turn (pipx and a checkout, an upgrade being tried) would otherwise remove
    each other's file on every run and never find a certificate."""
    others = []
    for other in path.parent.glob("certs-*.marshal"):
        if other != path:
            with contextlib.suppress(OSError):
                others.append((other.stat().st_mtime_ns, other))
    for _, old in sorted(others, reverse=True)[KEEP_OTHERS:]:
        with contextlib.suppress(OSError):
            old.unlink()


def _pack(f: CertFields) -> tuple[object, ...]:
    row = [getattr(f, n) for n in _NAMES]
    for i in _DATES:
        if row[i] is not None:
            row[i] = row[i].isoformat()
    return tuple(row)


def _trusted(sha256: str, row: tuple[object, ...]) -> CertFields | None:
    """The entry's CertFields, or None when it is not a well-formed entry for that SHA-256
    (then the certificate is parsed again and the entry replaced)."""
    try:
        found = _unpack(row)
    except Exception:  # noqa: BLE001 - whatever a torn or old entry holds
        return None
    return found if found is not None and found.sha256 == sha256 else None


def _unpack(row: tuple[object, ...]) -> CertFields | None:
    if not isinstance(row, tuple) or len(row) != len(_NAMES):
        return None
    values = list(row)
    for i in _DATES:
        if values[i] is not None:
            values[i] = datetime.fromisoformat(values[i])  # type: ignore[arg-type]
    return CertFields(*values)  # type: ignore[arg-type]


def reset() -> None:
    """Forget the loaded cache (tests point XDG_CACHE_HOME elsewhere between cases)."""
    global _store
    with _lock:
        _store = None
