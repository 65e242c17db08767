"""ConfirmScreen (yes/no) and TypeToConfirmScreen (type the label to delete): dialogs for
destructive or overwriting actions, awaited with push_screen_wait from a worker."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Static

from ikm_tui.core.sanitize import safe_text
from ikm_tui.ui.text import literal


_CSS = """
ConfirmScreen, TypeToConfirmScreen {
    align: center middle;
}
ConfirmScreen .dialog-buttons, TypeToConfirmScreen .dialog-buttons {
    height: auto;
    margin-top: 1;
}
ConfirmScreen .dialog-buttons Button, TypeToConfirmScreen .dialog-buttons Button {
    margin-right: 2;
}
"""


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = _CSS
    BINDINGS = [Binding("escape", "no", "Cancel", id="confirm.cancel", tooltip="Do nothing")]

    def __init__(self, title: str, message: str, yes: str = "Yes", no: str = "Cancel") -> None:
        super().__init__()
        self._title, self._message, self._yes, self._no = title, message, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Static(literal(self._title, "bold"), classes="dialog-title")
            yield Static(literal(self._message, multiline=True), id="confirm-message")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._yes, id="confirm-yes", variant="primary")
                yield Button(self._no, id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()  # the safe answer is the default

    @on(Button.Pressed, "#confirm-yes")
    def _yes_pressed(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def action_no(self) -> None:
        self.dismiss(False)


class TypeToConfirmScreen(ModalScreen[tuple[bool, bool]]):
    """Dismisses with (confirmed, also_delete_key). Delete stays disabled until the label is typed."""

    DEFAULT_CSS = _CSS

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="delete.cancel", tooltip="Delete nothing")]

    def __init__(self, title: str, message: str, label: str, *, offer_key: bool = True) -> None:
        super().__init__()
        self._title, self._message, self.label, self.offer_key = title, message, label, offer_key

    def compose(self) -> ComposeResult:
        with Vertical(id="delete-dialog", classes="dialog"):
            yield Static(literal(self._title, "bold"), classes="dialog-title")
            yield Static(literal(self._message, multiline=True), id="delete-message")
            yield Input(id="delete-input", placeholder="type the label to confirm")
            cb = Checkbox("Also delete the key pair (only if no certificate uses it)", id="delete-key")
            cb.display = self.offer_key
            yield cb
            with Horizontal(classes="dialog-buttons"):
                yield Button("Delete", id="delete-yes", variant="error", disabled=True)
                yield Button("Cancel", id="delete-no")

    def on_mount(self) -> None:
        self.query_one("#delete-input", Input).focus()

    def _matches(self, typed: str) -> bool:
        # The label as shown (control characters escaped) is what the operator can type.
        return typed in (self.label, safe_text(self.label))

    @on(Input.Changed, "#delete-input")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#delete-yes", Button).disabled = not self._matches(event.value)

    @on(Input.Submitted, "#delete-input")
    @on(Button.Pressed, "#delete-yes")
    def _confirm(self) -> None:
        if self._matches(self.query_one("#delete-input", Input).value):
            self.dismiss((True, self.query_one("#delete-key", Checkbox).value))

    @on(Button.Pressed, "#delete-no")
    def action_cancel(self) -> None:
        self.dismiss((False, False))
