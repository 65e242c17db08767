"""The command table in cli/main.py: each entry adds the command it names, and the fast path
(`list`, `tokens`, `demo`, the TUI) imports none of the command modules."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from ikm_tui.cli.main import CORE_COMMANDS, build_parser, command_table


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    return list(sub.choices)


@pytest.mark.parametrize("name", list(command_table()))
def test_each_entry_adds_the_command_it_names(name: str) -> None:
    parser = argparse.ArgumentParser()
    command_table()[name](parser.add_subparsers())
    assert _commands(parser) == [name]


def test_the_full_parser_has_exactly_the_table() -> None:
    assert _commands(build_parser()) == [*CORE_COMMANDS, *command_table()]
    assert _commands(build_parser(command_modules=False)) == list(CORE_COMMANDS)


def test_the_fast_path_imports_no_command_module() -> None:
    code = (
        "import sys\n"
        "from ikm_tui.cli.main import build_parser\n"
        "build_parser(command_modules=False).parse_args(['list', '--json'])\n"
        "cli = sorted(n for n in sys.modules if n.startswith('ikm_tui.cli.'))\n"
        "assert cli == ['ikm_tui.cli.argv', 'ikm_tui.cli.common', 'ikm_tui.cli.exitcodes', 'ikm_tui.cli.jsonout',\n"
        "               'ikm_tui.cli.main'], cli\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
