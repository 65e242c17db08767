"""Start-up: the first token on screen before the slower modules, the calls the CLI queued, the GC.

MainScreen.load_modules uses these while the app starts: the token the operator asked for
must not wait for p11-kit-trust or OpenSC, and the calls cli.prepare_tui queued before Textual
was imported are taken as they are, without a trip round the event loop when already done.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ikm_tui.core.errors import IkmError
from ikm_tui.core.p11.modules import ModuleCandidate, is_trust_module
from ikm_tui.core.p11.prefetch import StartupPrefetch
from ikm_tui.ui.widgets.token_tree import ModuleEntry, TokenRef, TokenTree
from ikm_tui.ui.workers import start

if TYPE_CHECKING:
    from ikm_tui.ui.flows.host import FlowHost

# load(candidate, first): the module's entry for the tree (an error entry when it fails).
Loader = Callable[[ModuleCandidate, bool], Awaitable[ModuleEntry]]
# find(selector, early): the token --token names, on any loaded module.
Finder = Callable[[str, "StartupPrefetch | None"], Awaitable[TokenRef]]

# gc.freeze() is done once per process, by end_startup_gc.
_heap_frozen = False


def end_startup_gc() -> None:
    """Freeze what start-up allocated (once per process) and turn the cyclic GC back on.

    Why: Textual, Rich, the core and the first listing are ~300k objects that live as long as
    the app; every full collection rescanned them (~25 ms each). cli.prepare_tui turns the GC
    off until the first listing is on screen; frozen then, collections only see what came after.
    """
    global _heap_frozen
    if not _heap_frozen:
        gc.freeze()
        _heap_frozen = True
    gc.enable()


async def open_first_module_first(main: FlowHost, cands: list[ModuleCandidate], load: Loader, find: Finder,
                                  early: StartupPrefetch | None) -> list[ModuleEntry] | None:
    """At start-up, open the token on the first module without waiting for the others.

    The other modules load meanwhile (each on its own thread) and join the tree when they
    are in. Why: p11-kit-trust parsing the CA store or OpenSC waiting for readers must not
    hold back the token the operator asked for. None when done; when the first module does
    not have the token to open, every module's entry (once all are in) for the caller to
    choose from, without asking any module twice.
    """
    tree = main.query_one("#tokens", TokenTree)
    others = [asyncio.ensure_future(load(c, False)) for c in cands[1:]]
    first: ModuleEntry = await load(cands[0], True)
    target = None
    if first.error is None:
        main.entries = [first]
        tree.show_modules([first])
        if main.ikm.token is not None:
            try:
                target = await find(main.ikm.token, early)
            except IkmError:
                target = None  # maybe on another module: the caller asks them all
        else:
            target = tree.first_token()
            if target is not None and is_trust_module(target.module_path):
                target = None  # the system CA list: a keystore on another module comes first
    if target is None:
        return [first, *await asyncio.gather(*others)]
    tree.select_token(target)
    try:
        await main.open_token(target, early)
    except asyncio.CancelledError:
        for task in others:  # a reload took over: it loads every module itself
            task.cancel()
        raise
    except BaseException:
        # The error dialog must not wait for a slow module: the others join on their own.
        start(main, join_modules(main, others), name="join", group="modules")
        raise
    await join_modules(main, others)
    return None


async def join_modules(main: FlowHost, others: Sequence[asyncio.Future[ModuleEntry]]) -> None:
    """Add the modules that loaded after the first one to the tree, below it."""
    shown = main.entries
    rest = list(await asyncio.gather(*others))
    if main.entries is not shown:
        return  # a reload rebuilt the tree meanwhile, with every module in it
    main.entries = [*shown, *rest]
    main.query_one("#tokens", TokenTree).add_modules(rest)


async def outcome(fut: concurrent.futures.Future[Any]) -> Any:
    """A start-up call's result; without a trip round the event loop when it is already in.

    Why: each trip lets Textual lay out and draw a frame first, and at start-up the calls are
    usually done (queued before Textual was imported), so the table can be filled before the
    first frame instead of after two or three.
    """
    if fut.done():
        return fut.result()
    return await asyncio.wrap_future(fut)


async def prefetch_lists(early: StartupPrefetch, ref: TokenRef) -> bool:
    """Whether the start-up chain lists the token `ref` names (so open_token takes its results)."""
    try:
        await outcome(early.info)
        await outcome(early.slot)
    except IkmError:
        return False
    return early.lists(ref.module_path, ref.slot_id)
