"""KeyGate: keys typed ahead (one SSH read, a paste) go to the screen the earlier keys opened.

Why this exists: Textual 8.2.8 hands every key to `app.focused or app.screen` the moment the
App's queue reaches it. A non-priority binding (`l`, `n`, `q` ...) runs only later, when the key
has bubbled back up to the App, and our dialogs are pushed later still, from a worker that first
asks the token something. So in the burst `l 1 2 3 4 Enter` the digits reach the main screen
before the PIN dialog exists, and in `l q` the `q` quits the app.

The rule here: after a key that is bound to an action, the following keys are held until that
action has run; if the action pushed a screen or started a worker, they stay held until a new
screen is mounted and has focus (they are then replayed to it, in order) or the worker has ended
without one (they are then replayed to the screen they were typed on). A replayed key goes
through the same rule, so `n abc Tab Tab Tab def` fills the fields the Tabs move to. Workers
that only read the token (r, ctrl+r) are not waited for, so a hung token never swallows `q`,
and no wait lasts longer than 10 s.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from textual import events
from textual.widgets import Input
from textual.worker import Worker

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen


def _text_field(widget: object) -> bool:
    """An Input or a TextArea: the printable keys typed into it are its own."""
    if isinstance(widget, Input):
        return True
    # TextArea (with textual.document: ~10 ms of import) only once a screen that shows one was
    # imported (ui.screens.receive_screen): before that, nothing focused can be a TextArea.
    text_area = sys.modules.get("textual.widgets._text_area")
    return text_area is not None and isinstance(widget, text_area.TextArea)


# Keys whose bindings only move within the current screen: no need to wait for them.
_NO_WAIT_ACTIONS = frozenset({"cursor_up", "cursor_down", "cursor_left", "cursor_right",
                              "page_up", "page_down", "scroll_home", "scroll_end", "select_cursor"})
# How long (seconds) a new screen may take to give focus to a widget before keys go to it anyway.
_FOCUS_WAIT = 0.5
_POLL = 0.01
# Workers that only read the token (r, ctrl+r, opening a token) never open a dialog: the keys
# after them are for the main screen and must not wait for a slow or hung token.
QUIET_GROUPS = frozenset({"tokens", "modules"})
# However long a dialog flow takes before its dialog shows, keys wait at most this long (s).
_WORKER_WAIT = 10.0
# How long a bound key may take to come back up to the App before the keys after it go on.
_SETTLE_WAIT = 1.0


class KeyGate:
    """Holds and replays the App's raw keys; the App calls it from on_event, on_key and run_worker."""

    def __init__(self, app: App[Any], dispatch: Callable[[events.Key], Awaitable[None]]) -> None:
        self.app = app
        self.dispatch = dispatch  # Textual's own handling of a raw key (App.on_event)
        self.backlog: deque[events.Key] = deque()
        self.settling: events.Key | None = None  # the bound key whose action has not run yet
        self.workers: set[Worker[Any]] = set()  # workers that key's action started
        self.screen: Screen[Any] | None = None  # the screen the held keys were typed on
        self.waiting = False  # for a new screen or the workers
        self._since = 0.0  # when the wait began (time.monotonic)

    @property
    def holding(self) -> bool:
        return self.settling is not None or self.waiting or bool(self.backlog)

    async def key(self, event: events.Key) -> None:
        """A raw key from the driver: hold it, or dispatch it now (and maybe start holding)."""
        if self.holding:
            self.backlog.append(event)
            return
        await self._dispatch(event)

    async def _dispatch(self, event: events.Key) -> None:
        app = self.app
        before = app.screen
        bound = app.active_bindings.get(event.key)
        if bound is not None and bound.enabled and bound.binding.action not in _NO_WAIT_ACTIONS \
                and not (event.is_printable and _text_field(app.focused)):
            # (A disabled binding runs nothing; a character typed into a field is the field's.)
            self.settling, self.screen, self.workers = event, before, set()
        await self.dispatch(event)
        if self.settling is event:
            if bound is not None and bound.binding.priority:
                self.key_handled(event)  # a priority binding has run already, in dispatch
            else:  # in case a widget stops the key before it is back at the App
                app.set_timer(_SETTLE_WAIT, lambda: self.key_handled(event))
        elif app.screen is not before and not self.holding:  # e.g. the palette's ctrl+p
            self.screen = before
            self._wait()

    def key_handled(self, event: events.Key) -> None:
        """The key has been through the App's bindings (and their actions have run)."""
        if event is not self.settling:
            return
        self.settling = None
        if self.app.screen is not self.screen or any(not w.is_finished for w in self.workers):
            self._wait()
        else:
            self._release()

    def worker_started(self, worker: Worker[Any]) -> None:
        if self.settling is not None and worker.group not in QUIET_GROUPS:
            self.workers.add(worker)

    def worker_ended(self, worker: Worker[Any]) -> None:
        if worker in self.workers and worker.is_finished:
            self.workers.discard(worker)
            if self.waiting:
                self._check()

    def _wait(self) -> None:
        self.waiting, self._since = True, time.monotonic()
        self._check()

    def _check(self) -> None:
        """Release once a new screen is mounted and focused, or the workers ended without one."""
        if not self.waiting:
            return
        screen = self.app.screen
        waited = time.monotonic() - self._since
        if screen is not self.screen:
            if screen.is_mounted and (screen.focused is not None or waited >= _FOCUS_WAIT):
                self._release()
                return
        elif not any(not w.is_finished for w in self.workers) or waited >= _WORKER_WAIT:
            self._release()
            return
        self.app.set_timer(_POLL, self._check)

    def _release(self) -> None:
        self.waiting = False
        self.workers = set()
        if self.backlog:
            # Through the App's queue, so the replay runs in order with keys still arriving
            # (they join the backlog while it is not empty).
            self.app.call_later(self._replay)

    async def _replay(self) -> None:
        while self.backlog and self.settling is None and not self.waiting:
            await self._dispatch(self.backlog.popleft())
