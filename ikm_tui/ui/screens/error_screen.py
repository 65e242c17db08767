"""ErrorScreen: a modal that shows an IkmError (cause, CKR name, what to do) in full."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ikm_tui.ui.text import literal


class ErrorScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,enter", "close", "Close", id="error.close", tooltip="Close this message"),
    ]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self._title = title
        self._message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="error-dialog", classes="dialog"):
            yield Static(literal(self._title, "bold"), classes="dialog-title")
            # Error text can quote token labels: literal, never markup.
            yield Static(literal(self._message, multiline=True), id="error-message")
            yield Button("OK", id="error-ok", variant="error")

    def on_mount(self) -> None:
        self.query_one("#error-ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
