"""The issue log of a CA: one append-only JSON-lines file per CA under the XDG data dir, mode 0600.

The file is named by the SHA-256 of the CA certificate, so two CAs with one label (on two tokens)
never share a log, and a renamed CA keeps its own. Lines are only ever appended: a record, once
written, is the operator's evidence of what this CA issued.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ikm_tui.core.errors import IkmError
from ikm_tui.core.files import SECRET_MODE, open_append


@dataclass(frozen=True)
class IssueRecord:
    """One certificate a CA issued."""

    serial: str  # hex, as `openssl x509 -serial` prints it
    subject: str
    sans: list[str]
    not_after: str  # ISO 8601 UTC
    sha256: str
    issued_at: str  # ISO 8601 UTC
    profile: str


def log_dir() -> Path:
    """XDG_DATA_HOME/ikm-tui/ca (~/.local/share/ikm-tui/ca by default)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "ikm-tui" / "ca"


def log_path(ca_sha256: str) -> Path:
    return log_dir() / f"{ca_sha256}.jsonl"


def _append_line(path: Path, data: dict[str, object], what: str, undone: str) -> Path:
    """One JSON line appended and fsynced; the file is created 0600 in a 0700 directory."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open_append(path, SECRET_MODE) as fh:
            fh.write(json.dumps(data, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise IkmError(f"Could not append to the {what} {path}: {exc.strerror or exc}.",
                       f"Fix the permissions of that directory; {undone}.") from None
    return path


def append(ca_sha256: str, record: IssueRecord) -> Path:
    """Append one record to the CA's issue log."""
    return _append_line(log_path(ca_sha256), asdict(record), "issue log", "the certificate was not written")


def read(ca_sha256: str) -> list[IssueRecord]:
    """Every record of the CA's log, oldest first; an empty list when it has issued nothing."""
    path = log_path(ca_sha256)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise IkmError(f"Could not read the issue log {path}: {exc.strerror or exc}.",
                       "Check its permissions.") from None
    out: list[IssueRecord] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(IssueRecord(**json.loads(line)))
        except (ValueError, TypeError) as exc:
            raise IkmError(f"Line {n} of the issue log {path} is damaged ({exc}).",
                           "Restore the file from a backup; nothing was changed.") from None
    return out


def serials(ca_sha256: str) -> set[str]:
    return {r.serial for r in read(ca_sha256)}


# ---- revocations: a second append-only file beside the issue log ---------------------------------

@dataclass(frozen=True)
class Revocation:
    """One certificate the CA revoked."""

    serial: str  # hex, as in IssueRecord
    revoked_at: str  # ISO 8601 UTC
    reason: str


def revocations_path(ca_sha256: str) -> Path:
    return log_dir() / f"{ca_sha256}.revoked.jsonl"


def append_revocation(ca_sha256: str, revocation: Revocation) -> Path:
    """Append one revocation to the CA's revocation file."""
    return _append_line(revocations_path(ca_sha256), asdict(revocation), "revocation list", "nothing was revoked")


def revocations(ca_sha256: str) -> list[Revocation]:
    """Every revocation of the CA, oldest first."""
    path = revocations_path(ca_sha256)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise IkmError(f"Could not read {path}: {exc.strerror or exc}.", "Check its permissions.") from None
    try:
        return [Revocation(**json.loads(line)) for line in lines if line.strip()]
    except (ValueError, TypeError) as exc:
        raise IkmError(f"The revocation list {path} is damaged ({exc}).",
                       "Restore the file from a backup; nothing was changed.") from None
