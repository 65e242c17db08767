"""TokenActivity: "waiting for the token" in the top bar while a call runs long or calls queue.

One thread owns each module, so a slow or hung call (a keygen, a card that stopped answering)
holds every later call for that token. The operator sees which call is holding things up, for
how long, and what is queued behind it, instead of keys that seem to do nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from textual.widgets import Static

from ikm_tui.ui.text import literal

# A call shorter than this never shows (no flicker on every listing).
SHOW_AFTER = 0.5
POLL = 0.25


class TokenActivity(Static):
    """Polls each service's activity() (a cheap, thread-safe read) on a UI timer."""

    DEFAULT_CSS = """
    TokenActivity {
        width: auto;
        padding: 0 1;
        background: $warning;
        color: $text-warning;
    }
    """

    def __init__(self, services: Callable[[], Iterable[Any]], *, timings: bool = True,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self._services = services
        self._timings = timings  # seconds off for snapshots
        self.text = ""  # what is shown, for tests

    def on_mount(self) -> None:
        self.display = False
        self.set_interval(POLL, self.poll)

    def poll(self) -> None:
        parts: list[str] = []
        for svc in self._services():
            act = svc.activity()
            if act.running is None or act.running_for < SHOW_AFTER:
                continue
            text = f"waiting for token: {act.running}"
            if self._timings:
                text += f" {act.running_for:.0f} s"
            if act.queued:
                names = ", ".join(act.queued[:3]) + (", …" if len(act.queued) > 3 else "")
                text += f" · {len(act.queued)} queued: {names}"
            parts.append(text)
        text = "  |  ".join(parts)
        if text != self.text:
            self.text = text
            self.update(literal(f"⏳ {text}") if text else "")
            self.display = bool(text)
