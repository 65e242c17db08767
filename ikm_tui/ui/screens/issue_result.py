"""IssueResultScreen: the certificate the CA issued, where it was written, and — when the request's
key is on the open token — "Receive it here". Dismisses True to receive it, False to close."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ikm_tui.core.ops.ca import Issued
from ikm_tui.core.sanitize import safe_text
from ikm_tui.ui.text import literal


class IssueResultScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    IssueResultScreen {
        align: center middle;
    }
    IssueResultScreen #issue-result-dialog {
        height: auto;
        max-height: 95%;
    }
    IssueResultScreen #issue-result-body {
        /* shrinks (and scrolls) at 80x24, so the buttons below always show */
        height: auto;
        max-height: 1fr;
    }
    IssueResultScreen .dialog-buttons {
        height: auto;
        margin-top: 1;
    }
    IssueResultScreen .dialog-buttons Button {
        margin-right: 2;
    }
    """
    BINDINGS = [Binding("escape", "close", "Close", id="issue.result.close", tooltip="Close this message")]

    def __init__(self, issued: Issued, path: str | None, key_here: bool) -> None:
        super().__init__()
        self.issued, self.path, self.key_here = issued, path, key_here
        r = issued.record
        lines = [f"serial     {r.serial}", f"subject    {r.subject}", f"SANs       {', '.join(r.sans) or '-'}",
                 f"profile    {issued.profile}", f"not after  {r.not_after}",
                 f"written to {path}" if path else "NOT WRITTEN (see the message); the log has its serial",
                 f"logged in  {issued.log_path}"]
        lines += [f"warning: {w}" for w in issued.warnings]
        if key_here:
            lines.append("")
            lines.append("The request's key is on this token: receive the certificate next to it now?")
        self.plain_text = safe_text("\n".join(lines), multiline=True)

    def compose(self) -> ComposeResult:
        with Vertical(id="issue-result-dialog", classes="dialog"):
            yield Static(literal(f"Certificate issued by {self.issued.ca_label!r}", "bold"), classes="dialog-title")
            with VerticalScroll(id="issue-result-body"):
                yield Static(literal(self.plain_text, multiline=True), id="issue-result-text")
            with Horizontal(classes="dialog-buttons"):
                receive = Button("Receive it here", id="issue-receive", variant="primary")
                receive.display = self.key_here
                yield receive
                yield Button("Close", id="issue-close")

    def on_mount(self) -> None:
        self.query_one("#issue-receive" if self.key_here else "#issue-close", Button).focus()

    @on(Button.Pressed, "#issue-receive")
    def _receive(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#issue-close")
    def action_close(self) -> None:
        self.dismiss(False)
