"""Explanation: what a code or message means and what to do, for `ikm-tui explain` and its tables."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Explanation:
    """What a code means, why it usually happens on a token, and what to do with ikm-tui."""

    code: str  # canonical: "CKR_PIN_INCORRECT", "CTGSK3026W", "GSK_KEY_LABEL_NOT_FOUND"
    family: str  # "PKCS#11" or "GSKit"
    meaning: str
    action: str
    number: int | None = None
    typical_cause: str = ""
    exception: str | None = None  # the python-pkcs11 class raised for it
    message: str = ""  # the tool's own wording, when known
    reference: str = ""
