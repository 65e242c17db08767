"""Files ikm-tui writes for the operator: one overwrite rule and explicit permissions for all of them.

The rule: a file that exists is only replaced when the caller says so (`overwrite=True`,
after the TUI asked, or because the CLI's --out is an explicit order), and the mode is set
with fchmod, so neither the umask nor the mode of a file being replaced decides who can read it.

Modes:
- SECRET_MODE (0600) for anything secret-adjacent: PIN files, call traces (a trace tells which
  keys exist and when they were used), anything that could hold a PIN or key material.
- PUBLIC_MODE (0644) for certificates, requests (CSRs) and public keys: they are public by
  nature and are usually handed to a CA, a web server or a colleague next, so group/other read
  is what the operator wants. They are still never made writable by others.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

from ikm_tui.core.errors import IkmError, RefusedError
from ikm_tui.core.sanitize import safe_text

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644


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
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    existed = target.exists()
    fd = os.open(target, flags, mode)
    try:
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
    fd = os.open(Path(path).expanduser(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode)
    try:
        os.fchmod(fd, mode)  # an existing file keeps no looser mode than asked for
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "a", encoding="utf-8", buffering=1)


def write_error(path: str | os.PathLike[str], exc: OSError) -> IkmError:
    """The operator's message for a failed write_file: what went wrong and what to do next."""
    where = safe_text(str(path))
    if isinstance(exc, IsADirectoryError) or Path(path).expanduser().is_dir():
        return IkmError(f"{where} is a directory.", "Give a file name.")
    if isinstance(exc, FileExistsError):
        return RefusedError(f"{where} exists; it was not replaced.",
                            "Give another file name, remove the old file, or (CLI) add --force to replace it.")
    return IkmError(f"Cannot write {where}: {exc.strerror or exc}.", "Check the path.")
