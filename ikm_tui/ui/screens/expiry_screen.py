"""ExpiryScreen: "All tokens", every certificate of every module and remote, soonest first; sortable, filterable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from ikm_tui.core.ops.expiry import ExpiryReport, ExpiryRow, Problem, collect_each, sort_rows
from ikm_tui.core.p11.modules import ModuleCandidate
from ikm_tui.ui.expiry import EXPIRED_STYLE, SOON_DAYS, SOON_STYLE
from ikm_tui.ui.text import literal, literal_text

COLUMNS = ("Left", "Not after", "Key", "Module", "Token", "Label", "Subject")


def _sort_key(column: int) -> Callable[[ExpiryRow], Any]:
    """Each column's order; ties keep the soonest-first order (the sort is stable)."""
    keys: list[Callable[[ExpiryRow], Any]] = [
        lambda r: (r.days_left is None, r.days_left or 0),
        lambda r: (r.not_after is None, r.not_after.timestamp() if r.not_after else 0.0),
        lambda r: {"private": 0, "public": 1, None: 2}[r.key],
        lambda r: r.module.lower(), lambda r: r.token.lower(), lambda r: r.label.lower(),
        lambda r: r.subject.lower(),
    ]
    return keys[column]


def left_cell(row: ExpiryRow) -> tuple[str, str]:
    """(text, style): the words say it (EXPIRED, 12d SOON); colour only underlines them."""
    if row.days_left is None:
        return "-", "dim"
    if row.expired:
        return "EXPIRED", EXPIRED_STYLE
    if row.days_left < SOON_DAYS:
        return f"{row.days_left}d SOON", SOON_STYLE
    return f"{row.days_left}d", ""


def matches(row: ExpiryRow, needle: str) -> bool:
    needle = needle.casefold()
    return any(needle in field.casefold() for field in (row.module, row.token, row.label, row.subject))


class ExpiryScreen(Screen[None]):
    """Reads every module on its own owner thread (through the core's collect_each) and shows each
    module's rows as soon as that module is done: local tokens do not wait for a remote one."""

    BINDINGS = [
        Binding("escape", "close", "Back", id="expiry.close", tooltip="Back to the token browser"),
        Binding("slash", "focus_filter", "Filter", id="expiry.filter",
                tooltip="Filter by module, token, label or subject"),
        Binding("s", "sort_next", "Sort", id="expiry.sort",
                tooltip="Sort by the next column (clicking a column header sorts by it; again reverses)"),
        Binding("r", "reload", "Reload", id="expiry.reload", tooltip="Read every token again"),
    ]
    DEFAULT_CSS = """
    ExpiryScreen #expiry-status { height: auto; max-height: 3; padding: 0 1; }
    ExpiryScreen #expiry-filter { height: 3; }
    ExpiryScreen #expiry-table { height: 1fr; }
    """

    def __init__(self, cands: list[ModuleCandidate], service: Callable[[str], Any],
                 clock: Callable[[], datetime]) -> None:
        super().__init__(id="expiry")
        self.cands = cands
        self.service = service
        self.clock = clock
        self.rows: list[ExpiryRow] = []
        self.problems: list[Problem] = []
        self.tokens = 0
        self.pending = len(cands)
        self.sort_column = 0
        self.reverse = False
        self.needle = ""

    def compose(self) -> ComposeResult:
        yield Static(id="expiry-status")
        yield Input(placeholder="filter: module, token, label, subject", id="expiry-filter")
        yield DataTable(id="expiry-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#expiry-table", DataTable)
        table.add_columns(*COLUMNS)
        table.focus()
        self.action_reload()

    def action_reload(self) -> None:
        self.rows, self.problems, self.tokens, self.pending = [], [], 0, len(self.cands)
        self.redraw()
        self.read_all()

    @work(thread=True, exclusive=True, group="expiry", description="reading every token")
    def read_all(self) -> None:
        for part in collect_each(self.cands, self.service, self.clock()):
            self.app.call_from_thread(self.add_part, part)

    def add_part(self, part: ExpiryReport) -> None:
        self.rows.extend(part.rows)
        self.problems.extend(part.problems)
        self.tokens += part.tokens
        self.pending -= 1
        self.redraw()

    def shown_rows(self) -> list[ExpiryRow]:
        rows = sort_rows(r for r in self.rows if not self.needle or matches(r, self.needle))
        return sorted(rows, key=_sort_key(self.sort_column), reverse=self.reverse)

    def redraw(self) -> None:
        table = self.query_one("#expiry-table", DataTable)
        table.clear()
        rows = self.shown_rows()
        for r in rows:
            text, style = left_cell(r)
            when = r.not_after.date().isoformat() if r.not_after else "-"
            key = {"private": "yes", "public": "yes (public)", None: "no"}[r.key]
            table.add_row(literal_text(text, style), literal_text(when), literal_text(key, "" if r.key else "dim"),
                          # The module's file name: its full path pushed label and subject off
                          # an 120-column screen (the filter still matches the whole path).
                          literal_text(r.module.rsplit("/", 1)[-1]), literal_text(r.token), literal_text(r.label),
                          literal_text(r.subject))
        expired = sum(1 for r in self.rows if r.expired)
        soon = sum(1 for r in self.rows if not r.expired and r.within(SOON_DAYS))
        order = COLUMNS[self.sort_column] + (" (reversed)" if self.reverse else "")
        parts = [f"All tokens: {len(self.rows)} certificate{'' if len(self.rows) == 1 else 's'} on "
                 f"{self.tokens} token{'' if self.tokens == 1 else 's'}",
                 f"{expired} EXPIRED, {soon} <{SOON_DAYS}d", f"by {order}"]
        if self.needle:
            parts.append(f"{len(rows)} match")
        if self.pending:
            parts.append(f"reading {self.pending} module(s)…")
        status = literal(" · ".join(parts))
        if self.problems:  # their reasons are in the token tree (a failed module) and `ikm-tui expiry`
            status = Content.assemble(status, "\n", literal("not read: " + "; ".join(
                p.module + (f" token {p.token}" if p.token else "") for p in self.problems), "dim"))
        self.query_one("#expiry-status", Static).update(status)

    @on(Input.Changed, "#expiry-filter")
    def _filter(self, event: Input.Changed) -> None:
        self.needle = event.value.strip()
        self.redraw()

    @on(DataTable.HeaderSelected)
    def _header(self, event: DataTable.HeaderSelected) -> None:
        self.sort_by(event.column_index)

    def sort_by(self, column: int) -> None:
        self.reverse = not self.reverse if column == self.sort_column else False
        self.sort_column = column
        self.redraw()

    def action_sort_next(self) -> None:
        self.sort_column = (self.sort_column + 1) % len(COLUMNS)
        self.reverse = False
        self.redraw()

    def action_focus_filter(self) -> None:
        self.query_one("#expiry-filter", Input).focus()

    def action_close(self) -> None:
        self.dismiss()
