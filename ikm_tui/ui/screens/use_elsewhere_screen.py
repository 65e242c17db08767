"""UseElsewhereScreen: which tool (Java, NSS, OpenSSL, MQ) and which directory for `export-config`'s files."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, RadioButton, RadioSet, Static

from ikm_tui.core.text.use_elsewhere import TARGETS
from ikm_tui.ui.text import literal

NAMES = {"java": "Java (SunPKCS11, keytool)", "nss": "NSS (modutil, certutil)",
         "openssl": "OpenSSL (engine and provider)", "mq": "IBM MQ (mqclient.ini, MQSC)"}


@dataclass(frozen=True)
class UseChoice:
    target: str  # one of TARGETS
    directory: str


class UseElsewhereScreen(ModalScreen[UseChoice | None]):
    DEFAULT_CSS = """
    UseElsewhereScreen {
        align: center middle;
    }
    UseElsewhereScreen RadioSet {
        height: auto;
        margin-top: 1;
    }
    UseElsewhereScreen .dialog-buttons {
        height: auto;
        margin-top: 1;
    }
    UseElsewhereScreen .dialog-buttons Button {
        margin-right: 2;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="use.cancel", tooltip="Write nothing")]

    def __init__(self, title: str, default_dir: str) -> None:
        super().__init__()
        self._title = title
        self.default_dir = default_dir

    def compose(self) -> ComposeResult:
        with Vertical(id="use-dialog", classes="dialog"):
            yield Static(literal(self._title, "bold"), classes="dialog-title")
            yield Static(literal("The files and a script that proves them; no PIN is written."))
            with RadioSet(id="use-target"):
                for i, target in enumerate(TARGETS):
                    yield RadioButton(NAMES[target], id=f"use-{target}", value=i == 0)
            yield Input(self.default_dir, id="use-dir", placeholder="directory (made when missing)")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Write", id="use-ok", variant="primary")
                yield Button("Cancel", id="use-cancel")

    def on_mount(self) -> None:
        self.query_one("#use-target", RadioSet).focus()

    @on(Input.Submitted, "#use-dir")
    @on(Button.Pressed, "#use-ok")
    def _write(self) -> None:
        directory = self.query_one("#use-dir", Input).value.strip()
        if not directory:
            return
        target = next((t for t in TARGETS if self.query_one(f"#use-{t}", RadioButton).value), TARGETS[0])
        self.dismiss(UseChoice(target, directory))

    @on(Button.Pressed, "#use-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
