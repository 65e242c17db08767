"""MessageScreen: the outcome of an action (what was written, what the token read back)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ikm_tui.core.sanitize import safe_text
from ikm_tui.ui.text import literal


class MessageScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    MessageScreen {
        align: center middle;
    }
    MessageScreen #message-body {
        height: auto;
        max-height: 16;
    }
    MessageScreen Button {
        margin-top: 1;
    }
    """
    BINDINGS = [Binding("escape,enter", "close", "Close", id="message.close", tooltip="Close this message")]

    def __init__(self, title: str, message: str, *, warning: bool = False) -> None:
        super().__init__()
        self._title, self.message, self.warning = title, message, warning
        self.plain_text = safe_text(f"{title}\n{message}", multiline=True)

    def compose(self) -> ComposeResult:
        with Vertical(id="message-dialog", classes="dialog"):
            yield Static(literal(self._title, "bold yellow" if self.warning else "bold"), classes="dialog-title")
            with VerticalScroll(id="message-body"):
                yield Static(literal(self.message, multiline=True), id="message-text")
            yield Button("OK", id="message-ok", variant="warning" if self.warning else "primary")

    def on_mount(self) -> None:
        self.query_one("#message-ok", Button).focus()

    def on_button_pressed(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
