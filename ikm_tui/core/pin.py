"""A holder for a PIN that never shows its value in repr, str, logs, tracebacks or crash screens."""

from __future__ import annotations

from typing import NoReturn


class Pin:
    """Wraps a PIN so that printing, logging or a crash screen's locals show `***`.

    The value is only reachable through `reveal()`, which the backend calls at the moment of
    C_Login. `__slots__` keeps it out of `__dict__` dumps.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("PIN must be a str")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return "Pin(***)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pin) and other._value == self._value

    def __hash__(self) -> int:  # pragma: no cover - Pins are not dict keys
        return hash("Pin")

    def __reduce__(self) -> NoReturn:
        # Refuse pickling: a pickled PIN ends up in files and caches.
        raise TypeError("Pin objects cannot be pickled")
