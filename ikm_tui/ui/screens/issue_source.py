"""IssueSourceScreen: what the CA on the token should sign — a request file, or a request pending on any
token of any module in the tree — with the profile, the validity and where the certificate goes.

The file is read here (core, no token involved): a wrong path or a file that holds no request is
said inside the dialog so the operator can correct it; only an `IssueSource` leaves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Select, Static
from textual.widgets.option_list import Option

from ikm_tui.core.errors import IkmError
from ikm_tui.core.ops.ca_issue import read_request_file
from ikm_tui.core.ops.pending_machine import PendingOnToken
from ikm_tui.core.sanitize import safe_text
from ikm_tui.ui.text import literal

PROFILES = (("server (TLS server: serverAuth)", "server"), ("client (TLS client: clientAuth)", "client"),
            ("both (serverAuth + clientAuth)", "both"), ("subca (a CA below this one, pathlen 0)", "subca"))


@dataclass(frozen=True)
class IssueSource:
    csr_der: bytes
    source: str  # "file PATH" or "pending request 'L' on token 'T'"
    name: str  # the request's label or the file's stem: the default file name
    profile: str
    days: int
    out: str  # where to write the certificate; "" for ./<name>.pem
    slot_id: int | None = None  # the token holding the pending request


def _safe_name(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text).strip(".") or "issued"


class IssueSourceScreen(ModalScreen[IssueSource | None]):
    DEFAULT_CSS = """
    IssueSourceScreen {
        align: center middle;
    }
    IssueSourceScreen #issue-source-dialog {
        height: 95%;
    }
    IssueSourceScreen #issue-source-body {
        /* scrolls at 80x24, so the buttons below always show */
        height: 1fr;
    }
    IssueSourceScreen #issue-pending {
        height: auto;
        max-height: 8;
    }
    IssueSourceScreen #issue-error {
        color: $text-error;
    }
    IssueSourceScreen .issue-row {
        height: auto;
    }
    IssueSourceScreen .issue-row Select {
        width: 1fr;
    }
    IssueSourceScreen .issue-row #issue-days {
        width: 14;
    }
    IssueSourceScreen .dialog-buttons {
        height: auto;
    }
    IssueSourceScreen .dialog-buttons Button {
        margin-right: 2;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="issue.source.cancel", tooltip="Issue nothing")]

    def __init__(self, ca_label: str, pending: Sequence[PendingOnToken]) -> None:
        super().__init__()
        self.ca_label = ca_label
        self.pending = list(pending)

    def compose(self) -> ComposeResult:
        with Vertical(id="issue-source-dialog", classes="dialog"):
            yield Static(literal(f"Issue a certificate with CA {self.ca_label!r}", "bold"), classes="dialog-title")
            with VerticalScroll(id="issue-source-body"):
                yield Static(literal("A pending request of this machine (Enter picks it):"))
                options = [Option(literal(f"{p.request.label}  {p.request.subject}  [token {p.token_label}"
                                          + (f" · {p.module}]" if p.module else "]")))
                           for p in self.pending]
                pending = OptionList(*options, id="issue-pending")
                pending.display = bool(options)
                yield pending
                if not options:
                    yield Static(literal("(no pending requests on the tokens of this machine)", "dim"))
                yield Static(literal("or a request file (PEM or DER, e.g. made by openssl req):"))
                yield Input(id="issue-file", placeholder="path to the .csr file; empty: the request selected above")
                with Horizontal(classes="issue-row"):
                    yield Select(PROFILES, value="server", allow_blank=False, id="issue-profile")
                    yield Input("397", id="issue-days", type="integer", tooltip="validity in days")
                yield Input(id="issue-out", placeholder="write the certificate to (default ./<request>.pem)")
            yield Static(id="issue-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Preview", id="issue-ok", variant="primary")
                yield Button("Cancel", id="issue-cancel")

    def on_mount(self) -> None:
        self.query_one("#issue-error", Static).display = False
        if self.pending:
            self.query_one("#issue-pending", OptionList).focus()
        else:
            self.query_one("#issue-file", Input).focus()

    def _error(self, text: str) -> None:
        err = self.query_one("#issue-error", Static)
        err.update(literal(text, multiline=True))
        err.display = bool(text)

    def read(self) -> IssueSource:
        """The request chosen and the options; IkmError says what is missing or wrong."""
        days_text = self.query_one("#issue-days", Input).value.strip()
        if not days_text.isdigit() or int(days_text) < 1:
            raise IkmError("The validity must be a whole number of days, at least 1.", "e.g. 397 for a server.")
        profile = str(self.query_one("#issue-profile", Select).value)
        out = self.query_one("#issue-out", Input).value.strip()
        path = self.query_one("#issue-file", Input).value.strip()
        if path:
            der = read_request_file(str(Path(path).expanduser()))
            return IssueSource(der, f"file {safe_text(path)}", _safe_name(Path(path).stem), profile,
                               int(days_text), out)
        index = self.query_one("#issue-pending", OptionList).highlighted
        if index is None or not self.pending:
            raise IkmError("No request chosen.", "Pick a pending request, or type the path of a request file.")
        p = self.pending[index]
        return IssueSource(p.request.der, p.source, _safe_name(p.request.label), profile, int(days_text), out,
                           p.slot_id)

    @on(OptionList.OptionSelected, "#issue-pending")
    @on(Input.Submitted)
    @on(Button.Pressed, "#issue-ok")
    def _ok(self) -> None:
        try:
            choice = self.read()
        except IkmError as err:
            self._error(str(err))
            return
        self.dismiss(choice)

    @on(Button.Pressed, "#issue-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
