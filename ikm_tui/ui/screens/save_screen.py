"""SavePathScreen: ask where to write a PEM file; the caller confirms before overwriting."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from ikm_tui.ui.text import literal


class SavePathScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    SavePathScreen {
        align: center middle;
    }
    SavePathScreen .dialog-buttons {
        height: auto;
        margin-top: 1;
    }
    SavePathScreen .dialog-buttons Button {
        margin-right: 2;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="save.cancel", tooltip="Save nothing")]

    def __init__(self, title: str, default_path: str) -> None:
        super().__init__()
        self._title = title
        self.default_path = default_path

    def compose(self) -> ComposeResult:
        with Vertical(id="save-dialog", classes="dialog"):
            yield Static(literal(self._title, "bold"), classes="dialog-title")
            yield Input(self.default_path, id="save-path", placeholder="file to write (PEM)")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="save-ok", variant="primary")
                yield Button("Cancel", id="save-cancel")

    def on_mount(self) -> None:
        self.query_one("#save-path", Input).focus()

    @on(Input.Submitted, "#save-path")
    @on(Button.Pressed, "#save-ok")
    def _save(self) -> None:
        path = self.query_one("#save-path", Input).value.strip()
        if path:
            self.dismiss(path)

    @on(Button.Pressed, "#save-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
