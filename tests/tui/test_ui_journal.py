"""Issue #19: the TUI shows, at open, a write on the token that was killed half-way (its journal)."""

from __future__ import annotations

import subprocess
from typing import Any

from ikm_tui.core import journal
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.tokenlock import token_key
from ikm_tui.ui.screens.message_screen import MessageScreen
from tests.support.ui_helpers import SIZE, app_for, settle


async def test_an_unfinished_journal_is_shown_at_open(token: Any) -> None:
    info = token.service.run(Backend.token_info, token.slot_id)
    note = journal.journal_path(token_key(token.service.module_path, info.serial, info.label))
    journal.begin(note, ["cert", "rename", "web", "site"])
    journal.ACTIVE.append(note)
    try:
        journal.intend("rename", [{"do": "set", "cls": "certificate", "label": "web", "id": "01",
                                   "new": {"label": "site"}}])
    finally:
        journal.ACTIVE.clear()
    entry = journal.read(note)
    assert entry is not None
    gone = subprocess.Popen(["true"])
    gone.wait()
    entry["pid"] = gone.pid  # a run that is gone
    journal.write_entry(note, entry)
    try:
        app = app_for(token)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, MessageScreen), screen
            assert "ikm-tui cert rename web site" in screen.plain_text
            assert "journal finish" in screen.plain_text and "journal undo" in screen.plain_text
    finally:
        journal.end(note)
