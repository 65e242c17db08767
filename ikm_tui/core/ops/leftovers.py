"""What an interrupted write can leave on a token (a SIGKILL or crash mid-operation), for `cert doctor`.

Signals are held during writes (cli/hold.py), but SIGKILL, a crash or a pulled token still cut
an operation between two writes. What that leaves is recognisable:
- keys under the temporary CKA_ID `ikm-tui-pending-…` (certreq create killed between key
  generation and giving the pair its final ID): removable, nothing else refers to them;
- public keys with no private key of the same CKA_ID (key delete killed after the private key):
  reported only, since a lone public key may also have been imported on purpose;
- data objects with neither label nor application (certreq create killed while storing the
  request): reported only, another application may own them;
- objects the module will not describe (listed as unreadable).
"""

from __future__ import annotations

from dataclasses import dataclass

from ikm_tui.core import journal
from ikm_tui.core.model import Listing, ObjClass, ObjectInfo
from ikm_tui.core.ops.common import require_login
from ikm_tui.core.ops.plans import ReadBack, describe, recheck
from ikm_tui.core.p11 import objects
from ikm_tui.core.p11.backend import Backend

TEMP_ID_PREFIX = b"ikm-tui-pending-"  # core/p11/keygen.py


@dataclass(frozen=True)
class Leftovers:
    temporary: tuple[ObjectInfo, ...]
    orphan_public_keys: tuple[ObjectInfo, ...]
    empty_data: tuple[ObjectInfo, ...]
    unreadable: tuple[ObjectInfo, ...]

    @property
    def any(self) -> bool:
        return bool(self.temporary or self.orphan_public_keys or self.empty_data or self.unreadable)

    def lines(self) -> list[str]:
        out = [f"leftover of an interrupted certreq create (temporary CKA_ID; --fix removes it): {describe(o)}"
               for o in self.temporary]
        out += [f"public key without its private key (an interrupted key delete?): {describe(o)}"
                for o in self.orphan_public_keys]
        out += [f"data object with no label and no application (an interrupted certreq create?): {describe(o)}"
                for o in self.empty_data]
        out += [f"object the module will not describe ({' '.join(o.flags[1:])}): handle {o.handle}"
                for o in self.unreadable]
        return out


def find_leftovers(listing: Listing) -> Leftovers:
    objs = listing.objects
    private_ids = {o.id for o in objs if o.cls is ObjClass.PRIVATE_KEY}
    temporary = tuple(o for o in objs if o.id.startswith(TEMP_ID_PREFIX))
    orphans = tuple(o for o in objs if o.cls is ObjClass.PUBLIC_KEY and o.id not in private_ids
                    and not o.id.startswith(TEMP_ID_PREFIX) and listing.logged_in)
    empty = tuple(o for o in objs if o.cls is ObjClass.DATA and not o.label and not o.application)
    unreadable = tuple(o for o in objs if "unreadable" in o.flags)
    return Leftovers(temporary, orphans, empty, unreadable)


def diagnose_leftovers(backend: Backend, slot_id: int) -> Leftovers:
    require_login(backend, slot_id, "The pairing doctor")
    return find_leftovers(backend.list_objects(slot_id))


def remove_temporary(backend: Backend, slot_id: int, found: Leftovers) -> tuple[ReadBack, ...]:
    """Delete the temporary-ID objects found (re-checked first); read back that they are gone."""
    listing = backend.list_objects(slot_id)
    current = recheck(listing, found.temporary)
    journal.intend("doctor", [journal.destroy_step(o) for o in current], listing)
    for o in current:
        objects.destroy(backend, slot_id, o.handle)
    after = {o.handle for o in backend.list_objects(slot_id).objects}
    return tuple(ReadBack(o, "gone", "gone" if o.handle not in after else "still there") for o in current)
