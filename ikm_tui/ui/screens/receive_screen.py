"""CertSourceScreen: where the certificate comes from — a path (typed or picked) or pasted PEM.

Used by Receive (`i`) and Add CA certificate (`a`). The file is read and parsed here (core
`certfile`, no token involved): a wrong path or a pasted CSR is reported inside the dialog so the
operator can correct it, and only a parsed `CertBundle` leaves the dialog.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DirectoryTree, Input, Static, TabbedContent, TabPane, TextArea

from ikm_tui.core.x509.certfile import CertBundle, parse_cert_data, read_cert_file
from ikm_tui.core.errors import IkmError
from ikm_tui.core.sanitize import safe_text
from ikm_tui.ui.text import literal

CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der", ".p7b", ".p7c")


class CertFileTree(DirectoryTree):
    """Directories and certificate-looking files only; hidden entries are left out."""

    def process_label(self, label: str | Text) -> Text:
        # File names are untrusted text too: ESC/OSC bytes in a name must not reach the terminal.
        return super().process_label(Text(safe_text(label.plain if isinstance(label, Text) else label)))

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        out = []
        for p in paths:
            if p.name.startswith("."):
                continue
            try:
                if p.is_dir() or p.suffix.lower() in CERT_SUFFIXES:
                    out.append(p)
            except OSError:  # a dangling link or an unreadable entry: not offered
                continue
        return out


class CertSourceScreen(ModalScreen[CertBundle | None]):
    DEFAULT_CSS = """
    CertSourceScreen {
        align: center middle;
    }
    CertSourceScreen #source-dialog {
        width: 80;
        height: 90%;
    }
    CertSourceScreen TabbedContent {
        height: 1fr;
    }
    CertSourceScreen TabPane {
        height: 1fr;
        padding: 0;
    }
    CertSourceScreen CertFileTree {
        height: 1fr;
        min-height: 3;
    }
    CertSourceScreen #source-paste {
        height: 1fr;
        min-height: 3;
    }
    CertSourceScreen #source-error {
        color: $text-error;
    }
    CertSourceScreen .dialog-buttons {
        height: auto;
    }
    CertSourceScreen .dialog-buttons Button {
        margin-right: 2;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="source.cancel", tooltip="Read nothing")]

    def __init__(self, title: str, *, start_dir: str | Path = ".", ok_label: str = "Preview") -> None:
        super().__init__()
        self._title = title
        self.start_dir = Path(start_dir)
        self.ok_label = ok_label
        self._picked_path: tuple[str, Path] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="source-dialog", classes="dialog"):
            yield Static(literal(self._title, "bold"), classes="dialog-title")
            with TabbedContent(id="source-tabs", initial="source-file-tab"):
                with TabPane("File", id="source-file-tab"):
                    yield Input(id="source-path", placeholder="certificate file: .pem .crt .cer .der .p7b")
                    yield CertFileTree(self.start_dir, id="source-tree")
                with TabPane("Paste PEM", id="source-paste-tab"):
                    yield TextArea(id="source-paste", soft_wrap=False, show_line_numbers=False)
            yield Static(id="source-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.ok_label, id="source-ok", variant="primary")
                yield Button("Cancel", id="source-cancel")

    def on_mount(self) -> None:
        self.query_one("#source-error", Static).display = False
        self.query_one("#source-path", Input).focus()

    @on(DirectoryTree.FileSelected, "#source-tree")
    def _picked(self, event: DirectoryTree.FileSelected) -> None:
        field = self.query_one("#source-path", Input)
        # Shown escaped; the picked path itself is kept to read (the escaped text names no file).
        field.value = safe_text(str(event.path))
        self._picked_path = (field.value, Path(event.path))
        field.focus()

    def _error(self, text: str) -> None:
        err = self.query_one("#source-error", Static)
        err.update(literal(text, multiline=True))
        err.display = bool(text)

    def read(self) -> CertBundle:
        """The certificates of the active tab's source; IkmError when there are none."""
        if self.query_one("#source-tabs", TabbedContent).active == "source-paste-tab":
            text = self.query_one("#source-paste", TextArea).text
            return parse_cert_data(text.encode("utf-8", "replace"), "the pasted text")
        path = self.query_one("#source-path", Input).value.strip()
        if not path:
            raise IkmError("No file given.", "Type a path, pick one in the tree, or paste the PEM.")
        if self._picked_path is not None and path == self._picked_path[0]:
            return read_cert_file(self._picked_path[1])
        return read_cert_file(Path(path).expanduser())

    @on(Input.Submitted, "#source-path")
    @on(Button.Pressed, "#source-ok")
    def _ok(self) -> None:
        try:
            bundle = self.read()
        except IkmError as err:
            self._error(str(err))
            return
        self.dismiss(bundle)

    @on(Button.Pressed, "#source-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
