"""DoctorScreen: the pairing doctor's findings and repair plan; nothing changes until Apply + confirm."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ikm_tui.core.ops.doctor import DoctorReport
from ikm_tui.core.ops.plans import describe
from ikm_tui.core.sanitize import safe_text
from ikm_tui.ui.text import literal


def report_lines(rep: DoctorReport) -> list[tuple[str, str]]:
    """(text, style) lines: each finding with what it means for Java/NSS, then the plan."""
    out: list[tuple[str, str]] = []
    if rep.healthy:
        return [("Every key has its certificate under the same CKA_ID and label.", "green")]
    if rep.keys_without_certs:
        out.append(("Keys without a certificate (Java keytool will not list them)", "bold underline"))
        out += [(f"  {describe(k)}", "") for k in rep.keys_without_certs]
    if rep.certs_without_keys:
        out.append(("Certificates without a key on this token", "bold underline"))
        out += [(f"  {describe(c)}", "") for c in rep.certs_without_keys]
    if rep.duplicate_certs:
        out.append(("Several certificates for one key", "bold underline"))
        out += [("  " + "; ".join(describe(c) for c in group), "") for group in rep.duplicate_certs]
    if rep.repairs:
        out.append(("Repair plan (cert's CKA_ID / label set to its key's)", "bold underline"))
        out += [(f"  {r.describe()}", "yellow" if r.blocked else "") for r in rep.repairs]
    else:
        out.append(("No automatic repair: receive certificates for the keys, or delete what is stale.", "dim"))
    return out


class DoctorScreen(ModalScreen[bool]):
    """Dismisses with True when the operator asks to apply the unblocked repairs."""

    DEFAULT_CSS = """
    DoctorScreen {
        align: center middle;
    }
    DoctorScreen #doctor-dialog {
        width: 100;
    }
    DoctorScreen #doctor-body {
        height: auto;
        max-height: 18;
    }
    DoctorScreen .dialog-buttons {
        height: auto;
        margin-top: 1;
    }
    DoctorScreen .dialog-buttons Button {
        margin-right: 2;
    }
    """
    BINDINGS = [Binding("escape", "close", "Close", id="doctor.close", tooltip="Close; change nothing")]

    def __init__(self, report: DoctorReport) -> None:
        super().__init__()
        self.report = report
        self.todo = [r for r in report.repairs if r.blocked is None]
        lines = report_lines(report)
        self.plain_text = safe_text("\n".join(t for t, _ in lines), multiline=True)
        self._lines = lines

    def compose(self) -> ComposeResult:
        parts: list[Content] = []
        for text, style in self._lines:
            parts += [literal(text, style), Content("\n")]
        with Vertical(id="doctor-dialog", classes="dialog"):
            yield Static(literal("Pairing doctor", "bold"), classes="dialog-title")
            with VerticalScroll(id="doctor-body"):
                yield Static(Content.assemble(*parts), id="doctor-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"Apply {len(self.todo)} repair(s)…", id="doctor-apply", variant="warning",
                             disabled=not self.todo)
                yield Button("Close", id="doctor-close")

    def on_mount(self) -> None:
        self.query_one("#doctor-close", Button).focus()

    @on(Button.Pressed, "#doctor-apply")
    def _apply(self) -> None:
        if self.todo:
            self.dismiss(True)

    @on(Button.Pressed, "#doctor-close")
    def action_close(self) -> None:
        self.dismiss(False)
