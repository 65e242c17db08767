"""What a label we write may hold: printable text only, bounded, unique where the caller says so."""

from __future__ import annotations

import unicodedata

# CKA_LABEL has no limit in the standard; a 10 KB one broke file names and every table.
MAX_LABEL_CHARS = 255
# Control (C0/C1, DEL), format (bidi overrides, zero-width characters), surrogates (undecodable
# bytes from argv) and the line/paragraph separators: never shown as themselves, so a label
# holding one cannot be read back or confirmed by what the operator sees.
_REFUSED = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def bad_character(value: str) -> str | None:
    """The first character no label or DN value we write may hold, else None."""
    for ch in value:
        if unicodedata.category(ch) in _REFUSED:
            return ch
    return None


def label_problem(value: str, taken: frozenset[str] = frozenset(), *, what: str = "label") -> str:
    """Why `value` cannot be a label ('' when it can): empty, too long, a control or invisible
    character, already used."""
    if not value.strip():
        return f"The {what} is empty."
    if len(value) > MAX_LABEL_CHARS:
        return f"The {what} has {len(value)} characters; at most {MAX_LABEL_CHARS} are accepted."
    ch = bad_character(value)
    if ch is not None:
        return (f"The {what} contains a control or invisible character (U+{ord(ch):04X}); "
                "only printable characters are accepted.")
    if value in taken:
        return f"{value!r} is already used on this token: Java, NSS and OpenSSL need it unique."
    return ""
