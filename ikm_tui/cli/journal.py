"""`ikm-tui journal show|finish|undo`: what a killed write left on the token, completed or put back."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ikm_tui.cli.cert import RAW, _say
from ikm_tui.cli.common import add_common, open_token
from ikm_tui.cli.jsonout import add_json, result
from ikm_tui.cli.exitcodes import NOT_FOUND, exit_status
from ikm_tui.core.errors import IkmError, NotFoundError

if TYPE_CHECKING:
    from ikm_tui.cli.common import Subparsers
    from ikm_tui.core.p11.service import TokenService

_EPILOG = ("examples:\n  ikm-tui --token mytoken journal show\n  ikm-tui --token mytoken journal finish\n"
           "  ikm-tui --token mytoken journal undo --json\n\n"
           "A write that was killed (SIGKILL, a crash, a power cut) leaves a journal naming the objects it\n"
           "was creating, deleting or changing, with their old and new values. `finish` completes it,\n"
           "`undo` puts the token back; either reads the token back and removes the journal when the\n"
           "token is whole again. Exit status 3 when the way asked for cannot be reached (a deleted\n"
           "private key cannot come back: use finish), 4 when there is no journal for the token.\n")


def register(sub: Subparsers) -> None:
    p = sub.add_parser("journal", help="show, finish or undo a write that was killed half-way",
                       formatter_class=RAW, description="The token's journal of an interrupted write.",
                       epilog=_EPILOG)
    add_common(p, top=False)
    ps = p.add_subparsers(dest="journal_command", metavar="SUBCOMMAND", required=True)
    for name, text in (("show", "say what the interrupted write did and did not do (changes nothing)"),
                       ("finish", "complete the interrupted write"),
                       ("undo", "put the token back as it was before the interrupted write")):
        q = ps.add_parser(name, help=text, formatter_class=RAW, description=text[0].upper() + text[1:] + ".",
                          epilog=_EPILOG)
        add_common(q, top=False)
        add_json(q, f"journal-{name}")
        q.set_defaults(func=cmd_journal)


def _note(svc: TokenService, slot: int) -> Path:
    from ikm_tui.core import journal
    from ikm_tui.core.p11.backend import Backend
    from ikm_tui.core.tokenlock import token_key

    info = svc.run(Backend.token_info, slot)
    return journal.journal_path(token_key(svc.module_path, info.serial, info.label), create=False)


def _report(args: argparse.Namespace, state: Any) -> None:
    lines = state.lines()
    result(args, command=state.command, started=state.started, state=state.state, steps=lines)
    _say(f"interrupted: `ikm-tui {state.command}` (started {state.started}); the token is {state.state.upper()}"
         + (" it" if state.state in ("before", "after") else ""))
    for line in lines:
        _say(f"  {line}")


def _restore_store(args: argparse.Namespace) -> bool:
    """The token is gone: a run killed inside the module's own write (SoftHSM's C_SetPIN) left its
    store file empty. Put back the copy taken before it; the token is then as it was (old PIN)."""
    from ikm_tui.core import journal

    token = getattr(args, "token", None)
    restored = []
    for note, entry in journal.stranded(token if token and not token.startswith("pkcs11:") else None):
        restored += journal.restore_copies(entry)
        journal.end(note)
    if not restored:
        return False
    result(args, command=None, started=None, state="before", steps=[f"restored {p}" for p in restored])
    _say(f"the token's store file was left empty by a killed write; restored {', '.join(restored)} from the "
         "copy taken before it: the token is as it was BEFORE (the old PIN opens it)")
    return True


def cmd_journal(args: argparse.Namespace) -> int:
    from ikm_tui.core import journal
    from ikm_tui.core.ops import journal_fix

    try:
        svc, slot = open_token(args, login=True)
    except IkmError as err:  # the token is not found (by class or by CKR_TOKEN_NOT_PRESENT)
        if exit_status(err) == NOT_FOUND and args.journal_command != "show" and _restore_store(args):
            return 0
        raise
    note = _note(svc, slot)
    entry = journal.unfinished(note)
    if entry is None:
        result(args, command=None, started=None, state=None, steps=[])
        if args.journal_command == "show":
            _say("no interrupted write on this token")
            return 0
        raise NotFoundError("No interrupted write on this token: there is nothing to finish or undo.",
                            "`ikm-tui journal show` says so too; `ikm-tui cert doctor` looks for leftovers "
                            "other tools made.", operation="Reading the journal")
    if args.journal_command == "show":
        _report(args, svc.run(journal_fix.journal_state, slot, entry))
        _say("`ikm-tui journal finish` completes it; `ikm-tui journal undo` puts the token back.")
        return 0
    do = journal_fix.finish if args.journal_command == "finish" else journal_fix.undo
    state = svc.run(do, slot, entry)
    _report(args, state)
    if state.state in ("before", "after", "unknown"):
        journal.end(note)
        if state.state == "unknown":
            _say("a PIN change is one call: the token holds the old PIN or the new one; log in to see which")
        _say("journal removed")
    return 0
