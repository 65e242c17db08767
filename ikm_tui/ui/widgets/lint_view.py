"""LintView: what is wrong with the selected certificate (lint_certificate + check_chain).

The findings come from the core (`core.lint`); this module only picks the inputs from a
listing (intended use from the EKU, the token's CA certificates as chain candidates) and
shows them literally: finding messages quote DNs, which are untrusted text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

from ikm_tui.core.model import Listing, ObjClass, ObjectInfo
from ikm_tui.core.sanitize import safe_text
from ikm_tui.ui.text import literal

if TYPE_CHECKING:
    from ikm_tui.core.x509.lint import Finding

_STYLE = {"error": "bold white on red", "warning": "bold black on yellow", "info": "bold"}


def certificate_findings(listing: Listing, obj: ObjectInfo, now: datetime) -> list[Finding]:
    """Findings for one certificate object, errors first; [] for anything else."""
    if obj.cls is not ObjClass.CERTIFICATE or obj.value is None:
        return []
    # Here, not at the top: the lint needs cryptography (~25 ms of import), which the TUI's first
    # screen does not (its listing comes from core.x509.certcache); the first certificate shown does.
    from ikm_tui.core.x509.lint import assess, intended_use_of, token_ca_certificates

    use = intended_use_of(obj.cert.eku if obj.cert is not None else ())
    return assess(obj.value, token_ca_certificates(listing.objects, {obj.handle}), now=now, intended_use=use)


class LintView(Static):
    """Shown above a certificate's details; hidden for keys, tokens and messages."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.findings: list[Finding] = []
        self.plain_text = ""

    def on_mount(self) -> None:
        self.display = False

    def show(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        parts: list[Content] = [literal("Lint", "bold underline"), Content("\n")]
        plain = ["Lint"]
        if not findings:
            parts += [literal("no problems found", "green"), Content("\n")]
            plain.append("no problems found")
        for f in findings:
            parts += [literal(f" {f.severity.upper()} ", _STYLE.get(f.severity, "")),
                      literal(f" {f.code}", "bold"), Content("\n"),
                      literal(f.message, multiline=True), Content("\n")]
            plain.append(f"{f.severity.upper()} {f.code}: {f.message}")
        self.plain_text = safe_text("\n".join(plain), multiline=True)
        self.update(Content.assemble(*parts))
        self.display = True

    def clear(self) -> None:
        self.findings = []
        self.plain_text = ""
        self.update(Content(""))
        self.display = False
