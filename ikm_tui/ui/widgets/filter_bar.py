"""FilterBar: the `/` filter over the Keys or Certificates table; esc clears it, Enter keeps it."""

from __future__ import annotations

from textual import on
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Input

from ikm_tui.ui.widgets.object_table import ObjectTable


class FilterBar(Input):
    """Mounted above its table; every keystroke narrows the rows (label, subject, issuer, id)."""

    BINDINGS = [
        Binding("escape", "clear_filter", "Clear filter", id="filter.clear",
                tooltip="Show every row again and close the filter"),
    ]

    def __init__(self, table: ObjectTable) -> None:
        super().__init__(value=table.filter_text, placeholder="filter: label, subject, issuer or id (esc clears)",
                         id=f"filter-{table.id}", compact=True)
        self.table = table

    @on(Input.Changed)
    def _narrow(self, event: Input.Changed) -> None:
        event.stop()
        self.table.set_filter(event.value)

    @on(Input.Submitted)
    def _keep(self, event: Input.Submitted) -> None:
        """Enter: back to the rows, the filter stays (and shows what it is)."""
        event.stop()
        self.table.focus()
        if not event.value:
            self.remove()

    def action_clear_filter(self) -> None:
        self.table.set_filter("")
        self.table.focus()
        self.remove()


def open_filter(table: ObjectTable) -> None:
    """`/`: focus the table's filter, mounting it above the table the first time."""
    parent = table.parent
    assert isinstance(parent, Widget)
    existing = parent.query(FilterBar)
    if existing:
        existing.first().focus()
        return
    bar = FilterBar(table)
    parent.mount(bar, before=table)
    bar.focus()
