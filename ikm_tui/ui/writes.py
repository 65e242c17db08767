"""Token writes from the TUI: one writer per token, a journal, and SIGTERM/SIGHUP held until done.

The CLI does the same in cli/common.open_token and cli/hold.py. Here each write is one awaited
call on the owner thread (`arun`): the per-token lock file is taken first (so a CLI and the TUI
never write the same token at once, and the label checks see each other's writes), the journal
note is begun (core/journal.py; the operation records its intent in it), and while the call
runs a SIGTERM or SIGHUP only marks itself: the app leaves when the write and its read-back are
done. A second signal leaves at once (the journal note stays, `ikm-tui journal` finishes it).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ikm_tui.core import journal
from ikm_tui.core.errors import RefusedError
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.sanitize import safe_text
from ikm_tui.core.tokenlock import TokenLock, lock_path

if TYPE_CHECKING:
    from ikm_tui.core.p11.service import TokenService

R = TypeVar("R")


class WriteGuard:
    """Process-wide count of token writes in flight, and the signal that waits for them."""

    def __init__(self) -> None:
        self.active = 0
        self.pending: int | None = None
        self.on_release: Callable[[int], None] | None = None  # the app's exit, with 128 + signum

    def hold(self, signum: int) -> bool:
        """At a signal: True when a write is running (the signal now waits for it)."""
        if not self.active:
            return False
        if self.pending is not None:
            os._exit(128 + signum)  # the second one: the journal note stays for the next run
        self.pending = signum
        return True

    def _done(self) -> None:
        if self.active or self.pending is None:
            return
        signum, self.pending = self.pending, None
        if self.on_release is not None:
            self.on_release(signum)

    async def arun(self, svc: TokenService, slot_id: int, what: str, fn: Callable[..., R],
                   *args: Any, **kwargs: Any) -> R:
        """svc.arun(fn, slot_id, *args, **kwargs) as one guarded token write named `what`."""
        info = await svc.arun(Backend.token_info, slot_id)
        lock = TokenLock(lock_path(svc.module_path, info.serial, info.label))
        await asyncio.to_thread(lock.acquire, timeout=30.0)
        self.active += 1
        note = None
        try:
            note = journal.journal_path(lock.path.stem)
            left = journal.unfinished(note)
            if left is not None and journal.has_steps(left):
                note = None  # not ours: it stays for `ikm-tui journal`
                raise RefusedError(f"An earlier `ikm-tui {safe_text(journal.command_of(left))}` was stopped "
                                   "half-way on this token; nothing was changed.",
                                   "Run `ikm-tui journal show`, then `journal finish` or `journal undo`.")
            journal.begin(note, ["tui", what])
            # The note travels with this call (a context variable the owner thread runs it
            # in): a write to another token at the same time records into its own note.
            with journal.recording(note):
                return await svc.arun(fn, slot_id, *args, **kwargs)
        finally:
            if note is not None:
                journal.end(note)
            lock.release()
            self.active -= 1
            self._done()


GUARD = WriteGuard()
