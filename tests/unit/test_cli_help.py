"""Every command's --help has examples; completion scripts and help topics come from the parser."""

from __future__ import annotations

import pytest

from ikm_tui.cli.main import build_parser
from tests.unit.test_json_schemas import leaves


@pytest.mark.parametrize("words", [w for w, _ in leaves(build_parser())], ids=" ".join)
def test_help_has_examples(words: tuple[str, ...]) -> None:
    parser = dict(leaves(build_parser()))[words]
    text = parser.format_help()
    assert "examples:" in text, words
    examples = text.split("examples:", 1)[1]
    assert "ikm-tui " in examples and words[-1] in examples, words
