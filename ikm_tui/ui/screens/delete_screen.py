"""DeleteObjectScreen: TypeToConfirmScreen for one selected object, with the plan in a scroll area.

The plan (exactly what goes, warnings, duplicates that stay) can be longer than an 80×24
terminal; the label field and the buttons must stay on screen, so the message scrolls instead.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Static

from ikm_tui.ui.screens.confirm_screen import TypeToConfirmScreen
from ikm_tui.ui.text import literal


class DeleteObjectScreen(TypeToConfirmScreen):
    DEFAULT_CSS = TypeToConfirmScreen.DEFAULT_CSS + """
    DeleteObjectScreen #delete-dialog {
        height: 90%;
        max-height: 30;
    }
    DeleteObjectScreen #delete-scroll {
        height: 1fr;
    }
    """

    def __init__(self, title: str, message: str, label: str) -> None:
        super().__init__(title, message, label, offer_key=False)

    def compose(self) -> ComposeResult:
        with Vertical(id="delete-dialog", classes="dialog"):
            yield Static(literal(self._title, "bold"), classes="dialog-title")
            with VerticalScroll(id="delete-scroll"):
                yield Static(literal(self._message, multiline=True), id="delete-message")
            yield Input(id="delete-input", placeholder="type the label to confirm")
            key = Checkbox("", id="delete-key")  # the base class reads it; never offered here
            key.display = False
            yield key
            with Horizontal(classes="dialog-buttons"):
                yield Button("Delete", id="delete-yes", variant="error", disabled=True)
                yield Button("Cancel", id="delete-no")
