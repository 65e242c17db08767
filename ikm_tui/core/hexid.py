"""CKA_ID as operators type it: hex digits, optionally with `:` or spaces between the bytes."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s:]")


def parse_hex_id(text: str) -> bytes:
    """The bytes of `01a2`, `01:a2`, `01 A2`; b"" for empty text; ValueError for anything else.

    One parser for the CLI's --id, the request form and `howto`: the same text must mean the
    same CKA_ID everywhere. An odd number of digits is refused, not padded: `1a2` is a typo
    more often than it is 01a2.
    """
    cleaned = _SEPARATORS.sub("", text)
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError(f"not a hex CKA_ID: {text!r} (e.g. 01 or a1b2c3)") from None
