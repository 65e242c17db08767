"""Rename a key pair, its certificate and its pending request to one new label, as plan + apply.

All functions take (backend, slot_id, ...) and run on the owner thread via `service.run`.
"""

from __future__ import annotations

from ikm_tui.core import journal
from ikm_tui.core.conventions import REQUEST_APPLICATION
from ikm_tui.core.errors import IkmError, from_exception, NotFoundError, RefusedError
from ikm_tui.core.model import ObjClass, ObjectInfo
from ikm_tui.core.ops import request_files
from ikm_tui.core.ops.plans import Plan, ReadBack, ambiguous, describe, labels_of, recheck, select
from ikm_tui.core.p11 import objects
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.labels import label_problem
from ikm_tui.core.sanitize import safe_text

_PAIR = (ObjClass.CERTIFICATE, ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY)


def plan_rename(backend: Backend, slot_id: int, old: str, new: str, key_id: bytes | None = None) -> Plan:
    """Cert, private key and public key with label `old` and one CKA_ID, plus its pending request."""
    # Control, bidi and invisible characters (C1, U+202E, U+2028...) too, not only C0.
    if problem := label_problem(new, what="new label"):
        raise ValueError(problem.rstrip("."))
    listing = backend.list_objects(slot_id)
    seeds = select(listing, old, _PAIR, key_id)
    if not seeds:
        raise NotFoundError(f"No certificate or key labelled {safe_text(old)!r} on this token. "
                       f"Labels present: {safe_text(labels_of(listing, _PAIR))}.",
                       "Check the label with `ikm-tui list --login`.", operation="Renaming")
    ids = {o.id for o in seeds}
    if len(ids) > 1:
        raise ambiguous("object", old, seeds, "They belong to different keys (CKA_IDs): pick one with --id HEX.")
    the_id = ids.pop()
    group = [o for o in listing.objects if o.cls in _PAIR and o.id == the_id and o.label == old]
    # Public/private halves with that id but another label also follow: the pair gets one name.
    group += [o for o in listing.objects if o.cls in (ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY)
              and o.id == the_id and o.label != old and o not in group]
    group += [o for o in listing.objects if o.cls is ObjClass.DATA and o.application == REQUEST_APPLICATION
              and o.label == old]
    warnings = []
    if not backend.is_logged_in(slot_id):
        warnings.append("not logged in: the private key is not visible and will not be renamed")
    clash = [o for o in listing.objects if o.label == new and o.cls in _PAIR and o.id != the_id]
    if clash:
        names = "; ".join(describe(o) for o in clash)
        raise RefusedError(f"The label {safe_text(new)!r} is already used by another key or certificate ({names}); "
                       "nothing was renamed.",
                       "Choose another label: OpenSSL and Java select objects by label, so it must be unique.",
                       operation="Renaming")
    if not any(o.cls is ObjClass.CERTIFICATE for o in group):
        warnings.append("there is no certificate for this key: Java keytool will not list it")
    return Plan("rename", tuple(group), new_label=new, warnings=tuple(warnings))


def _fresh_labels(backend: Backend, slot_id: int, objs: list[ObjectInfo]) -> dict[int, str | None]:
    """Labels as a brand-new session reads them, so a token that cached or ignored a write shows it.

    Opens (and closes) an extra public session (Backend.open_read_session).
    """
    return objects.fresh_labels(backend, slot_id, [o.handle for o in objs])


def apply_rename(backend: Backend, slot_id: int, plan: Plan) -> tuple[ReadBack, ...]:
    """Set CKA_LABEL on every object of the plan, then read each back in a fresh session."""
    assert plan.new_label is not None
    listing = backend.list_objects(slot_id)
    current = recheck(listing, plan.objects)
    journal.intend("rename", [journal.set_step(o, label=plan.new_label) for o in current], listing)
    errors = []
    for o in current:
        try:
            objects.set_attributes(backend.pkcs11_object(slot_id, o.handle), label=plan.new_label)
        except Exception as exc:  # noqa: BLE001 - report per object, keep going: half-renamed is worse
            errors.append(f"{describe(o)}: {from_exception(exc)}")
    labels = _fresh_labels(backend, slot_id, current)
    result = tuple(ReadBack(o, plan.new_label, labels.get(o.handle)) for o in current)
    # A pending request kept in a file (the token holds no data objects) follows its key.
    old_labels = [o.label for o in current if o.cls in _PAIR and o.label != plan.new_label]
    if not errors and old_labels:
        request_files.rename(listing.token, max(set(old_labels), key=old_labels.count), plan.new_label)
    if errors:
        raise IkmError("The token refused to rename: " + "; ".join(errors) + ". Read back: "
                       + "; ".join(f"{describe(r.obj)} now {r.actual!r}" for r in result),
                       "Rename the remaining objects by hand (pkcs11-tool --set-id/--label) or retry.",
                       operation="Renaming")
    return result
