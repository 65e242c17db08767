"""The reduced parser main() builds for `list`, `tokens`, `demo` and the TUI parses exactly as the
full one (it only leaves out the commands of command_table())."""

from __future__ import annotations

import contextlib
import io

import pytest

from ikm_tui.cli.main import CORE_COMMANDS, build_parser, command_word

SAME = [
    [], ["list"], ["list", "--json"], ["--module", "m.so", "--token", "T", "list", "--json"],
    ["--module=m.so", "list", "--login", "--token", "x"], ["--token", "list", "tokens", "--json"],
    ["tokens"], ["--login", "--show-command", "list"], ["demo", "--no-tui"], ["--module", "m.so"],
    ["list", "-h"], ["list", "--bogus"], ["--token", "-x", "list"], ["tokens", "extra"],
    ["--confirm-final-try", "--trace", "t.log", "--pin-file", "p", "list"],
]


def _parse(argv: list[str], full: bool) -> tuple[object, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result: object = vars(build_parser(command_modules=full).parse_args(argv))
        except SystemExit as exc:
            result = ("exit", exc.code)
    return result, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv", SAME, ids=[" ".join(a) or "(none)" for a in SAME])
def test_reduced_parser_parses_like_the_full_one(argv: list[str]) -> None:
    word = command_word(argv)
    assert word == "" or word in CORE_COMMANDS
    assert _parse(argv, full=False) == _parse(argv, full=True)


@pytest.mark.parametrize("argv", [["-h"], ["--version"], ["cert", "lint", "x.pem"], ["explain", "0xA0"],
                                  ["--trace"], ["--module", "m", "--", "list"], ["lsit"]])
def test_anything_else_takes_the_full_parser(argv: list[str]) -> None:
    word = command_word(argv)
    assert word is None or word not in ("", *CORE_COMMANDS)
