"""One sanitizer for every untrusted string (labels, DNs, SANs, token strings, file names)."""

from __future__ import annotations

import unicodedata

# Bidi controls that can reorder what the operator reads (Trojan Source style).
_BIDI = {
    "\u061c", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
    "\u2066", "\u2067", "\u2068", "\u2069",
}


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def safe_text(value: object, *, multiline: bool = False) -> str:
    """Return `value` as text with every control, DEL, C1 and bidi character shown escaped.

    The result holds no byte that a terminal would act on. It is still plain text, not markup:
    the UI must render it literally (Textual `Content`, `markup=False`), never as markup.
    """
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="backslashreplace")
    text = str(value)
    if text.isascii() and text.isprintable():
        # Printable ASCII (0x20-0x7E), nearly every label and DN: nothing to escape. Checked
        # in C, where the loop below costs ~6 us per string (a 1,000-object table is 6,000).
        return text
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if multiline and ch == "\n":
            out.append(ch)
            continue
        if code < 0x20 or code == 0x7F or 0x80 <= code <= 0x9F or ch in _BIDI:
            out.append(_escape_char(ch))
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            # Other format/unassigned characters and the line/paragraph separators: invisible
            # or unpredictable on terminals. U+200D (zero-width joiner) too: it let two labels
            # look identical, which matters more than an emoji sequence drawn joined.
            out.append(_escape_char(ch))
        else:
            out.append(ch)
    return "".join(out)
