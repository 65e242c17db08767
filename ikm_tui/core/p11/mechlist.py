"""A token's mechanism list (C_GetMechanismList, C_GetMechanismInfo each); kept per token on remote modules."""

from __future__ import annotations

from typing import cast

import pkcs11
import pkcs11.exceptions as p11x
from pkcs11 import Mechanism, MechanismFlag

from ikm_tui.core.model import MechanismInfo
from ikm_tui.core.p11.attributes import flags_names


def read_mechanisms(slot: pkcs11.Slot) -> list[MechanismInfo]:
    """Every mechanism with its key sizes and flags, by name. One call per mechanism."""
    out: list[MechanismInfo] = []
    for mech in slot.get_mechanisms():
        try:
            info = slot.get_mechanism_info(mech)
            flags = flags_names(info.flags, MechanismFlag)
            lo, hi = int(cast(int, info.min_key_length)), int(cast(int, info.max_key_length))
        except p11x.PKCS11Error:
            flags, lo, hi = (), 0, 0
        name = mech.name if isinstance(mech, Mechanism) else f"0x{int(mech):08x}"
        out.append(MechanismInfo(f"CKM_{name}", int(mech), lo, hi, flags))
    out.sort(key=lambda m: m.name)
    return out


class MechanismCache:
    """slot id -> its token's mechanisms, kept on remote modules only.

    Why: through p11-kit-client each C_GetMechanismInfo is a round trip (~40-60 on SoftHSM,
    ~1 s on a 20 ms link), and the Mechanisms tab, the request form and the CA each ask. A
    token's mechanisms do not change while it stays in its slot; the backend clears the cache
    when it rescans or finds its sessions gone (a token taken out and put back, maybe another).
    Local modules answer in microseconds and are read afresh each time, as before.
    """

    def __init__(self, remote: bool) -> None:
        self.remote = remote
        self._by_slot: dict[int, tuple[MechanismInfo, ...]] = {}

    def read(self, slot_id: int, slot: pkcs11.Slot) -> list[MechanismInfo]:
        kept = self._by_slot.get(slot_id)
        if kept is not None:
            return list(kept)
        out = read_mechanisms(slot)
        if self.remote:
            self._by_slot[slot_id] = tuple(out)
        return out

    def clear(self) -> None:
        self._by_slot.clear()
