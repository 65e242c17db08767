"""PinInput: an Input whose messages never carry the PIN into a log.

Textual logs every message it dispatches (`log.event(message, ...)`), and with TEXTUAL_LOG set
or devtools attached that log is a file or a socket. Input's Changed / Submitted / Blurred
messages are dataclasses whose repr includes `value`: for the PIN field that wrote the whole
PIN, on every keystroke. These subclasses show `***` instead; handlers written for
Input.Changed etc. still match them (they are subclasses).
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Input


def _redacted(message: Any) -> Any:
    yield "input", message.input
    yield "value", "***"


class PinInput(Input):
    class Changed(Input.Changed):
        def __repr__(self) -> str:
            return "PinInput.Changed(value=***)"

        __rich_repr__ = _redacted

    class Submitted(Input.Submitted):
        def __repr__(self) -> str:
            return "PinInput.Submitted(value=***)"

        __rich_repr__ = _redacted

    class Blurred(Input.Blurred):
        def __repr__(self) -> str:
            return "PinInput.Blurred(value=***)"

        __rich_repr__ = _redacted


def debug_log_warning(features: frozenset[str]) -> str | None:
    """Textual's own debug log records every key event (so every PIN character, one per line)
    even with the messages above redacted: say so when it is on. `features` is App.features."""
    import textual.constants

    if textual.constants.LOG_FILE:
        return (f"TEXTUAL_LOG={textual.constants.LOG_FILE} is set: Textual writes every key press to "
                "that file, the PIN typed here included. Unset it before logging in.")
    if "devtools" in features:
        return "Textual devtools are on (TEXTUAL=devtools): they receive every key press, the PIN included."
    return None
