"""The main screen when the token is not there: no token at start, removed, reinserted.

An operator who pulls a token must never be left looking at the last listing as if it were
current, and a reinsertion must never cost a PIN try: these states say what happened and what
to do (reinsert, press r, log in again when asked).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from textual.widgets import Static

from ikm_tui.core.errors import IkmError, from_exception
from ikm_tui.ui.widgets.details import DetailsPane
from ikm_tui.ui.widgets.mechanism_table import MechanismTable
from ikm_tui.ui.widgets.object_table import ObjectTable
from ikm_tui.ui.widgets.requests_pane import RequestsPane
from ikm_tui.ui.text import literal, plain
from ikm_tui.ui.widgets.token_tree import ModuleEntry, TokenRef, TokenTree

if TYPE_CHECKING:
    from ikm_tui.ui.flows.host import FlowHost

# The token is not there (any more): nothing read from it can be shown as current.
GONE = frozenset({"CKR_DEVICE_REMOVED", "CKR_TOKEN_NOT_PRESENT", "CKR_SLOT_ID_INVALID"})
# The module dropped our sessions (token pulled and reinserted): reopen, then ask about a login.
SESSION_LOST = frozenset({"CKR_SESSION_HANDLE_INVALID", "CKR_SESSION_CLOSED"})

REMOVED = "token removed – reinsert and press r"
REINSERTED = "token was reinserted: log in again?"


def load_failure(exc: Exception) -> str:
    """What a module that could not even start says in the tree: cause and what to do."""
    err = from_exception(exc, "Loading the module")
    step = err.next_step or ("Check the module file and that it is a PKCS#11 library for this "
                             "machine (`ikm-tui tokens` shows what loads); the other modules still work.")
    return str(IkmError(err.cause, step, err.ckr_name, err.ckr_code, err.operation))


def clear_token_panes(main: FlowHost) -> None:
    """Empty every pane that shows the token's contents, so nothing stale stays selected."""
    main.listing = None
    for table_id in ("#keys", "#certs"):
        main.query_one(table_id, ObjectTable).clear_objects()
    main.query_one("#requests", RequestsPane).show([])
    mechanisms = main.query_one("#mechanisms", MechanismTable)
    mechanisms.show([])
    mechanisms.pending = None  # nothing to read for a token no longer shown


def show_removed(main: FlowHost, ref: TokenRef, err: IkmError | None) -> None:
    """The token went away (mid-listing or before): error state, empty panes, rescan to recover.

    `main.current` keeps the token, so a rescan after reinsertion opens it again rather than
    whichever token happens to be first. With `err` the caller raises it next (error dialog);
    without, a rescan found the token still out and a notification says so.
    """
    clear_token_panes(main)
    main.current = ref
    slot = main.query_one("#tokens", TokenTree).slot_info(ref)
    label = slot.token.label if slot is not None and slot.token is not None else f"slot {ref.slot_id}"
    main.query_one("#status", Static).update(
        literal(f"{label}: {REMOVED}", "bold red"))
    notes = str(err).splitlines() if err is not None else []  # details notes are one line each
    main.query_one("#details", DetailsPane).show(
        f"{label}: {REMOVED}", [("module", ref.module_path), ("slot", str(ref.slot_id))],
        notes, None, warn=notes)
    if err is None:
        main.notify(f"{label}: {REMOVED}", title="Token removed", severity="error", markup=False)


def absent_hints(entries: Sequence[ModuleEntry]) -> list[str]:
    """One line per module saying why it shows no token, with the step to take."""
    lines: list[str] = []
    for entry in entries:
        name = os.path.basename(entry.path)
        if entry.error is not None:
            lines.append(f"{name}: failed to load: {entry.error.splitlines()[0]}")
        elif "opensc" in name.lower():
            # OpenSC shows one slot per reader: none means no reader, empty ones mean no card.
            what = "no reader" if not entry.slots else "no card"
            lines.append(f"{name}: {what}: is the Nitrokey plugged in and pcscd running?")
        else:
            present = [s for s in entry.slots if s.token is not None and s.token.initialized]
            if not present:
                lines.append(f"{name}: no initialised token in {len(entry.slots)} slot(s)")
    return lines


