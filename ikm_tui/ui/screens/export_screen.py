"""ExportScreen: a path and (for certificates) PEM or DER; the caller asks before overwriting."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, RadioButton, RadioSet, Static

from ikm_tui.ui.text import literal


@dataclass(frozen=True)
class ExportChoice:
    path: str
    fmt: str  # "pem" | "der"


class ExportScreen(ModalScreen[ExportChoice | None]):
    DEFAULT_CSS = """
    ExportScreen {
        align: center middle;
    }
    ExportScreen RadioSet {
        layout: horizontal;
        height: auto;
        margin-top: 1;
    }
    ExportScreen .dialog-buttons {
        height: auto;
        margin-top: 1;
    }
    ExportScreen .dialog-buttons Button {
        margin-right: 2;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="export.cancel", tooltip="Write nothing")]

    def __init__(self, title: str, default_path: str, *, formats: bool = True) -> None:
        super().__init__()
        self._title = title
        self.default_path = default_path
        self.formats = formats

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog", classes="dialog"):
            yield Static(literal(self._title, "bold"), classes="dialog-title")
            yield Input(self.default_path, id="export-path", placeholder="file to write")
            with RadioSet(id="export-format"):
                yield RadioButton("PEM (ascii)", id="export-pem", value=True)
                yield RadioButton("DER (binary)", id="export-der")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="export-ok", variant="primary")
                yield Button("Cancel", id="export-cancel")

    def on_mount(self) -> None:
        self.query_one("#export-format", RadioSet).display = self.formats
        self.query_one("#export-path", Input).focus()

    @on(RadioSet.Changed, "#export-format")
    def _format_changed(self, event: RadioSet.Changed) -> None:
        # Follow the format in the suggested file name, unless the operator typed their own.
        field = self.query_one("#export-path", Input)
        der = event.pressed.id == "export-der"
        for old, new in ((".pem", ".der"),) if der else ((".der", ".pem"),):
            if field.value.endswith(old):
                field.value = field.value[: -len(old)] + new

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export-ok")
    def _save(self) -> None:
        path = self.query_one("#export-path", Input).value.strip()
        if not path:
            return
        der = self.formats and self.query_one("#export-der", RadioButton).value
        self.dismiss(ExportChoice(path, "der" if der else "pem"))

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
