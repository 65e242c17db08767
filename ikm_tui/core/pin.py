"""A holder for a PIN that never shows its value in repr, str, logs, tracebacks or crash screens."""

from __future__ import annotations

import unicodedata
from typing import NoReturn

from ikm_tui.core.p11.hardening import protect_process


class Pin:
    """Wraps a PIN so that printing, logging or a crash screen's locals show `***`.

    The value is only reachable through `reveal()`, which the backend calls at the moment of
    C_Login. `__slots__` keeps it out of `__dict__` dumps. It is held as UTF-8 in a bytearray
    that `wipe()` overwrites: the one copy we own can be cleared after use. Python cannot clear
    the rest: the str the caller passed in (an Input's value, getpass's result), the str that
    `reveal()` makes and the bytes python-pkcs11 encodes from it for C_Login stay in the heap
    until reused, which is why hardening.protect_process() keeps core dumps off.
    """

    __slots__ = ("_buf", "_chars")

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("PIN must be a str")
        protect_process()  # before our copy exists: no core dump from here on can hold it
        # surrogateescape: undecodable bytes from a file or the environment survive, so
        # pin_text_problem() can name them instead of an encoder raising mid-login.
        self._buf = bytearray(value.encode("utf-8", "surrogateescape"))
        self._chars = len(value)

    def reveal(self) -> str:
        return self._buf.decode("utf-8", "surrogateescape")

    def wipe(self) -> None:
        """Overwrite our copy with zeros; the Pin is empty afterwards."""
        for i in range(len(self._buf)):
            self._buf[i] = 0
        self._buf = bytearray()
        self._chars = 0

    def __len__(self) -> int:
        return self._chars

    def __repr__(self) -> str:
        return "Pin(***)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pin) and other._buf == self._buf

    def __hash__(self) -> int:  # pragma: no cover - Pins are not dict keys
        return hash("Pin")

    def __reduce__(self) -> NoReturn:
        # Refuse pickling: a pickled PIN ends up in files and caches.
        raise TypeError("Pin objects cannot be pickled")


def pin_text_problem(value: str) -> str | None:
    """Why `value` cannot be a PIN we send (empty, several lines, control characters, not
    UTF-8), or None. Never quotes the value."""
    if not value:
        return "The PIN is empty."
    if "\n" in value or "\r" in value:
        return "The PIN has more than one line."
    if any("\udc80" <= c <= "\udcff" for c in value):
        return "The PIN is not valid UTF-8."
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in value):
        return "The PIN contains a control character (NUL, ESC, ...)."
    return None


def pin_problem(pin: Pin, lo: int | None, hi: int | None) -> str | None:
    """pin_text_problem(), then the token's length limits (ulMinPinLen/ulMaxPinLen), or None."""
    text_problem = pin_text_problem(pin.reveal())
    if text_problem is not None:
        return text_problem
    n = len(pin)
    if lo is not None and n < lo:
        return f"The PIN is too short: this token needs at least {lo} characters."
    if hi is not None and 0 < hi < n:
        return f"The PIN is too long: this token takes at most {hi} characters."
    return None
