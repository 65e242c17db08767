"""IssuePreviewScreen: what the CA will sign (subject, SANs, key usage, EKU, validity, profile,
serial), before anything is signed. Dismisses True to sign, False to cancel.

Full size on purpose: every row must be readable at 80x24, and nothing of the screen below
(whose expiry columns move with the date) shows through.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ikm_tui.core.ops.ca_issue import IssuePlan
from ikm_tui.core.sanitize import safe_text
from ikm_tui.ui.text import literal


class IssuePreviewScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    IssuePreviewScreen {
        align: center middle;
    }
    IssuePreviewScreen #issue-preview-dialog {
        /* not .dialog (70 wide): the whole screen, so long DNs and SAN lists stay on their rows */
        width: 100%;
        height: 100%;
        border: thick $primary;
        background: $surface;
        padding: 1 2;
    }
    IssuePreviewScreen #issue-preview-body {
        height: 1fr;
    }
    IssuePreviewScreen .issue-row {
        height: auto;
    }
    IssuePreviewScreen .issue-field {
        width: 18;
        padding-left: 2;
    }
    IssuePreviewScreen .issue-value {
        width: 1fr;
    }
    IssuePreviewScreen .issue-heading {
        margin-bottom: 1;
    }
    IssuePreviewScreen #issue-preview-notes {
        margin-top: 1;
    }
    IssuePreviewScreen .dialog-buttons {
        height: auto;
        margin-top: 1;
    }
    IssuePreviewScreen .dialog-buttons Button {
        margin-right: 2;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="issue.preview.cancel", tooltip="Sign nothing")]

    def __init__(self, plan: IssuePlan) -> None:
        super().__init__()
        self.plan = plan
        self.plain_text = ""  # the preview as plain text, for tests

    def _notes(self) -> Content:
        parts: list[Content] = []
        plain: list[str] = []

        def line(text: str, style: str = "") -> None:
            parts.extend((literal(text, style, multiline=True), Content("\n")))
            plain.append(text)

        line("The profile decides the extensions: a leaf never gets keyCertSign or CA:TRUE, "
             "whatever the request asks.", "dim")
        line("After signing, the certificate is checked by the strict lint, then written and "
             "recorded in the CA's issue log.", "dim")
        for w in self.plan.warnings:
            line("")
            line(f"warning: {w}", "bold yellow")
        rows = [f"{name}: {value}" for name, value in self.plan.rows()]
        self.plain_text = safe_text("\n".join(rows + plain), multiline=True)
        return Content.assemble(*parts)

    def compose(self) -> ComposeResult:
        with Vertical(id="issue-preview-dialog"):
            yield Static(literal(f"Issue with CA {self.plan.ca_label!r}: preview (nothing signed yet)", "bold"),
                         classes="dialog-title")
            with VerticalScroll(id="issue-preview-body"):
                yield Static(literal("Certificate to be issued", "bold underline"), classes="issue-heading")
                for name, value in self.plan.rows():
                    with Horizontal(classes="issue-row"):
                        yield Static(literal(name, "bold"), classes="issue-field")
                        yield Static(literal(value), classes="issue-value")
                yield Static(self._notes(), id="issue-preview-notes")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Sign on the token", id="issue-sign", variant="primary")
                yield Button("Cancel", id="issue-preview-cancel")

    def on_mount(self) -> None:
        self.query_one("#issue-sign", Button).focus()

    @on(Button.Pressed, "#issue-sign")
    def _sign(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#issue-preview-cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
