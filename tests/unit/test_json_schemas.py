"""The --json schemas: shipped files equal their definitions, are valid JSON Schema, cover every command."""

from __future__ import annotations

import argparse
import json

import pytest
from jsonschema import Draft202012Validator

from ikm_tui.cli import schemadefs
from ikm_tui.cli.jsonout import SCHEMA_DIR, schema_path
from ikm_tui.cli.main import build_parser

# Commands that report nothing a script would parse: they print help text or a script.
NO_JSON = {("completion",), ("help",)}


Leaf = tuple[tuple[str, ...], argparse.ArgumentParser]


def leaves(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[Leaf]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001
    if not subs:
        return [(prefix, parser)]
    out = []
    for name, child in subs[0].choices.items():
        out += leaves(child, (*prefix, name))
    return out


@pytest.mark.parametrize("name", schemadefs.names())
def test_file_is_the_definition_and_a_valid_schema(name: str) -> None:
    text = schema_path(name).read_text(encoding="utf-8")
    assert text == schemadefs.render(name), "run `python -m ikm_tui.cli.schemadefs`"
    Draft202012Validator.check_schema(json.loads(text))


def test_no_stray_schema_files() -> None:
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(schema_path(n).name for n in schemadefs.names())


def test_every_reporting_command_has_json_and_a_schema() -> None:
    for words, parser in leaves(build_parser()):
        if words in NO_JSON:
            continue
        opts = {o for a in parser._actions for o in a.option_strings}  # noqa: SLF001
        assert "--json" in opts, words
        name = parser.get_default("json_schema")
        assert name in schemadefs.names(), words
