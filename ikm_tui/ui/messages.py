"""Messages widgets post instead of importing flows; the main screen handles them with @on.

Why: a widget that calls a flow must import it, and the flow needs the screen the widget sits
on, which is how the UI came to import itself in a circle. A widget says what the operator
asked for; the screen, which owns the token and the flows, decides how to do it.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class SaveRequest(Message):
    """Write the pending request `label` (None: nothing selected) to a PEM file."""

    label: str | None


@dataclass
class DeleteRequest(Message):
    """Delete the pending request `label` (None: nothing selected) from the token."""

    label: str | None


@dataclass
class ResignRequest(Message):
    """Sign a new request for the key pair of the pending request `label` (None: nothing selected)."""

    label: str | None
