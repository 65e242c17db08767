"""LabelScreen: ask for a label (a CA certificate's, or a pair's new name); checked as typed."""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from ikm_tui.core.labels import label_problem as core_label_problem
from ikm_tui.core.sanitize import safe_text
from ikm_tui.ui.text import literal


def label_problem(value: str, taken: frozenset[str] = frozenset()) -> str:
    """Why `value` cannot be a label ('' when it can): core/labels.py, the rule the CLI applies too."""
    return core_label_problem(value, taken)


class LabelScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    LabelScreen {
        align: center middle;
    }
    LabelScreen #label-error {
        color: $text-error;
    }
    LabelScreen .dialog-buttons {
        height: auto;
        margin-top: 1;
    }
    LabelScreen .dialog-buttons Button {
        margin-right: 2;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="label.cancel", tooltip="Change nothing")]

    def __init__(self, title: str, message: str, value: str = "", *, ok: str = "OK",
                 check: Callable[[str], str] = label_problem) -> None:
        super().__init__()
        self._title, self._message, self._value, self._ok, self._check = title, message, value, ok, check

    def compose(self) -> ComposeResult:
        with Vertical(id="label-dialog", classes="dialog"):
            yield Static(literal(self._title, "bold"), classes="dialog-title")
            yield Static(literal(self._message, multiline=True), id="label-message")
            # Pre-filled from the token or a file: escaped like everywhere else, so a label with
            # ESC/OSC bytes cannot drive the terminal from inside the Input.
            yield Input(safe_text(self._value), id="label-input", placeholder="label")
            yield Static(id="label-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._ok, id="label-ok", variant="primary")
                yield Button("Cancel", id="label-cancel")

    def on_mount(self) -> None:
        self._show(self._check(safe_text(self._value)) if self._value else "")
        self.query_one("#label-input", Input).focus()

    def _show(self, problem: str) -> None:
        err = self.query_one("#label-error", Static)
        err.update(literal(problem))
        err.display = bool(problem)

    @on(Input.Changed, "#label-input")
    def _changed(self, event: Input.Changed) -> None:
        self._show(self._check(event.value))

    @on(Input.Submitted, "#label-input")
    @on(Button.Pressed, "#label-ok")
    def _ok_pressed(self) -> None:
        value = self.query_one("#label-input", Input).value
        problem = self._check(value)
        self._show(problem)
        if not problem:
            self.dismiss(value)

    @on(Button.Pressed, "#label-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
