"""Issue #19: at open the TUI shows a write on the token that was killed half-way (its journal),
how far it got, and finishes or undoes it on request."""

from __future__ import annotations

from typing import Any

import pytest

from ikm_tui.cli.main import main
from ikm_tui.core import journal
from ikm_tui.core.ops import rename as rename_ops
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.tokenlock import token_key
from ikm_tui.ui.screens.journal_screen import JournalScreen
from tests.support.ui_helpers import SIZE, app_for, wait_for, wait_for_screen
from tests.token.test_journal import AFTER, BEFORE, _cut, _labels


@pytest.mark.parametrize("way", ["finish", "undo"])
async def test_a_half_done_rename_is_shown_at_open_and_finished_or_undone(token: Any, way: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IKM_PIN", token.pin)
    assert main(["--module", token.module, "--token", token.label, "cert", "create", "--label", "web",
                 "--key-type", "ec:p256", "--subject", "CN=web"]) == 0
    token.login()
    plan = token.service.run(rename_ops.plan_rename, token.slot_id, "web", "site")
    _cut(token, rename_ops.apply_rename, plan, on_call=2)
    half = _labels(token)
    assert half not in (BEFORE, AFTER)
    info = token.service.run(Backend.token_info, token.slot_id)
    note = journal.journal_path(token_key(token.service.module_path, info.serial, info.label))
    assert note.exists()
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_screen(pilot, JournalScreen)
        text = screen.plain_text
        assert "PARTIAL" in text and ": done" in text and ": not done" in text, text
        assert "journal finish" in text and "journal undo" in text
        await pilot.click(f"#journal-{way}")
        await wait_for(pilot, lambda: not note.exists(), 15)
    assert _labels(token) == (AFTER if way == "finish" else BEFORE)
