"""DetailsPane: every field of the selected token or object, its pairing, and its PKCS#11 URI."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from ikm_tui.core.model import SlotInfo
from ikm_tui.core.p11.modules import canonical
from ikm_tui.core.sanitize import safe_text
from ikm_tui.ui import describe
from ikm_tui.ui.describe import Row
from ikm_tui.ui.widgets.lint_view import LintView
from ikm_tui.ui.text import literal
from ikm_tui.ui.widgets.token_tree import ModuleEntry


class DetailsPane(VerticalScroll):
    """Read-only; `uri` is what the copy binding (c) puts on the clipboard."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.uri: str | None = None
        self.plain_text = ""  # what is on screen, as plain text, for tests and screen readers

    def compose(self) -> ComposeResult:
        # Lint findings first: an error there matters more than any field below.
        yield LintView(id="details-lint")
        yield Static(Content("Select a token, key or certificate."), id="details-body")

    def show(self, title: str, rows: Sequence[Row], notes: Sequence[str] = (),
             uri: str | None = None, warn: Sequence[str] = ()) -> None:
        self.uri = uri
        self.query_one(LintView).clear()
        width = max((len(name) for name, _ in rows), default=0)
        parts: list[Content] = [literal(title, "bold"), Content("\n")]
        plain = [title]
        for note in notes:
            loud = note in warn or note.startswith(("ID MISMATCH", "orphan", "TOOLS DIFFER"))
            style = "bold yellow" if loud else "green"
            parts += [literal(f"» {note}", style), Content("\n")]
            plain.append(f"» {note}")
        parts.append(Content("\n"))
        for name, value in rows:
            parts += [literal(f"{name:<{width}} ", "dim"), literal(value), Content("\n")]
            plain.append(f"{name:<{width}} {value}")
        if uri:
            parts += [Content("\n"), literal("URI (c copies)", "dim"), Content("\n"), literal(uri), Content("\n")]
            plain.append(f"URI {uri}")
        self.plain_text = safe_text("\n".join(plain), multiline=True)
        self.query_one("#details-body", Static).update(Content.assemble(*parts))
        self.scroll_home(animate=False)

    def show_message(self, text: str) -> None:
        self.uri = None
        self.query_one(LintView).clear()
        self.plain_text = safe_text(text, multiline=True)
        self.query_one("#details-body", Static).update(literal(text, multiline=True))

    def show_slot(self, slot: SlotInfo, entries: Sequence[ModuleEntry]) -> None:
        """A slot or token, with its module's description (from `entries`, the modules in the tree)."""
        entry = next((e for e in entries if canonical(e.path) == canonical(slot.module_path)), None)
        desc = ""
        if entry is not None and entry.info is not None:
            i = entry.info
            desc = f"{i.description} {i.library_version} ({i.manufacturer}), Cryptoki {i.cryptoki_version}"
        uri = describe.token_uri_of(slot.token) if slot.token is not None and slot.token.initialized else None
        title = f"token {slot.token.label}" if slot.token is not None else f"slot {slot.slot_id}"
        self.show(title, describe.token_rows(slot, desc), (), uri)

    def show_module(self, entry: ModuleEntry) -> None:
        """A module node: where it was found, what it says it is, or why it did not load."""
        rows = [("module", entry.path), ("found by", entry.source)]
        if entry.info is not None:
            rows += [("description", entry.info.description), ("manufacturer", entry.info.manufacturer),
                     ("version", entry.info.library_version), ("Cryptoki", entry.info.cryptoki_version),
                     ("slots", str(len(entry.slots)))]
        notes = entry.error.splitlines() if entry.error else []  # a note is one line
        self.show(f"module {entry.path}", rows, notes, None, warn=notes)
