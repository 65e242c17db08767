"""DoctorScreen: the pairing doctor's findings and repair plan; nothing changes until Apply + confirm."""

from __future__ import annotations

from typing import Any

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


def id_lines(ids: Any) -> list[tuple[str, str]]:
    """CKA_ID findings and repairs (core/ops/repair_ids.IdReport): what other tools left behind."""
    out: list[tuple[str, str]] = []
    for cert, key in ids.challenge_failed:
        out.append((f"WRONG PAIR: certificate {cert.label!r} and key {key.label!r} share CKA_ID "
                    f"{cert.id.hex()} but the key does not sign for the certificate", "bold red"))
    for group in ids.shared_ids:
        out.append((f"CKA_ID {group[0].id.hex()} is shared by {len(group)} private keys of different public keys",
                    "bold"))
    if ids.id_repairs or ids.public_keys:
        out.append(("CKA_ID plan (Java and NSS pair by CKA_ID)", "bold underline"))
        for r in ids.id_repairs:
            out += [(f"  {r.problem}", "dim"), (f"  {r.describe()}", "yellow" if r.blocked else "")]
        out += [(f"  {r.describe()}", "") for r in ids.public_keys]
    return out


def report_lines(rep: DoctorReport, ids: Any = None) -> list[tuple[str, str]]:
    """(text, style) lines: each finding with what it means for Java/NSS, then the plan."""
    out: list[tuple[str, str]] = id_lines(ids) if ids is not None else []
    if rep.healthy and out:
        return out
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

    def __init__(self, report: DoctorReport, ids: Any = None) -> None:
        super().__init__()
        self.report = report
        self.todo: list[Any] = [r for r in report.repairs if r.blocked is None]
        if ids is not None:
            self.todo += [r for r in ids.id_repairs if r.blocked is None] + list(ids.public_keys)
        lines = report_lines(report, ids)
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
                # "Apply 0 repair(s)" read as something to press, disabled or not (NO_COLOR).
                label = f"Apply {len(self.todo)} repair(s)…" if self.todo else "Nothing to repair"
                yield Button(label, id="doctor-apply", variant="warning", disabled=not self.todo)
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
