"""Plain terminals: tell when only ASCII is safe (C locale, vt100) and turn any text into ASCII."""

from __future__ import annotations

import codecs
import os
import sys
from collections.abc import Mapping

# Terminals whose fonts have no box drawing or emoji (the Linux console draws few of them right).
ASCII_TERMS = frozenset({"vt100", "vt102", "vt220", "vt52", "linux", "dumb", "ansi", "cons25", "xterm-mono"})


def _utf(encoding: str | None) -> bool:
    if not encoding:
        return False
    try:
        return codecs.lookup(encoding).name.startswith("utf")
    except LookupError:
        return False


def ascii_only(env: Mapping[str, str] | None = None, encoding: str | None = None) -> bool:
    """True on a non-UTF-8 locale or a terminal without Unicode; IKM_ASCII=1/0 decides first."""
    env = os.environ if env is None else env
    forced = env.get("IKM_ASCII")
    if forced in ("1", "0"):
        return forced == "1"
    if env.get("TERM", "").lower() in ASCII_TERMS:
        return True
    if encoding is None:
        stream = sys.__stdout__
        encoding = getattr(stream, "encoding", None) if stream is not None else None
    return not _utf(encoding)


def _table() -> dict[int, str]:
    table: dict[int, str] = {}
    for cp in range(0x2500, 0x2580):  # box drawing: light, heavy, double, rounded
        name = chr(cp)
        horizontal = name in "─━┄┅┈┉╌╍═╴╶╸╺╼╾"
        vertical = name in "│┃┆┇┊┋╎╏║╵╷╹╻╽╿"
        table[cp] = "-" if horizontal else "|" if vertical else "+"
    for cp in range(0x2580, 0x25A0):  # block elements (scrollbars, tab underlines)
        table[cp] = " " if cp in (0x2580, 0x2584) else "#"
    table.update({ord(k): v for k, v in {
        "▼": "v", "▶": ">", "▸": ">", "▾": "v", "◀": "<", "▲": "^", "►": ">", "•": "*", "·": ".",
        "…": "...", "–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "×": "x", "✓": "v",
        "✔": "v", "✗": "x", "⚠": "!", "→": "->", "←": "<-", "»": ">>", "«": "<<", "\u00a0": " ",
        "⏎": "Enter", "↑": "^", "↓": "v", "▏": "|", "▕": "|",
    }.items()})
    return table


_TABLE = _table()


def to_ascii(text: str) -> str:
    """ASCII only: box drawing as + - |, known glyphs spelled out, anything else as '?'."""
    if text.isascii():
        return text
    return text.translate(_TABLE).encode("ascii", "replace").decode("ascii")
