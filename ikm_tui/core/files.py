"""Files ikm-tui writes for the operator: one overwrite rule and explicit permissions for all of them.

The rule: a file that exists is only replaced when the caller says so (`overwrite=True`,
after the TUI asked, or because the CLI's --out is an explicit order), and the mode is set
with fchmod, so neither the umask nor the mode of a file being replaced decides who can read it.
Every open is O_NOFOLLOW (a symlink planted at the output path is refused, never written
through) and O_NONBLOCK (a FIFO planted there is refused instead of blocking forever); only
regular files are written or read. Inputs are read with a size cap, so `/dev/zero` or a
multi-gigabyte file cannot fill memory.

Modes:
- SECRET_MODE (0600) for anything secret-adjacent: PIN files, call traces (a trace tells which
  keys exist and when they were used), anything that could hold a PIN or key material.
- PUBLIC_MODE (0644) for certificates, requests (CSRs) and public keys: they are public by
  nature and are usually handed to a CA, a web server or a colleague next, so group/other read
  is what the operator wants. They are still never made writable by others.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import TextIO

from ikm_tui.core.errors import IkmError, RefusedError
from ikm_tui.core.sanitize import safe_text

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644
# The most any certificate, CA bundle or CSR file we read may hold.
MAX_INPUT_BYTES = 16 * 1024 * 1024
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class NotARegularFile(OSError):
    """The path is a FIFO, device or socket: we neither write into nor read from those."""


def _open_regular(target: Path, flags: int, mode: int = 0o600) -> int:
    """os.open with O_NOFOLLOW/O_NONBLOCK, refusing anything but a regular file (fd closed then)."""
    fd = os.open(target, flags | _NOFOLLOW | _NONBLOCK | _CLOEXEC, mode)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(target))
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(errno.EINVAL, "Not a regular file (FIFO, device or socket)", str(target))
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_file(path: str | os.PathLike[str], data: bytes | str, *, overwrite: bool = False,
               mode: int = PUBLIC_MODE) -> Path:
    """Write `data` (str is written as UTF-8) to `path` with exactly `mode`; the path written.

    Without `overwrite` the file is created exclusively (O_EXCL): an existing file, or one that
    appeared since the caller looked, raises FileExistsError and is left untouched. A new file
    whose write fails is removed, so nobody later mistakes half a certificate for a whole one.
    Other failures are the OSError the system gave (IsADirectoryError, PermissionError, ...).
    """
    target = Path(path).expanduser()
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    # No O_TRUNC: a device or FIFO at the path is refused (by fstat) before anything changes.
    flags = os.O_WRONLY | os.O_CREAT | (0 if overwrite else os.O_EXCL)
    existed = os.path.lexists(target)
    fd = _open_regular(target, flags, mode)
    try:
        if overwrite:
            os.ftruncate(fd, 0)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fd = -1  # the file object owns it now
            fh.write(payload)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        if not existed:
            target.unlink(missing_ok=True)
        raise
    return target


def open_append(path: str | os.PathLike[str], mode: int = SECRET_MODE) -> TextIO:
    """A line-buffered text file opened for appending, created (or tightened) to exactly `mode`."""
    fd = _open_regular(Path(path).expanduser(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode)
    try:
        os.fchmod(fd, mode)  # an existing file keeps no looser mode than asked for
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "a", encoding="utf-8", buffering=1)


def write_error(path: str | os.PathLike[str], exc: OSError) -> IkmError:
    """The operator's message for a failed write_file: what went wrong and what to do next."""
    where = _short(path)
    if isinstance(exc, IsADirectoryError) or _is_dir(path):
        return IkmError(f"{where} is a directory.", "Give a file name.")
    if exc.errno == errno.ELOOP:
        return IkmError(f"{where} is a symbolic link; it was not followed.",
                        "Give the real file name, or remove the link.")
    if isinstance(exc, NotARegularFile) or exc.errno == errno.ENXIO:
        return IkmError(f"{where} is not a regular file (a FIFO, device or socket); nothing was written.",
                        "Give a regular file name.")
    if exc.errno == errno.ENAMETOOLONG:
        return IkmError(f"The file name {where} is too long.", "Give a shorter file name (--out FILE).")
    if isinstance(exc, FileExistsError):
        return RefusedError(f"{where} exists; it was not replaced.",
                            "Give another file name, remove the old file, or (CLI) add --force to replace it.")
    return IkmError(f"Cannot write {where}: {exc.strerror or exc}.", "Check the path.")


def _short(path: str | os.PathLike[str], limit: int = 120) -> str:
    """The path for a message: escaped, and cut so a 10 KB name still gives a one-line error."""
    text = safe_text(os.fsdecode(path))
    return text if len(text) <= limit else text[:limit] + "..."


def _is_dir(path: str | os.PathLike[str]) -> bool:
    try:
        return Path(path).expanduser().is_dir()
    except OSError:
        return False


def read_input(path: str | os.PathLike[str], *, what: str = "file", limit: int = MAX_INPUT_BYTES,
               private: bool = False) -> bytes:
    """The bytes of a regular file the operator gave us, at most `limit` of them.

    Refuses (IkmError, one line) directories, FIFOs, devices, sockets and larger files; with
    `private`, also a file others can read (a PIN file). Symlinks are followed: the operator
    named the file to read, and reading through a link changes nothing on disk.
    """
    where = _short(path)
    try:
        fd = os.open(Path(path).expanduser(), os.O_RDONLY | _NONBLOCK | _CLOEXEC)
    except OSError as exc:
        raise IkmError(f"Cannot read the {what} {where}: {exc.strerror}.",
                       "Give an existing file readable by you.") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IkmError(f"The {what} {where} is a directory.", "Give a file name.")
        if not stat.S_ISREG(st.st_mode):
            raise IkmError(f"The {what} {where} is not a regular file (a FIFO, device or socket); "
                           "it was not read.", "Give a regular file.")
        if private and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise IkmError(f"The {what} {where} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}).",
                           f"Run `chmod 600 {where}` and try again.")
        data = _read_capped(fd, limit)
    except OSError as exc:
        raise IkmError(f"Cannot read the {what} {where}: {exc.strerror}.", "Check the file.") from None
    finally:
        os.close(fd)
    if data is None:
        raise IkmError(f"The {what} {where} is larger than {limit} bytes; it was not read.",
                       "Give the right file (not an archive, image or device).")
    return data


def _read_capped(fd: int, limit: int) -> bytes | None:
    """Up to `limit` bytes from fd; None when there are more (the file grew, or lied about its size)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.read(fd, min(1 << 20, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            return None


def check_target(path: str | os.PathLike[str]) -> None:
    """IkmError now if write_file(path, overwrite=True) is bound to fail on the path itself
    (a directory, symlink, FIFO or device there; no writable directory; a name too long).

    For commands that make something on the token first and write the file after: a bad
    --out must stop them before the token changes.
    """
    target = Path(path).expanduser()
    where = _short(path)
    if len(os.fsencode(target.name)) > 255:
        raise IkmError(f"The file name {where} is too long.", "Give a shorter file name.")
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise write_error(path, exc) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        err = (IsADirectoryError(errno.EISDIR, "Is a directory") if stat.S_ISDIR(st.st_mode) else
               OSError(errno.ELOOP, "Symbolic link") if stat.S_ISLNK(st.st_mode) else
               NotARegularFile(errno.EINVAL, "Not a regular file"))
        raise write_error(path, err)
    parent = target.absolute().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise IkmError(f"Cannot write {where}: {_short(parent)} is not a writable directory.",
                       "Give another file name.")