def show_absent(main: FlowHost, entries: Sequence[ModuleEntry], err: IkmError | None = None) -> None:
    """No token to open at all (or not the one asked for with --token): an empty state that says
    so, per module, and that r rescans."""
    clear_token_panes(main)
    main.current = None
    hints = absent_hints(entries)
    if err is not None:
        hints[:0] = str(err).splitlines()
    main.query_one("#status", Static).update(
        literal("No token: plug one in and press r to rescan", "bold yellow"))
    main.query_one("#details", DetailsPane).show(
        "No token", [("modules", ", ".join(e.path for e in entries) or "none")], hints, None,
        warn=hints)


async def offer_relogin(main: FlowHost, ref: TokenRef) -> None:
    """After a reinsertion: ask before logging in again. Nothing is sent until the operator says
    yes, and then only through the PIN dialog (one C_Login per submit, like any login)."""
    # Here, not at the top: a dialog (Checkbox, Input) the first screen does not show.
    from ikm_tui.ui.screens.confirm_screen import ConfirmScreen

    again = await main.app.push_screen_wait(ConfirmScreen(
        "Token reinserted", f"{REINSERTED}\n\nThe module dropped the session (the token was pulled "
        "and put back). Private objects are hidden until you log in. No PIN was sent and no PIN "
        "try was used.", yes="Log in", no="Not now"))
    if again and main.current == ref:
        # After the confirmation has left the screen stack: pushing the PIN dialog while the
        # dismissal is still pending would let that pop take the PIN dialog instead.
        main.call_after_refresh(main.action_toggle_login)


_JOURNALS_SHOWN: set[str] = set()


async def check_journal(main: FlowHost, ref: TokenRef) -> None:
    """At open: a write on this token that was killed half-way (its journal, core/journal.py) is
    shown once, with how far it got; logged in, the operator can finish or undo it here."""
    from ikm_tui.core import journal
    from ikm_tui.core.p11.backend import Backend
    from ikm_tui.core.tokenlock import token_key

    svc = main.ikm.service_for(ref.module_path)
    info = await svc.arun(Backend.token_info, ref.slot_id)
    key = token_key(svc.module_path, info.serial, info.label)
    note = journal.journal_path(key, create=False)
    entry = journal.unfinished(note)
    if entry is None or key in _JOURNALS_SHOWN:
        return
    if not (main.listing is not None and main.listing.logged_in):
        # Private keys are hidden: the state cannot be judged yet. The dialog comes after login.
        main.notify(plain(journal.advice(entry) + " Log in (l) to finish or undo it here."),
                    title="Interrupted write on this token", severity="warning", timeout=30, markup=False)
        return
    # Only now: journal_fix (core.p11.objects, asn1crypto) and the dialog are ~15 ms of import,
    # which every token opened paid right after its first listing when they were at the top.
    from ikm_tui.core.ops import journal_fix
    from ikm_tui.ui.screens.journal_screen import JournalScreen

    _JOURNALS_SHOWN.add(key)
    lines = [journal.advice(entry)]
    if journal.has_steps(entry):
        state = await svc.arun(journal_fix.journal_state, ref.slot_id, entry)
        lines.append(f"The token is {state.state.upper()}:")
        lines += [f"  {line}" for line in state.lines()]
    choice = await main.app.push_screen_wait(JournalScreen("\n".join(lines), can_act=journal.has_steps(entry)))
    if choice is None:
        return
    await _repair_from_journal(main, ref, note, entry, choice)


async def _repair_from_journal(main: FlowHost, ref: TokenRef, note: Any, entry: dict[str, Any], way: str) -> None:
    import asyncio

    from ikm_tui.core import journal
    from ikm_tui.core.ops import journal_fix
    from ikm_tui.core.tokenlock import TokenLock
    from ikm_tui.core.tokenlock import lock_dir

    svc = main.ikm.service_for(ref.module_path)
    lock = TokenLock(lock_dir() / f"{note.stem}.lock")  # the lock a CLI writer of this token takes
    await asyncio.to_thread(lock.acquire, timeout=30.0)
    try:
        state = await svc.arun(journal_fix.finish if way == "finish" else journal_fix.undo, ref.slot_id, entry)
        if state.state in ("before", "after", "unknown"):
            journal.end(note)
    finally:
        lock.release()
    await main.open_token(ref)
    main.notify(plain(f"Journal {way}: the token is {state.state.upper()} the interrupted write."),
                title="Interrupted write", markup=False)
