"""Start-up: token calls queued before Textual loads, used once, first module first, GC back on."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from typing import Any

from ikm_tui.cli import tui as cli
from tests.support import faults
from ikm_tui.core.p11.service import get_service
from ikm_tui.ui.screens.error_screen import ErrorScreen
from ikm_tui.ui.widgets.object_table import ObjectTable
from ikm_tui.ui.widgets.token_tree import TokenRef, TokenTree
from tests.support.ui_helpers import FIXED_NOW, SIZE, settle, wait_for, wait_for_screen

OPENSC = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"

# Records every call queued on a TokenService, and whether Textual was imported by then.
_PROBE = """
import json, sys
from ikm_tui.core.p11 import service
queued = []
submit = service.TokenService._submit
def record(self, name, *args, **kwargs):
    queued.append([name, "textual" in sys.modules])
    return submit(self, name, *args, **kwargs)
service.TokenService._submit = record
from ikm_tui.cli import tui as cli
app = cli.prepare_tui(sys.argv[1], sys.argv[2], modules=[sys.argv[1]])
app.prefetch.mechanisms.result(30)
print(json.dumps({"queued": queued, "prefetch": app.prefetch is not None}))
"""


def test_first_calls_are_queued_before_textual_is_imported(token: Any) -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE, token.module, token.label], env={**os.environ,
                         **token.env()}, capture_output=True, text=True, timeout=60, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["prefetch"]
    startup = ["module_info", "slots", "find_slot", "list_objects", "mechanisms"]
    queued = [(name, textual) for name, textual in seen["queued"] if name in startup]
    assert [name for name, _ in queued] == startup
    # module_info and slots go to the owner thread before `import textual` (find_slot,
    # list_objects and mechanisms follow on the owner thread as each call ends).
    assert dict(queued[:2]) == {"module_info": False, "slots": False}


async def test_the_screen_uses_the_queued_calls_once_and_the_gc_comes_back(token: Any) -> None:
    token.login()
    try:
        app = cli.prepare_tui(token.module, token.label, modules=[token.module], clock=lambda: FIXED_NOW)
        assert not gc.isenabled()  # off while start-up allocates what lives as long as the app
        assert app.prefetch is not None
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            main = app.main_screen
            assert main.listing is not None and main.listing.token.label == token.label
            assert main.listing.logged_in
            assert gc.isenabled()  # the first listing is on screen: collections as usual
            calls = [e.function for e in app.trace_feed.buffer.entries]
            # Each start-up call once, all of them in the Trace pane (traced before it existed).
            for name in ("module_info", "slots", "find_slot", "list_objects", "mechanisms"):
                assert calls.count(name) == 1, (name, calls)
            tree = main.query_one("#tokens", TokenTree)
            assert tree.cursor_node is not None and isinstance(tree.cursor_node.data, TokenRef)
    finally:
        gc.enable()


async def test_the_first_module_opens_without_waiting_for_a_slow_one(token: Any) -> None:
    """OpenSC (or p11-kit-trust) taking its time must not hold back the token asked for."""
    slow = get_service(OPENSC)
    plan = faults.FaultPlan().hang("module_info", seconds=30)
    faults.install(slow, plan)
    try:
        app = cli.prepare_tui(token.module, token.label, modules=[token.module, OPENSC],
                              clock=lambda: FIXED_NOW)
        async with app.run_test(size=SIZE) as pilot:
            main = app.main_screen
            await wait_for(pilot, lambda: main.listing is not None)
            tree = main.query_one("#tokens", TokenTree)
            # Listed and selected while OpenSC still hangs in module_info; only SoftHSM is in the tree.
            assert main.listing is not None and main.listing.token.label == token.label
            assert len(tree.root.children) == 1
            assert isinstance(tree.cursor_node.data, TokenRef) if tree.cursor_node else False
            assert main.query_one("#keys", ObjectTable).row_count == len(
                [o for o in main.listing.objects if o.cls.value != "certificate"])
            plan.release.set()
            await wait_for(pilot, lambda: len(tree.root.children) == 2)
            await settle(pilot)
            # OpenSC joined below; the cursor stayed on the token that is open.
            assert "opensc-pkcs11.so" in str(tree.root.children[1].label)
            assert tree.cursor_node is not None and tree.cursor_node.data == main.current
    finally:
        plan.release.set()
        faults.uninstall(slow)
        gc.enable()


async def test_an_error_on_the_first_module_is_shown_without_waiting_for_a_slow_one(token: Any) -> None:
    import pkcs11.exceptions as p11x

    slow = get_service(OPENSC)
    hang = faults.FaultPlan().hang("module_info", seconds=30)
    fail = faults.FaultPlan().fail("list_objects", p11x.DeviceRemoved, on_call=1)
    faults.install(slow, hang)
    faults.install(token.service, fail)
    try:
        app = cli.prepare_tui(token.module, token.label, modules=[token.module, OPENSC],
                              clock=lambda: FIXED_NOW)
        async with app.run_test(size=SIZE) as pilot:
            screen = await wait_for_screen(pilot, ErrorScreen, timeout=5)
            assert hang.hanging.is_set(), "OpenSC still hangs: the dialog did not wait for it"
            assert "CKR_DEVICE_REMOVED" in str(screen.query_one("#error-message").render())
            tree = app.main_screen.query_one("#tokens", TokenTree)
            hang.release.set()
            await wait_for(pilot, lambda: len(tree.root.children) == 2)
    finally:
        hang.release.set()
        faults.uninstall(slow)
        faults.uninstall(token.service)
        gc.enable()


def test_softhsm_batch_reads_hold_the_gil_and_list_the_same(snapshot_token: Any) -> None:
    """The GIL-holding reads (SoftHSM only) give exactly the listing the releasing ones give."""
    svc = snapshot_token.service
    snapshot_token.login()

    def both(b: Any) -> tuple[Any, Any, bool]:
        real = b  # no faults installed: the real Backend
        assert type(real).__name__ == "Backend"
        held = real.list_objects(snapshot_token.slot_id)
        raw = real._raw_objects  # noqa: SLF001 - which kind of calls the listing used
        flag = raw.hold_gil
        real._raw_objects = type(raw)(real.module_path, hold_gil=False)  # noqa: SLF001
        try:
            released = real.list_objects(snapshot_token.slot_id)
        finally:
            real._raw_objects = raw  # noqa: SLF001
        return held, released, flag

    held, released, flag = svc.run(both)
    assert flag, "SoftHSM (no device I/O) should be read holding the GIL"
    assert held.objects == released.objects and len(held.objects) > 5
    assert held.pairing == released.pairing


async def test_the_gc_comes_back_even_when_the_first_listing_hangs(token: Any, monkeypatch: Any) -> None:
    from ikm_tui.ui import main_screen

    monkeypatch.setattr(main_screen, "STARTUP_GC_LIMIT", 0.3)
    plan = faults.FaultPlan().hang("list_objects", seconds=30)
    faults.install(token.service, plan)
    try:
        app = cli.prepare_tui(token.module, token.label, modules=[token.module], clock=lambda: FIXED_NOW)
        assert not gc.isenabled()
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: plan.hanging.is_set())
            await wait_for(pilot, gc.isenabled, timeout=5)
            assert app.main_screen.listing is None  # still hanging: the GC did not wait for it
            plan.release.set()
            await wait_for(pilot, lambda: app.main_screen.listing is not None)
    finally:
        plan.release.set()
        faults.uninstall(token.service)
        gc.enable()
