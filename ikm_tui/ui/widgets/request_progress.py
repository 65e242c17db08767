"""RequestProgress: a line under the status bar while a key pair is made on the token.

Not a modal on purpose: the keygen runs in the module's owner thread and the operator can keep
browsing tabs, moving cursors and reading help meanwhile. Stages arrive from the owner thread
as messages (post_message is thread-safe); the elapsed time is a UI-side timer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import LoadingIndicator, Static

from ikm_tui.ui.text import literal

STAGES = ("check", "keygen", "sign", "verify", "store", "done")


class RequestProgress(Horizontal):
    DEFAULT_CSS = """
    RequestProgress {
        height: 1;
        background: $boost;
    }
    RequestProgress LoadingIndicator {
        width: 8;
        height: 1;
        min-height: 1;
    }
    RequestProgress #progress-stage {
        width: 1fr;
    }
    RequestProgress #progress-elapsed {
        width: auto;
        padding: 0 1;
    }
    """

    @dataclass
    class Stage(Message):
        """One step of core.requests' progress hook, posted from the owner thread."""

        stage: str
        text: str

    def __init__(self, what: str) -> None:
        super().__init__(id="request-progress")
        self.what = what
        self.stage = ""
        self.stages_seen: list[tuple[str, float]] = []  # (stage, time.monotonic() it arrived)
        self.started = time.monotonic()

    def compose(self) -> ComposeResult:
        yield LoadingIndicator()
        yield Static(literal(self.what), id="progress-stage")
        yield Static("0.0 s", id="progress-elapsed")

    def on_mount(self) -> None:
        self.started = time.monotonic()
        self.set_interval(0.1, self._tick)

    def _tick(self) -> None:
        self.query_one("#progress-elapsed", Static).update(f"{time.monotonic() - self.started:.1f} s")

    def hook(self, stage: str, text: str) -> None:
        """core.requests' `progress` callback: runs on the owner thread, so it only posts."""
        self.post_message(self.Stage(stage, text))

    def on_request_progress_stage(self, event: Stage) -> None:
        event.stop()
        self.stage = event.stage
        self.stages_seen.append((event.stage, time.monotonic()))
        n = STAGES.index(event.stage) + 1 if event.stage in STAGES else 0
        self.query_one("#progress-stage", Static).update(
            literal(f"[{n}/{len(STAGES) - 1}] {event.stage}: {event.text}" if n and event.stage != "done"
                    else event.text))
