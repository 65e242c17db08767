"""LintView: what is wrong with the selected certificate (lint_certificate + check_chain).

The findings come from the core (`core.lint`); this module only picks the inputs from a
listing (intended use from the EKU, the token's CA certificates as chain candidates) and
shows them literally: finding messages quote DNs, which are untrusted text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from textual.content import Content
from textual.widgets import Static

from ikm_tui.core.lint import Finding, check_chain, lint_certificate
from ikm_tui.core.model import Listing, ObjClass, ObjectInfo
from ikm_tui.core.objects import CATEGORY_AUTHORITY
from ikm_tui.core.sanitize import safe_text
from ikm_tui.ui.text import literal

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
_STYLE = {"error": "bold white on red", "warning": "bold black on yellow", "info": "bold"}


def intended_use(obj: ObjectInfo) -> str | None:
    """"server" or "client" from the certificate's own EKU; None when it names neither."""
    eku = obj.cert.eku if obj.cert is not None else ()
    if "serverAuth" in eku:
        return "server"
    if "clientAuth" in eku:
        return "client"
    return None


def ca_candidates(listing: Listing, leaf: ObjectInfo) -> list[bytes]:
    """DER of every CA certificate on the token (CA:TRUE, or filed as an authority)."""
    out: list[bytes] = []
    for o in listing.objects:
        if o.cls is not ObjClass.CERTIFICATE or o.handle == leaf.handle or o.value is None:
            continue
        if (o.cert is not None and o.cert.is_ca) or o.cert_category == CATEGORY_AUTHORITY:
            out.append(o.value)
    return out


def certificate_findings(listing: Listing, obj: ObjectInfo, now: datetime) -> list[Finding]:
    """Findings for one certificate object, errors first; [] for anything else."""
    if obj.cls is not ObjClass.CERTIFICATE or obj.value is None:
        return []
    findings = lint_certificate(obj.value, now=now, intended_use=intended_use(obj))
    if not any(f.code == "unparseable" for f in findings):
        findings += check_chain(obj.value, ca_candidates(listing, obj), now=now)
    return sorted(findings, key=lambda f: SEVERITY_ORDER.get(f.severity, 3))


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
