"""MechanismTable: what the token can do (names, key-size ranges, flags)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from ikm_tui.core.model import MechanismInfo
from ikm_tui.ui.text import literal_text as literal

if TYPE_CHECKING:
    from ikm_tui.ui.widgets.token_tree import TokenRef


class MechanismTable(DataTable[Text]):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        # The token whose list is still to be read (a remote one: ui/flows/mechanisms_view.py).
        self.pending: TokenRef | None = None

    def on_mount(self) -> None:
        self.add_columns("Mechanism", "Key sizes", "Flags")

    def show(self, mechanisms: Sequence[MechanismInfo]) -> None:
        self.clear()
        for m in mechanisms:
            sizes = f"{m.min_key}–{m.max_key}" if (m.min_key or m.max_key) else "-"
            # Mechanism names come from the module: still untrusted text.
            self.add_row(literal(m.name), literal(sizes), literal(" ".join(m.flags)))
