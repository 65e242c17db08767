"""Reading argv before argparse: which command it is (so only that command's module is imported),
and the command's own words (what the journal note repeats)."""

from __future__ import annotations

from collections.abc import Sequence

# Top-level options (add_common(top=True)) that take a value, and those that take none.
_TOP_VALUE_OPTIONS = ("--module", "--token", "--pin-file", "--trace")
_TOP_FLAGS = ("--login", "--show-command", "--confirm-final-try")


def command_word(argv: Sequence[str]) -> str | None:
    """The subcommand argparse will dispatch `argv` to, "" for none (the TUI), or None when that
    cannot be told for sure without the full parser (help, --version, anything unexpected)."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _TOP_VALUE_OPTIONS:
            i += 2
        elif arg.split("=", 1)[0] in _TOP_VALUE_OPTIONS or arg in _TOP_FLAGS:
            i += 1
        elif arg.startswith("-"):
            return None
        else:
            return arg
    return "" if i == len(argv) else None


def command_words(argv: list[str]) -> list[str]:
    """argv without the token selection and file options: what the journal note repeats."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _TOP_VALUE_OPTIONS:
            skip = True
        elif arg.split("=", 1)[0] not in _TOP_VALUE_OPTIONS and arg not in _TOP_FLAGS:
            out.append(arg)
    return out
