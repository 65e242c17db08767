"""Labels and DNs we write hold printable text only; invisible separators/joiners are shown escaped
(issue #19 item 7)."""

from __future__ import annotations

import pytest

from ikm_tui.core.errors import IkmError
from ikm_tui.core.labels import MAX_LABEL_CHARS, label_problem
from ikm_tui.core.ops.token_signing import check_new_label
from ikm_tui.core.sanitize import safe_text


@pytest.mark.parametrize("ch, shown", [("\u2028", "\\u2028"), ("\u2029", "\\u2029"), ("\u200d", "\\u200d"),
                                       ("\u200b", "\\u200b"), ("\u202e", "\\u202e"), ("\x9b", "\\x9b")])
def test_invisible_characters_are_shown_escaped(ch: str, shown: str) -> None:
    assert safe_text(f"web{ch}01") == f"web{shown}01"


@pytest.mark.parametrize("label", [
    "web\x1b]0;title\x07", "web\x07", "a\x9b2J", "abc\u202edef", "sep\u2028x", "join\u200dx", "zw\u200bx",
    "x" * (MAX_LABEL_CHARS + 1), "", "   ", b"w\xff".decode("utf-8", "surrogateescape"),
])
def test_labels_we_refuse(label: str) -> None:
    problem = label_problem(label)
    assert problem and "\n" not in problem and len(problem) < 200
    with pytest.raises(IkmError):
        check_new_label(label)


@pytest.mark.parametrize("label", ["web01", "Web 01 – ünïcødé", "日本語ラベル", "a" * MAX_LABEL_CHARS, "[b]x[/b]"])
def test_labels_we_accept(label: str) -> None:
    assert label_problem(label) == ""
    check_new_label(label)


@pytest.mark.parametrize("subject", ["CN=web\x1b[2J", "CN=\\1b\\5d0x", "CN=a\u202e,O=x", "CN=x\\0a", "O=x,CN=\u2028"])
def test_subjects_we_refuse(subject: str) -> None:
    from ikm_tui.core.ops.token_signing import subject_name

    with pytest.raises(IkmError, match="control or invisible"):
        subject_name(subject)
