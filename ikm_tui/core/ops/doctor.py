"""The pairing doctor: keys without certificates, certificates whose CKA_ID or label differ from
their key's, and the repairs (set the certificate's CKA_ID / CKA_LABEL to the key's).

All functions take (backend, slot_id, ...) and run on the owner thread via `service.run`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ikm_tui.core import journal
from ikm_tui.core.errors import IkmError, from_exception
from ikm_tui.core.model import ObjClass, ObjectInfo
from ikm_tui.core.ops.common import require_login
from ikm_tui.core.ops.plans import ReadBack, describe, recheck
from ikm_tui.core.p11 import objects
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.sanitize import safe_text
from ikm_tui.core.p11.objects import CATEGORY_AUTHORITY, CATEGORY_OTHER_ENTITY


@dataclass(frozen=True)
class Repair:
    """Set the cert's CKA_ID / CKA_LABEL to its key's. `blocked` explains why it cannot be applied."""

    cert: ObjectInfo
    key: ObjectInfo
    set_id: bytes | None
    set_label: str | None
    blocked: str | None = None

    def describe(self) -> str:
        parts = []
        if self.set_id is not None:
            parts.append(f"CKA_ID {self.cert.id.hex() or '-'} -> {self.set_id.hex()}")
        if self.set_label is not None:
            parts.append(f"label {self.cert.label!r} -> {self.set_label!r}")
        text = f"certificate {self.cert.label!r} (id {self.cert.id.hex() or '-'}): " + ", ".join(parts)
        if self.blocked:
            text += f"  [not applied: {self.blocked}]"
        return safe_text(text)


@dataclass(frozen=True)
class DoctorReport:
    keys_without_certs: tuple[ObjectInfo, ...]
    certs_without_keys: tuple[ObjectInfo, ...]  # end-entity certs only; CA certs are expected alone
    repairs: tuple[Repair, ...]
    duplicate_certs: tuple[tuple[ObjectInfo, ...], ...]  # several certs on one key

    @property
    def healthy(self) -> bool:
        return not (self.keys_without_certs or self.certs_without_keys or self.repairs or self.duplicate_certs)


def _is_authority(o: ObjectInfo) -> bool:
    """CA certs and other parties' certs (category 3) are expected to have no key here."""
    return bool(o.cert_category in (CATEGORY_AUTHORITY, CATEGORY_OTHER_ENTITY)
                or (o.cert is not None and o.cert.is_ca))


def diagnose(backend: Backend, slot_id: int) -> DoctorReport:
    require_login(backend, slot_id, "The pairing doctor")
    listing = backend.list_objects(slot_id)
    p = listing.pairing
    privs = [o for o in listing.objects if o.cls is ObjClass.PRIVATE_KEY]
    certs = [o for o in listing.objects if o.cls is ObjClass.CERTIFICATE]
    keys_without = tuple(k for k in privs if not p.key_to_cert.get(k.handle))
    certs_without = tuple(c for c in certs if c.handle not in p.cert_to_key and not _is_authority(c))
    repairs: list[Repair] = []
    for c in certs:
        kh = p.cert_to_key.get(c.handle)
        if kh is None:
            continue
        key = listing.by_handle(kh)
        assert key is not None
        if not key.id:
            continue  # an empty key ID is not copied to the cert: core/ops/repair_ids.py gives both one
        set_id = key.id if c.id != key.id else None
        set_label = key.label if key.label and c.label != key.label else None
        if set_id is None and set_label is None:
            continue
        blocked = None
        if set_id is not None:
            holders = [o for o in certs if o.id == key.id and o.handle != c.handle]
            if holders:
                blocked = (f"certificate {holders[0].label!r} already has the key's CKA_ID "
                           f"{key.id.hex()}; delete one of the two first")
        repairs.append(Repair(c, key, set_id, set_label, blocked))
    by_handle = {o.handle: o for o in listing.objects}
    dups = tuple(tuple(by_handle[h] for h in hs if h in by_handle)
                 for hs in p.key_to_cert.values() if len(hs) > 1)
    return DoctorReport(keys_without, certs_without, tuple(repairs), dups)


def apply_repairs(backend: Backend, slot_id: int, report: DoctorReport) -> tuple[ReadBack, ...]:
    """Apply the unblocked repairs; returns the read-back (label, then id as hex) per change."""
    listing = backend.list_objects(slot_id)
    todo = [r for r in report.repairs if r.blocked is None]
    current = recheck(listing, tuple(r.cert for r in todo))
    journal.intend("doctor", [journal.set_step(cur, label=r.set_label, key_id=r.set_id)
                              for r, cur in zip(todo, current)], listing)
    out: list[ReadBack] = []
    for r, cur in zip(todo, current):
        obj = backend.pkcs11_object(slot_id, cur.handle)
        try:
            objects.set_attributes(obj, key_id=r.set_id, label=r.set_label)
        except Exception as exc:  # noqa: BLE001
            raise IkmError(f"Repairing {describe(cur)} failed: {from_exception(exc)}.",
                           "The token may not allow changing CKA_ID; delete the cert and receive it again.",
                           operation="Repairing the pairing") from None
    # Read back in a fresh session, by the new id.
    wants = [(r.set_id if r.set_id is not None else cur.id, r.set_label if r.set_label is not None else cur.label)
             for r, cur in zip(todo, current)]
    seen = objects.fresh_id_labels(backend, slot_id,
                                   [(cur.handle, want_id) for cur, (want_id, _) in zip(current, wants)])
    for cur, (want_id, want_label) in zip(current, wants):
        got = seen[cur.handle]
        actual = f"{got[0]}|{got[1].hex()}" if got is not None else None
        out.append(ReadBack(cur, f"{want_label}|{want_id.hex()}", actual))
    return tuple(out)
