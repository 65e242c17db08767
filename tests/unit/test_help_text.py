"""The help text fits its dialog at 80 and 120 columns: no line wraps mid-sentence (issue #14 item 5)."""

from __future__ import annotations

from ikm_tui.ui.screens.help_screen import HELP, HELP_WIDTH


def test_no_help_line_is_wider_than_the_dialog() -> None:
    wide = [line for line in HELP.splitlines() if len(line) > HELP_WIDTH]
    assert wide == []
