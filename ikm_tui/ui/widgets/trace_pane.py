"""TracePane: every PKCS#11 call of this session (PINs as ***), live, with leaking-module warnings.

The service's tracers run on the module's owner thread. Touching widgets from there is not
allowed, so the listener only queues the entry and posts *one* message while a batch is
pending (`TraceFeed`); the pane drains the queue on the event loop. A module making thousands
of calls a second therefore costs one message per frame, not one per call.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from ikm_tui.core.p11.service import TraceEntry
from ikm_tui.core.p11.trace import TraceFeed
from ikm_tui.ui.text import literal, literal_text

# Rows kept on screen; the TraceBuffer keeps more, and `--trace FILE` keeps everything.
MAX_ROWS = 1000
# While the pane is hidden, new calls are taken in at most this often (seconds).
HIDDEN_DRAIN_DELAY = 0.25


class TracePane(Vertical):
    """Warnings (pkcs11-spy, p11-kit call log, OpenSC debug) above a table of calls."""

    class NewEntries(Message):
        """Entries are waiting in the feed. Replaceable: one pending message is enough."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, TracePane.NewEntries)

    def __init__(self, feed: TraceFeed, *, timings: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.feed = feed
        self.timings = timings  # off in snapshots: durations differ from run to run
        self.warnings: list[str] = []
        self.lines: list[str] = []  # what the table shows, as plain text (tests, copy)
        # Calls traced while the pane is hidden, made rows when it shows. Why: the first listing of a
        # 1,000-certificate token is 1,000+ calls, and adding them to a table nobody sees cost
        # ~0.15 s of the event loop before the object table was drawn (issue 16).
        self._pending: list[tuple[int, TraceEntry]] = []  # (number, call)
        self._shown = False
        self._drain_due = False  # a hidden drain is scheduled

    def compose(self) -> ComposeResult:
        yield Static(id="trace-warnings")
        # C_* names and CKR codes make the columns wide: what the last column holds is said here,
        # where a narrow pane cannot cut it off.
        yield Static(literal("C_* calls; arguments (PIN as ***)", "dim"), id="trace-caption")
        yield DataTable[Text](id="trace-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#trace-table", DataTable)
        table.add_column("#", key="seq")
        table.add_column("call", key="call")
        # Arguments last: they are the longest, and result and time must stay on screen.
        table.add_column("result", key="result")
        table.add_column("ms", key="ms")
        table.add_column("arguments (PIN as ***)", key="args")
        self.query_one("#trace-warnings", Static).display = False
        # Whatever was traced before the pane existed (discovery, first listing), then live.
        self.feed.drain()
        self.feed.wake = self._wake
        self._add(list(self.feed.buffer.entries), renumber_from=1)

    def _wake(self) -> None:
        # Called on the owner thread: post_message is the one thread-safe way in.
        self.post_message(TracePane.NewEntries())

    def on_show(self) -> None:
        self._shown = True
        rows, self._pending = self._pending, []
        if rows:
            self._show_rows(rows)
        self._add(self.feed.drain())

    def on_hide(self) -> None:
        self._shown = False

    def on_unmount(self) -> None:
        if self.feed.wake == self._wake:
            self.feed.wake = None

    def on_trace_pane_new_entries(self, event: NewEntries) -> None:
        event.stop()
        if self._shown:
            self._add(self.feed.drain())
        elif not self._drain_due:
            # Hidden: take the calls in a while later, in one batch. Until the feed is drained
            # it posts no more wake-ups, so a 5,000-certificate listing costs the event loop a
            # few messages instead of ~1,400 (one per batch of ~4 calls), which took the GIL
            # from the listing on the owner thread (issue 16).
            self._drain_due = True
            self.set_timer(HIDDEN_DRAIN_DELAY, self._drain_hidden)

    def _drain_hidden(self) -> None:
        self._drain_due = False
        self._add(self.feed.drain())

    def show_warnings(self, warnings: Sequence[str]) -> None:
        self.warnings = list(warnings)
        box = self.query_one("#trace-warnings", Static)
        box.update(literal("\n".join(f"WARNING: {w}" for w in warnings), "bold white on red", multiline=True))
        box.display = bool(warnings)

    @property
    def plain_text(self) -> str:
        return "\n".join([*(f"WARNING: {w}" for w in self.warnings), *self.lines])

    def _add(self, entries: list[TraceEntry], renumber_from: int | None = None) -> None:
        if renumber_from is not None:
            self.feed.count = renumber_from - 1
        if not entries:
            return
        numbered = []
        for e in entries:
            self.feed.count += 1
            numbered.append((self.feed.count, e))
            ms = f"{e.duration_ms:.1f}" if self.timings else "-"
            self.lines.append(f"#{self.feed.count} {e.function}({e.args}) -> {e.result} [{ms} ms]")
        if not self._shown:
            self._pending.extend(numbered)
            del self._pending[:-MAX_ROWS]
            if len(self.lines) > MAX_ROWS:
                self.lines = self.lines[-MAX_ROWS:]
            return
        self._show_rows(numbered)

    def _row(self, seq: int, e: TraceEntry) -> tuple[Text, ...]:
        ms = f"{e.duration_ms:.1f}" if self.timings else "-"
        style = "green" if e.result in ("OK", "CKR_OK") else "dim" if e.result == "-" else "bold red"
        return (literal_text(str(seq), "dim"), literal_text(e.function), literal_text(e.result, style),
                literal_text(ms, "dim"), literal_text(e.args))

    def _show_rows(self, numbered: list[tuple[int, TraceEntry]]) -> None:
        rows = [self._row(seq, e) for seq, e in numbered]
        table = self.query_one("#trace-table", DataTable)
        follow = table.row_count == 0 or table.cursor_row >= table.row_count - 1 or not table.has_focus
        if table.row_count + len(rows) > MAX_ROWS:
            # Rebuilding is rare (every MAX_ROWS calls) and cheaper than removing rows one by one.
            keep = rows[-MAX_ROWS:] if len(rows) >= MAX_ROWS else None
            if keep is None:
                old = [table.get_row_at(i) for i in range(table.row_count)]
                keep = [tuple(r) for r in old[-(MAX_ROWS - len(rows)):]] + rows
            table.clear()
            rows = keep
            self.lines = self.lines[-MAX_ROWS:]
        table.add_rows(rows)
        if follow:
            table.move_cursor(row=table.row_count - 1, animate=False)
