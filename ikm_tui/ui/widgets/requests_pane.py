"""RequestsPane: the token's pending certificate requests (core.requests.list_requests) as a table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from ikm_tui.core.sanitize import safe_text
from ikm_tui.ui.describe import Row
from ikm_tui.ui.messages import DeleteRequest, ResignRequest, SaveRequest

if TYPE_CHECKING:
    # A type only: core.ops.pending imports cryptography and asn1crypto (~35 ms), which the
    # pane, on the first screen, needs only once a request is listed (ui.flows.requests_view).
    from ikm_tui.core.ops.pending import PendingRequest


def request_rows(req: PendingRequest) -> list[Row]:
    """Every field of a pending request, for the details pane (values are untrusted text)."""
    if req.error:
        return [("label", req.label), ("stored", _where(req)), ("error", req.error)]
    rows: list[Row] = [
        ("label", req.label),
        ("subject", req.subject or "(empty)"),
        ("key type", req.key_type),
        ("signature", f"{req.signature_algorithm} · {'valid' if req.signature_valid else 'INVALID'}"),
        ("key on token", _has_key(req)),
        ("key ID", req.key_id.hex() or "?"),
    ]
    if req.sans:
        rows.append(("SANs", ", ".join(req.sans)))
    if req.key_usage:
        rows.append(("key usage", ", ".join(req.key_usage)))
    if req.eku:
        rows.append(("ext. key usage", ", ".join(req.eku)))
    rows.append(("stored", _where(req)))
    return rows


def request_notes(req: PendingRequest) -> list[str]:
    notes = []
    if not req.error and not req.signature_valid:
        notes.append("INVALID signature: do not send this request to a CA")
    if req.has_key is False:
        notes.append("orphan: no private key with this ID (a certificate for it could not be used)")
    if req.where == "file":
        notes.append("kept in a file, not on the token: it will not travel with the token")
    return notes


def _where(req: PendingRequest) -> str:
    return "on the token (data object)" if req.where == "token" else f"file {req.path}"


def _has_key(req: PendingRequest) -> str:
    return {True: "yes", False: "NO", None: "? (log in to see private keys)"}[req.has_key]


class RequestsPane(DataTable[Text]):
    """Rows keyed by request label. Its keys post SaveRequest/DeleteRequest/ResignRequest (ui.messages)."""

    BINDINGS = [
        Binding("s", "save", "Save request…", id="requests.save",
                tooltip="Write the selected request to a PEM file (asks before overwriting)"),
        Binding("d,delete", "delete", "Delete", id="requests.delete",
                tooltip="Delete the selected pending request (type its label to confirm)"),
        Binding("e", "recreate", "Re-sign", id="requests.recreate",
                tooltip="Sign a new request for the same key pair (replaces the pending one)"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.requests: list[PendingRequest] = []
        self.error = ""

    def on_mount(self) -> None:
        self.add_columns("Label", "Subject", "Key", "Sig.", "Has key")

    def show(self, requests: Sequence[PendingRequest], error: str = "") -> None:
        """Replace the rows, keeping the cursor on the same label when it is still there."""
        keep = self.current_label()
        self.clear()
        self.requests = list(requests)
        self.error = error
        # Keyed by position: two requests may share a label (and place), and a DuplicateKey here
        # hid every request after the first of them.
        for i, req in enumerate(self.requests):
            sig = "?" if req.error else ("valid" if req.signature_valid else "INVALID")
            has = {True: "yes", False: "NO", None: "?"}[req.has_key]
            self.add_row(*(Text(safe_text(v)) for v in (req.label, req.subject or req.error, req.key_type, sig, has)),
                         key=str(i))
        if keep is not None:
            self.select_label(keep)

    def current(self) -> PendingRequest | None:
        if not self.requests or not 0 <= self.cursor_row < len(self.requests):
            return None
        return self.requests[self.cursor_row]

    def current_label(self) -> str | None:
        req = self.current()
        return req.label if req is not None else None

    def select_label(self, label: str) -> bool:
        for i, req in enumerate(self.requests):
            if req.label == label:
                self.move_cursor(row=i)
                return True
        return False

    # The screen owns the token and the flows: say what was asked for, it does the rest.
    def action_save(self) -> None:
        self.post_message(SaveRequest(self.current_label()))

    def action_delete(self) -> None:
        self.post_message(DeleteRequest(self.current_label()))

    def action_recreate(self) -> None:
        self.post_message(ResignRequest(self.current_label()))
