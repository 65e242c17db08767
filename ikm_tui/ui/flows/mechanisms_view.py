"""The Mechanisms tab: filled with the listing on a local module, on first showing on a remote one.

Why: through p11-kit-client each C_GetMechanismInfo is one round trip (~40-60 on SoftHSM, ~1 s
on a 20 ms link). Reading them while opening the token would hold the listing (and every call
after it: one thread owns the module) for the sake of a tab the operator may never open. The
flows that need the list (request form, CA issue, key generation) ask the backend themselves,
which keeps a remote token's list once read (core/p11/mechlist.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.widgets import TabbedContent

from ikm_tui.core.model import MechanismInfo
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.p11.quirks import quirks_for
from ikm_tui.ui.widgets.mechanism_table import MechanismTable
from ikm_tui.ui.workers import start

if TYPE_CHECKING:
    from ikm_tui.ui.flows.host import FlowHost
    from ikm_tui.ui.widgets.token_tree import TokenRef


def deferred(ref: TokenRef) -> bool:
    """Whether opening `ref` leaves its mechanism list to the tab (a remote module)."""
    return quirks_for(ref.module_path).remote


def show(main: FlowHost, ref: TokenRef, mechanisms: Sequence[MechanismInfo] | None) -> None:
    """The table for the token just opened: `mechanisms`, or (None) read when the tab is shown."""
    table = main.query_one("#mechanisms", MechanismTable)
    table.show(mechanisms or [])
    table.pending = ref if mechanisms is None else None
    tab_shown(main)


def tab_shown(main: FlowHost) -> None:
    """Read the pending list if the Mechanisms tab is the one on screen."""
    table = main.query_one("#mechanisms", MechanismTable)
    ref = table.pending
    if ref is None or main.query_one("#tabs", TabbedContent).active != "tab-mechs":
        return
    table.pending = None
    table.loading = True
    start(main, _read(main, ref), name="mechanisms", group="mechanisms")


async def _read(main: FlowHost, ref: TokenRef) -> None:
    table = main.query_one("#mechanisms", MechanismTable)
    try:
        mechanisms = await main.ikm.service_for(ref.module_path).arun(Backend.mechanisms, ref.slot_id)
    except Exception:
        if main.current == ref:
            table.pending = ref  # showing the tab again tries again; the error dialog says why
        raise
    finally:
        table.loading = False
    if main.current == ref:  # not another token's list after the operator moved on
        table.show(mechanisms)
