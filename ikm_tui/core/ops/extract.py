"""Pick one certificate by label (and CKA_ID / fingerprint) for reading: `cert extract`, export.

Reading used to borrow the delete planner, so a label that matched nothing or several
certificates was reported as "Deleting the certificate failed" although nothing was being deleted.
"""

from __future__ import annotations

from ikm_tui.core.errors import IkmError, NotFoundError
from ikm_tui.core.model import ObjClass, ObjectInfo
from ikm_tui.core.ops.plans import ambiguous, labels_of, select
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.sanitize import safe_text

_OP = "Extracting the certificate"


def find_certificate(backend: Backend, slot_id: int, label: str, key_id: bytes | None = None,
                     sha256: str | None = None) -> ObjectInfo:
    """The one certificate with this label (narrowed by CKA_ID / SHA-256 prefix); reads only."""
    listing = backend.list_objects(slot_id)
    found = select(listing, label, (ObjClass.CERTIFICATE,), key_id, sha256)
    if not found:
        raise NotFoundError(f"No certificate labelled {safe_text(label)!r}"
                       + (f" with id {key_id.hex()}" if key_id is not None else "") + " on this token. "
                       f"Certificates present: {safe_text(labels_of(listing, (ObjClass.CERTIFICATE,)))}.",
                       "Check the label with `ikm-tui list`.", operation=_OP)
    if len(found) > 1:
        same_id = len({o.id for o in found}) == 1
        hint = ("They share one CKA_ID: pick one with --sha256 PREFIX (its fingerprint)." if same_id
                else "Pick one with --id HEX (or --sha256 PREFIX).")
        err = ambiguous("certificate", label, found, hint)
        err.operation = _OP
        raise err
    if not found[0].value:
        raise IkmError(f"The certificate {safe_text(label)!r} has no value (CKA_VALUE is empty).",
                       "Nothing was written; the object may be a placeholder made by another tool.",
                       operation=_OP)
    return found[0]
