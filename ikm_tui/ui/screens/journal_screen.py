"""JournalScreen: a write on this token was killed half-way; finish it, undo it, or decide later."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ikm_tui.core.sanitize import safe_text
from ikm_tui.ui.text import literal


class JournalScreen(ModalScreen[str | None]):
    """Dismisses with "finish", "undo" or None (later: the journal stays, the CLI can do it)."""

    DEFAULT_CSS = """
    JournalScreen {
        align: center middle;
    }
    JournalScreen #journal-body {
        height: auto;
        max-height: 16;
    }
    JournalScreen .dialog-buttons {
        height: auto;
        margin-top: 1;
    }
    JournalScreen .dialog-buttons Button {
        margin-right: 2;
    }
    """
    BINDINGS = [Binding("escape", "later", "Later", id="journal.later", tooltip="Decide later; nothing is changed")]

    def __init__(self, message: str, *, can_act: bool) -> None:
        super().__init__()
        self.message, self.can_act = message, can_act
        self.plain_text = safe_text(message, multiline=True)

    def compose(self) -> ComposeResult:
        with Vertical(id="journal-dialog", classes="dialog"):
            yield Static(literal("Interrupted write on this token", "bold yellow"), classes="dialog-title")
            with VerticalScroll(id="journal-body"):
                yield Static(literal(self.message, multiline=True), id="journal-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Finish it", id="journal-finish", variant="primary", disabled=not self.can_act)
                yield Button("Undo it", id="journal-undo", variant="warning", disabled=not self.can_act)
                yield Button("Later", id="journal-later")

    def on_mount(self) -> None:
        self.query_one("#journal-later", Button).focus()  # changing nothing is the default

    @on(Button.Pressed, "#journal-finish")
    def _finish(self) -> None:
        self.dismiss("finish")

    @on(Button.Pressed, "#journal-undo")
    def _undo(self) -> None:
        self.dismiss("undo")

    @on(Button.Pressed, "#journal-later")
    def action_later(self) -> None:
        self.dismiss(None)
