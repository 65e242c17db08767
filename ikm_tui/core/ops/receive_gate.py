"""The lint gate of `cert receive`: the preview's findings, and the refusal when one is an ERROR."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ikm_tui.core.errors import RefusedError
from ikm_tui.core.x509.lint import assess, intended_use_of

from ikm_tui.core.ops.receive_model import ReceivePreview

__all__ = ["preview_findings", "refuse_on_lint_errors"]


def preview_findings(preview: ReceivePreview, *, now: datetime | None = None) -> list[Any]:
    """Lint of the leaf, its chain checked against the file's other certs and the token's CAs.

    Shared by `cert receive` and the TUI's preview so both say the same; errors first. Uses the
    CA certs the preview already read, so no token call is made.
    """
    candidates = [c.cert.der for c in preview.chain]
    candidates += [d for d in preview.token_ca_certs if d not in candidates]
    return assess(preview.leaf.der, candidates, now=now, intended_use=intended_use_of(preview.leaf.fields.eku))


def refuse_on_lint_errors(preview: ReceivePreview, *, force: bool = False, now: datetime | None = None) -> None:
    """Raise (nothing written) when lint finds an ERROR: TLS clients would reject this certificate.

    `force` (CLI --force, the TUI's tick) lets it through: the operator has seen the findings.
    """
    if force:
        return
    errors = [f for f in preview_findings(preview, now=now) if f.severity == "error"]
    if not errors:
        return
    codes = ", ".join(dict.fromkeys(f.code for f in errors))
    raise RefusedError(
        f"The certificate has {len(errors)} lint error(s) ({codes}): TLS clients will reject it, so it was "
        f"not stored; nothing was written. First: {errors[0].message}",
        "Have the CA reissue it (see `ikm-tui cert lint FILE`), add the missing CA certificates to the file, "
        "or store it anyway with --force (CLI) / the \"Receive despite lint errors\" tick (TUI).",
        operation="Receiving the certificate")
