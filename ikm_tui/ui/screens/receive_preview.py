"""ReceivePreviewScreen: what receiving will write, before anything is written.

Shows the certificate, the private key it matched (and how), the label and CKA_ID it will get,
an existing certificate that would be replaced (Apply stays disabled until "replace" is ticked),
the chain certificates and what happens to each, the pending request that goes, warnings, and a
lint summary. A lint ERROR (clients will reject the certificate) keeps Apply disabled until the
"receive despite lint errors" box is ticked, the TUI's --force. Dismisses with a `ReceiveChoice`,
or None when cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Static

from ikm_tui.core.x509.lint import SEVERITY_ORDER, Finding
from ikm_tui.core.model import CertFields
from ikm_tui.core.ops.receive_model import ReceivePreview
from ikm_tui.core.sanitize import safe_text
from ikm_tui.ui.describe import validity
from ikm_tui.ui.text import literal

_SEV_STYLE = {"error": "bold white on red", "warning": "bold black on yellow", "info": "bold"}
_CHAIN_WORDS = {"store": "CA certificate, stored as {label!r} if ticked below",
                "present": "already on the token: left as it is",
                "ignored (not a CA)": "not a CA certificate: ignored"}


def _chain_label(storable: int, ticked: bool) -> str:
    return f"Store chain CA certs ({storable}): {'yes' if ticked else 'no, the leaf only'}"


@dataclass(frozen=True)
class ReceiveChoice:
    replace: bool
    with_chain: bool
    assign_id: bool = False  # the key's CKA_ID is empty: give key and cert the SHA-1 of the public key
    force: bool = False  # store it despite lint errors (ticked explicitly)


def lint_summary(findings: Sequence[Finding]) -> str:
    if not findings:
        return "no problems found"
    counts = {sev: sum(1 for f in findings if f.severity == sev) for sev in ("error", "warning", "info")}
    return ", ".join(f"{n} {sev}{'s' if n != 1 else ''}" for sev, n in counts.items() if n)


def _cert_rows(f: CertFields, now: datetime) -> list[tuple[str, str]]:
    nb = f"{f.not_before:%Y-%m-%d %H:%M}Z" if f.not_before else "?"
    na = f"{f.not_after:%Y-%m-%d %H:%M}Z" if f.not_after else "?"
    return [("subject", f.subject), ("issuer", f.issuer), ("serial", f.serial),
            ("validity", f"{nb} .. {na}"), ("status", validity(f, now)), ("sha256", f.sha256)]


class ReceivePreviewScreen(ModalScreen[ReceiveChoice | None]):
    DEFAULT_CSS = """
    ReceivePreviewScreen {
        align: center middle;
    }
    ReceivePreviewScreen #receive-dialog {
        width: 90;
        height: 90%;
    }
    ReceivePreviewScreen #receive-body {
        height: 1fr;
    }
    ReceivePreviewScreen Checkbox {
        /* borderless: the scrolling preview above needs every row at 80x24 */
        border: none;
        height: 1;
        padding: 0;
    }
    ReceivePreviewScreen Checkbox:focus {
        border: none;
        text-style: bold reverse;
    }
    ReceivePreviewScreen .dialog-buttons {
        height: auto;
        margin-top: 1;
    }
    ReceivePreviewScreen .dialog-buttons Button {
        margin-right: 2;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="receive.cancel", tooltip="Write nothing")]

    def __init__(self, preview: ReceivePreview, findings: Sequence[Finding], now: datetime,
                 source: str = "", count: int = 1) -> None:
        super().__init__()
        self.preview = preview
        self.findings = list(findings)
        self.now = now
        self.source = source
        self.count = count
        self.plain_text = ""  # the preview as plain text, for tests

    def _body(self) -> Content:
        pv = self.preview
        parts: list[Content] = []
        plain: list[str] = []

        def line(text: str, style: str = "") -> None:
            parts.extend((literal(text, style, multiline=True), Content("\n")))
            plain.append(text)

        if self.source:
            line(f"Read {self.count} certificate(s) from {self.source} ({pv.source_format})", "dim")
        line("Certificate", "bold underline")
        rows = _cert_rows(pv.leaf.fields, self.now)
        width = max(len(n) for n, _ in rows)
        for name, value in rows:
            line(f"  {name:<{width}} {value}")
        line("")
        line("Key", "bold underline")
        kind = pv.key.key_type or "?"
        line(f"  matches private key {pv.key.label!r} (id {pv.key.id_hex or '-'}, {kind})", "green")
        line(f"  matched by {pv.match}")
        line(f"  will be stored with label {pv.label!r} and id {pv.key.id_hex or '-'} (category token user), "
             "so Java and NSS see the pair")
        if pv.existing:
            line("")
            line("Existing certificate: WILL BE REPLACED", "bold black on yellow")
            for e in pv.existing:
                same = " (this very certificate)" if e.der == pv.leaf.der else ""
                line(f"  {e.label!r} id {e.id.hex() or '-'} serial {e.fields.serial} "
                     f"subject {e.fields.subject}{same}")
            line("  The new certificate is written first, then the old one is removed.")
        if pv.chain:
            line("")
            line("Chain", "bold underline")
            for c in pv.chain:
                what = _CHAIN_WORDS.get(c.action, c.action).format(label=c.label)
                line(f"  {c.cert.fields.subject or '?'}: {what}")
        for r in pv.pending_requests:
            line("")
            line(f"Pending request {r.label!r} will be removed as fulfilled.")
        if pv.warnings:
            line("")
            for w in pv.warnings:
                line(f"warning: {w}", "bold yellow")
        line("")
        line(f"Lint: {lint_summary(self.findings)}", "bold underline")
        for f in self.findings:
            parts.extend((literal(f" {f.severity.upper()} ", _SEV_STYLE.get(f.severity, "")),
                          literal(f" {f.code}: ", "bold"), literal(f.message, multiline=True), Content("\n")))
            plain.append(f"{f.severity.upper()} {f.code}: {f.message}")
        self.plain_text = safe_text("\n".join(plain), multiline=True)
        return Content.assemble(*parts)

    def _headline(self) -> Content:
        """Key match and lint counts above the scrolling details: visible without scrolling."""
        pv = self.preview
        worst = min((SEVERITY_ORDER.get(f.severity, 3) for f in self.findings), default=3)
        style = {0: "bold white on red", 1: "bold black on yellow"}.get(worst, "green")
        return Content.assemble(
            literal(f"for key {pv.key.label!r}", "green"),
            literal("  · replaces a certificate" if pv.needs_replace else "", "bold yellow"),
            Content("  · "), literal(f" Lint: {lint_summary(self.findings)} ", style))

    def compose(self) -> ComposeResult:
        pv = self.preview
        storable = sum(1 for c in pv.chain if c.action == "store")
        with Vertical(id="receive-dialog", classes="dialog"):
            yield Static(literal("Receive certificate: preview (nothing written yet)", "bold"))
            yield Static(self._headline(), id="receive-headline", classes="dialog-title")
            with VerticalScroll(id="receive-body"):
                yield Static(self._body(), id="receive-text")
            replace = Checkbox("Replace the key's existing certificate", id="receive-replace")
            replace.display = pv.needs_replace
            yield replace
            # Ticked from the start: a leaf stored without its CA fails lint (chain-missing-issuer),
            # and the label says yes/no in words, since the box's X differs only by colour.
            chain = Checkbox(_chain_label(storable, True), value=True, id="receive-chain")
            chain.display = storable > 0
            yield chain
            # An empty CKA_ID is not copied: Java and NSS would not pair the new cert (issue #12).
            assign = Checkbox("Assign a CKA_ID (the key's is empty)", value=True, id="receive-assign-id")
            assign.display = not pv.key.id
            yield assign
            force = Checkbox(f"Receive despite {self._errors} lint error(s): clients will reject it",
                             id="receive-force")
            force.display = self._errors > 0
            yield force
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", id="receive-apply", variant="primary",
                             disabled=pv.needs_replace or self._errors > 0)
                yield Button("Cancel", id="receive-cancel")

    @property
    def _errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    def on_mount(self) -> None:
        if self.preview.needs_replace:
            self.query_one("#receive-replace", Checkbox).focus()
        elif self._errors:
            # Cancel is the safe default; receiving anyway takes the explicit tick.
            self.query_one("#receive-cancel", Button).focus()
        else:
            self.query_one("#receive-apply", Button).focus()

    def _blocked(self) -> bool:
        replace = self.query_one("#receive-replace", Checkbox).value
        force = self.query_one("#receive-force", Checkbox).value
        return (self.preview.needs_replace and not replace) or (self._errors > 0 and not force)

    @on(Checkbox.Changed, "#receive-replace")
    @on(Checkbox.Changed, "#receive-force")
    def _ticked(self, event: Checkbox.Changed) -> None:
        self.query_one("#receive-apply", Button).disabled = self._blocked()

    @on(Checkbox.Changed, "#receive-chain")
    def _chain_ticked(self, event: Checkbox.Changed) -> None:
        storable = sum(1 for c in self.preview.chain if c.action == "store")
        event.checkbox.label = _chain_label(storable, event.value)

    @on(Button.Pressed, "#receive-apply")
    def _apply(self) -> None:
        if self._blocked():
            return
        replace = self.query_one("#receive-replace", Checkbox).value
        self.dismiss(ReceiveChoice(replace=replace and self.preview.needs_replace,
                                   with_chain=self.query_one("#receive-chain", Checkbox).value,
                                   assign_id=self.query_one("#receive-assign-id", Checkbox).value,
                                   force=self._errors > 0 and self.query_one("#receive-force", Checkbox).value))

    @on(Button.Pressed, "#receive-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
