"""ObjectTable's cheap column measuring gives exactly the widths Textual's own pass gives."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from ikm_tui.ui.widgets.object_table import ObjectTable
from ikm_tui.ui.text import literal_text

# What token labels and DNs bring: wide CJK, emoji, combining marks, markup-looking text,
# control and bidi characters, a line separator, an empty cell. Raw, some are not printable
# and take Textual's path; through literal_text (as the app shows them) all take ours.
CELLS = ["", "plain", "東京証券取引所", "🔑 key", "e\u0301te\u0301", "[@click=app.quit]", "CN=[/ foo",
         "\x1b]0;pwn\x07\x1b[2J", "abc\u202edef", "\u2028sep", "a\nlonger second line"]


class Tables(App[None]):
    """One ObjectTable and one plain DataTable per cell text, each holding one row."""

    def compose(self) -> ComposeResult:
        for i in range(len(CELLS)):
            yield ObjectTable("keys", id=f"ours-{i}")
            yield DataTable[Text](id=f"plain-{i}")


@pytest.mark.parametrize("raw", [False, True])
async def test_fast_widths_match_textual(raw: bool) -> None:
    app = Tables()
    async with app.run_test(size=(200, 50)) as pilot:
        for i, text in enumerate(CELLS):
            ours = app.query_one(f"#ours-{i}", ObjectTable)
            plain = app.query_one(f"#plain-{i}", DataTable)
            plain.add_columns(*[str(c.label) for c in ours.ordered_columns])
            cell = Text(text) if raw else literal_text(text)
            # The cell in every column but one, whose header is wider than most cells.
            row = [cell, cell, Text(""), cell, cell, cell]
            ours.add_row(*row, key="r")
            plain.add_row(*row, key="r")
        await pilot.pause()
        await pilot.pause()
        for i, text in enumerate(CELLS):
            ours = app.query_one(f"#ours-{i}", ObjectTable)
            plain = app.query_one(f"#plain-{i}", DataTable)
            assert [c.content_width for c in ours.ordered_columns] == \
                [c.content_width for c in plain.ordered_columns], repr(text)
            assert ours.virtual_size == plain.virtual_size, repr(text)
