"""Render untrusted strings (labels, DNs, SANs, token fields) as literal, sanitised text."""

from __future__ import annotations

from rich.text import Text
from textual.content import Content

from ikm_tui.core.sanitize import safe_text


def literal(value: object, style: str = "", *, multiline: bool = False) -> Content:
    """Sanitised `value` as Textual Content: never parsed as markup.

    A label like `[@click=app.quit]x[/]` stays those characters, `CN=[/ foo` cannot raise
    MarkupError, and control/bidi characters arrive escaped (`\\x1b`) instead of reaching the pty.
    """
    text = safe_text(value, multiline=multiline)
    return Content.styled(text, style) if style else Content(text)


def literal_text(value: object, style: str = "") -> Text:
    """The same for widgets that still take Rich Text (Tree labels): plain Text, no markup."""
    return Text(safe_text(value), style=style)


def plain(value: object) -> str:
    """Sanitised text for APIs that take a `str` with `markup=False` (notifications)."""
    return safe_text(value, multiline=True)
