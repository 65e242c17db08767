"""Pick one certificate by label (and CKA_ID / fingerprint) for reading: `cert extract`, export.

Reading used to borrow the delete planner, so a label that matched nothing or several
certificates was reported as "Deleting the certificate failed" although nothing was being deleted.
"""

from __future__ import annotations

from ikm_tui.core.errors import IkmError
from ikm_tui.core.model import ObjectInfo
from ikm_tui.core.ops.plans import one_certificate
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.sanitize import safe_text

_OP = "Extracting the certificate"


def find_certificate(backend: Backend, slot_id: int, label: str, key_id: bytes | None = None,
                     sha256: str | None = None) -> ObjectInfo:
    """The one certificate with this label (narrowed by CKA_ID / SHA-256 prefix); reads only."""
    cert = one_certificate(backend.list_objects(slot_id), label, key_id, sha256, _OP)
    if not cert.value:
        raise IkmError(f"The certificate {safe_text(label)!r} has no value (CKA_VALUE is empty).",
                       "Nothing was written; the object may be a placeholder made by another tool.",
                       operation=_OP)
    return cert
