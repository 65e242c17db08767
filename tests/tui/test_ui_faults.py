"""The TUI under injected faults, on a real SoftHSM token (faults.py wraps the real backend: the
only fake). Issue 6 "injected faults" and issue 5 "lockout guard", as the operator sees them:
lockout walk, removal mid-listing, reinsertion, no token at start, C_Initialize failure, a hung
keygen, SIGHUP on a real pty, and the COUNT_LOW warning on a good login."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import time
from typing import Any

import pkcs11.exceptions as p11x
import pytest
from textual.widgets import Checkbox, Input, Static

from tests.support import faults
from ikm_tui.core.p11.hangup import HANGUP_EXIT
from ikm_tui.core.p11.objects import write_raw_certificate
from ikm_tui.core.p11.service import TokenService, get_service
from ikm_tui.ui.app import make_app
from ikm_tui.ui.screens.confirm_screen import ConfirmScreen
from ikm_tui.ui.widgets.details import DetailsPane
from ikm_tui.ui.screens.error_screen import ErrorScreen
from ikm_tui.ui.screens.help_screen import HelpScreen
from ikm_tui.ui.widgets.object_table import ObjectTable
from ikm_tui.ui.screens.pin_screen import PinScreen
from ikm_tui.ui.widgets.token_activity import TokenActivity
from ikm_tui.ui.flows.token_state import REINSERTED, REMOVED, absent_hints
from ikm_tui.ui.widgets.token_tree import ModuleEntry, TokenTree
from tests.support.fixtures.make_snapshot_token import FIXED_NOW
from tests.support import pty
from tests.tui.test_ui_requests import fill, open_form
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for, wait_for_screen

WRONG = "00000000"
# python-pkcs11 0.10.1 prints "Exception ignored in OperationContext.__del__" when a search
# starts on a dead session (its finaliser calls C_FindObjectsFinal again): upstream, harmless.
UPSTREAM_DEL = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def token_label(app: Any) -> str:
    """The token's line in the tree, badges included, as plain text."""
    tree = app.main_screen.query_one("#tokens", TokenTree)
    ref = app.main_screen.current
    stack = [tree.root]
    while stack:
        node = stack.pop()
        if node.data == ref and node.data is not None and not node.children:
            return str(node.label)
        stack.extend(node.children)
    raise AssertionError("token not in the tree")


def status(app: Any) -> str:
    return str(app.main_screen.query_one("#status", Static).render())


async def open_pin_dialog(pilot: Any) -> PinScreen:
    await pilot.press("l")
    await wait_for_screen(pilot, PinScreen)
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, PinScreen)
    return screen


async def submit_pin(pilot: Any, screen: PinScreen, pin: str) -> None:
    """Type and submit; wait until the login and the flags re-read are back."""
    sent = screen.attempts
    screen.query_one("#pin-input", Input).value = pin
    await pilot.press("enter")
    await pilot.pause()
    if screen.attempts > sent:
        await wait_for(pilot, lambda: not screen.busy)
        await settle(pilot)


def texts(screen: PinScreen) -> tuple[str, str]:
    return (str(screen.query_one("#pin-flags", Static).render()),
            str(screen.query_one("#pin-error", Static).render()))


# ----- 1. lockout walk ------------------------------------------------------------------------
async def test_wrong_pins_walk_count_low_final_try_locked_one_c_login_each(token: Any) -> None:
    plan = faults.FaultPlan().pin_counter(tries=3)
    with faults.installed(token.service, plan):
        app = app_for(token)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert "COUNT LOW" not in token_label(app)
            pin = await open_pin_dialog(pilot)
            assert "none set" in texts(pin)[0]

            await submit_pin(pilot, pin, WRONG)
            flags, error = texts(pin)
            assert plan.login_attempts == 1 and pin.attempts == 1
            assert "CKR_PIN_INCORRECT" in error and "PIN COUNT LOW" in error
            assert "COUNT LOW" in flags  # re-read after the failure and shown
            assert "PIN COUNT LOW" in token_label(app)

            await submit_pin(pilot, pin, WRONG)
            flags, error = texts(pin)
            assert plan.login_attempts == 2
            assert "FINAL TRY" in flags and "next wrong one locks" in error
            assert pin.query_one("#pin-final-try", Checkbox).display
            assert "FINAL TRY" in token_label(app)

            # The warning before the final try: without the box ticked nothing is sent.
            await submit_pin(pilot, pin, WRONG)
            assert plan.login_attempts == 2 and pin.attempts == 2
            assert "tick the box" in texts(pin)[1]

            pin.query_one("#pin-final-try", Checkbox).value = True
            await submit_pin(pilot, pin, WRONG)
            flags, error = texts(pin)
            assert plan.login_attempts == 3
            assert "LOCKED" in flags and "SO PIN / PUK" in error
            assert pin.query_one("#pin-input", Input).disabled
            assert pin.query_one("#pin-ok").disabled
            assert "LOCKED" in token_label(app)

            # Locked: even the right PIN is never sent, from this dialog or a new one.
            pin.query_one("#pin-input", Input).value = token.pin
            pin.submit()
            await pilot.pause()
            assert "no login attempted" in texts(pin)[1]
            await pilot.press("escape")
            await settle(pilot)
            again = await open_pin_dialog(pilot)
            assert "will not try" in texts(again)[0]
            again.query_one("#pin-input", Input).value = token.pin
            again.submit()
            await pilot.pause()
            assert plan.login_attempts == 3
            assert not app.main_screen.listing.logged_in  # type: ignore[union-attr]
            await pilot.press("escape")


# ----- 8. COUNT_LOW on a good login -------------------------------------------------------------
async def test_count_low_warning_on_a_good_login_and_badge_cleared(token: Any) -> None:
    plan = faults.FaultPlan().pin_counter(tries=3)
    assert plan.counter is not None
    plan.counter.left = 2  # someone typed a wrong PIN before this session
    with faults.installed(token.service, plan):
        app = app_for(token)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert "PIN COUNT LOW" in token_label(app)
            pin = await open_pin_dialog(pilot)
            assert "COUNT LOW" in texts(pin)[0]
            await submit_pin(pilot, pin, token.pin)
            await wait_for(pilot, lambda: app.main_screen.listing is not None
                           and app.main_screen.listing.logged_in)
            await settle(pilot)
            assert plan.login_attempts == 1
            warnings = [n for n in app._notifications if n.severity == "warning"]  # noqa: SLF001
            assert any("PIN COUNT LOW" in n.message for n in warnings), warnings
            assert "COUNT LOW" not in token_label(app)  # the good login reset the counter


# ----- 2. removal during listing ----------------------------------------------------------------
@UPSTREAM_DEL
async def test_token_removed_during_listing_shows_error_state_then_rescan(token: Any) -> None:
    for i in range(4):
        token.service.run(write_raw_certificate, token.slot_id, b"\x30\x00", f"c{i}", bytes([i]))
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        main = app.main_screen
        certs = main.query_one("#certs", ObjectTable)
        assert len(certs.handles) == 4
        plan = faults.FaultPlan().remove_token_during_listing(after=2)
        faults.install(token.service, plan)
        try:
            await pilot.press("r")
            await wait_for_screen(pilot, ErrorScreen)
            message = str(app.screen.query_one("#error-message", Static).render())
            assert "CKR_DEVICE_REMOVED" in message and "What to do" in message
            await pilot.press("escape")
            await settle(pilot)
            assert plan.calls["_describe"] == 3  # two objects read, then the token went
            assert REMOVED in status(app)
            # Nothing partial, nothing stale: no listing, empty tables, the error in details.
            assert main.listing is None
            assert certs.row_count == 0 and certs.current_handle() is None
            assert main.query_one("#keys", ObjectTable).row_count == 0
            details = main.query_one("#details", DetailsPane)
            assert not any(f"c{i}" in details.plain_text for i in range(4)) and details.uri is None
            assert not isinstance(app.screen, PinScreen)
            # Still out: a rescan says so again and does not open another token.
            await pilot.press("r")
            await settle(pilot)
            assert REMOVED in status(app) and main.listing is None
            assert not isinstance(app.screen, ErrorScreen)  # a notification this time
            assert any(REMOVED in n.message for n in app._notifications)  # noqa: SLF001
        finally:
            faults.uninstall(token.service)
        # Reinserted: rescan lists everything again.
        await pilot.press("r")
        await settle(pilot)
        assert main.listing is not None
        assert main.listing.token.label == token.label
        assert len(certs.handles) == 4 and REMOVED not in status(app)


# ----- 3. reinsertion: reopen, ask, never a wrong PIN -----------------------------------------
@UPSTREAM_DEL
async def test_reinsertion_reopens_and_asks_before_logging_in_again(token: Any) -> None:
    token.login()
    plan = faults.FaultPlan().pin_counter(tries=3)
    with faults.installed(token.service, plan) as faulty:
        app = app_for(token)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            main = app.main_screen
            assert main.listing is not None and main.listing.logged_in
            await token.service.arun(lambda b: faulty.simulate_reinsertion())
            tree = main.query_one("#tokens", TokenTree)
            tree.focus()
            tree.select_token(main.current)  # type: ignore[arg-type]
            await pilot.press("enter")  # open the token again: its session is dead
            await wait_for_screen(pilot, ConfirmScreen)
            assert REINSERTED in str(app.screen.query_one("#confirm-message", Static).render())
            # Reopened in a public session and listed; nothing sent, no try used.
            assert main.listing is not None and not main.listing.logged_in
            assert plan.login_attempts == 0 and plan.counter is not None and plan.counter.left == 3
            app.screen.query_one("#confirm-yes").press()
            await wait_for_screen(pilot, PinScreen)
            assert plan.login_attempts == 0  # the PIN dialog asks; it sends nothing by itself
            pin = app.screen
            assert isinstance(pin, PinScreen)
            await submit_pin(pilot, pin, token.pin)
            await wait_for(pilot, lambda: main.listing is not None and main.listing.logged_in)
            assert plan.login_attempts == 1 and plan.counter.left == 3


# ----- 4. no token at start ---------------------------------------------------------------------
async def test_token_absent_at_start_shows_empty_state_then_rescan(token: Any) -> None:
    plan = faults.FaultPlan().remove_token()
    faults.install(token.service, plan)
    try:
        app = app_for(token)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            main = app.main_screen
            assert not isinstance(app.screen, ConfirmScreen | PinScreen)
            assert "No token" in status(app) and "press r" in status(app)
            details = main.query_one("#details", DetailsPane).plain_text
            assert "libsofthsm2.so: no initialised token" in details
            assert main.listing is None and main.query_one("#keys", ObjectTable).row_count == 0
            faults.uninstall(token.service)  # plugged in
            await pilot.press("r")
            await settle(pilot)
            assert main.listing is not None and main.listing.token.label == token.label
            assert "No token" not in status(app)
    finally:
        faults.uninstall(token.service)


def test_opensc_without_reader_or_card_names_the_likely_cause() -> None:
    opensc = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
    from ikm_tui.core.model import SlotInfo

    reader = SlotInfo(0, "Nitrokey HSM", "", (), None, opensc)
    assert absent_hints([ModuleEntry(opensc, "given")]) == [
        "opensc-pkcs11.so: no reader: is the Nitrokey plugged in and pcscd running?"]
    assert absent_hints([ModuleEntry(opensc, "given", slots=(reader,))]) == [
        "opensc-pkcs11.so: no card: is the Nitrokey plugged in and pcscd running?"]


# ----- 5. C_Initialize failure ------------------------------------------------------------------
@pytest.mark.parametrize("how", ["C_Initialize fails", "factory raises"])
async def test_module_that_fails_to_initialize_is_shown_and_others_work(token: Any, how: str) -> None:
    broken = "/opt/vendor/lib/libbroken-pkcs11.so"
    own: TokenService | None = None
    if how == "C_Initialize fails":
        plan = faults.FaultPlan().fail_initialize(p11x.GeneralError)
        own = TokenService(broken, backend_factory=faults.faulty_factory(plan))

    def factory(path: str) -> Any:
        if path != broken:
            return get_service(path)
        if own is None:
            raise OSError("libbroken-pkcs11.so: cannot open shared object file")
        return own

    app = make_app(module=None, token=token.label, modules=[broken, token.module],
                   service_factory=factory, clock=lambda: FIXED_NOW)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            main = app.main_screen
            assert not isinstance(app.screen, ConfirmScreen)
            failed = next(e for e in main.entries if e.path == broken)
            assert failed.error is not None and "What to do" in failed.error
            assert ("CKR_GENERAL_ERROR" if own else "cannot open shared object") in failed.error
            tree = main.query_one("#tokens", TokenTree)
            lines = [str(n.label) for n in tree.root.children]
            assert any("libbroken-pkcs11.so" in line and "failed to load" in line for line in lines)
            # The module's node explains in the details pane (cause and what to do).
            tree.focus()
            tree.move_cursor(tree.root.children[0])
            await pilot.pause()
            details = main.query_one("#details", DetailsPane).plain_text
            assert "Loading the module failed" in details and "What to do" in details
            # The other module works: its token is listed.
            assert main.listing is not None and main.listing.token.label == token.label
    finally:
        if own is not None:
            own.close()


# ----- 6. a keygen that hangs ---------------------------------------------------------------------
async def test_hung_keygen_keeps_ui_responsive_shows_queue_and_quits_at_once(token: Any) -> None:
    token.login()
    plan = faults.FaultPlan().hang("session.generate_keypair", seconds=30)
    faults.install(token.service, plan)
    try:
        app = app_for(token)
        quit_took = 0.0
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            main = app.main_screen
            form = await open_form(pilot)
            await fill(pilot, form, label="hung", key_type="ec:p256", subject="CN=hung.example")
            app.simulate_key("ctrl+s")
            await wait_for(pilot, plan.hanging.is_set)
            # Keys are handled while the owner thread hangs: count them.
            handled = 0
            for key, done in (("question_mark", lambda: isinstance(app.screen, HelpScreen)),
                              ("escape", lambda: not isinstance(app.screen, HelpScreen))):
                await pilot.press(key)
                await wait_for(pilot, done, timeout=2)
                handled += 1
            certs = main.query_one("#certs", ObjectTable)
            main.query_one("#tabs").active = "tab-certs"  # type: ignore[attr-defined]
            await pilot.pause()
            assert certs.region.height > 0
            handled += 1
            assert handled == 3 and plan.hanging.is_set()
            # Another operation queues behind the keygen, visibly.
            await pilot.press("ctrl+r")
            activity = main.query_one(TokenActivity)
            await wait_for(pilot, lambda: "queued" in activity.text, timeout=3)
            assert activity.display and activity.region.height == 1
            assert "waiting for token: create_request" in activity.text
            assert "1 queued: rescan" in activity.text, activity.text
            # Quit while the module still hangs: the app does not wait for the owner thread.
            started = time.monotonic()
            await pilot.press("q")
        quit_took = time.monotonic() - started
        assert plan.hanging.is_set(), "the hang ended before the app did: nothing was proven"
        assert quit_took < 1.0, quit_took
        assert app.return_code == 0
    finally:
        plan.release.set()
        faults.uninstall(token.service)


# ----- 7. SIGHUP ------------------------------------------------------------------------------------
async def test_sighup_exits_with_129_and_closes_sessions(token: Any) -> None:
    app = app_for(token)
    closed: list[int] = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app._sighup, "no SIGHUP handler on the loop: sending one would kill pytest"  # noqa: SLF001
        app.close_sessions = lambda: closed.append(1)
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.sleep(0.2)
    assert app.return_code == HANGUP_EXIT and app.hung_up and closed == [1]
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL  # removed with the app


def test_sighup_on_a_pty_restores_terminal_and_closes_sessions(token: Any) -> None:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    env = token.env()
    env.update(TERM="xterm", COLUMNS="120", LINES="36")
    for var in ("IKM_PIN", "TEXTUAL", "TEXTUAL_LOG", "NO_COLOR"):
        env.pop(var, None)
    child = subprocess.Popen(
        [sys.executable, "-m", "ikm_tui", "--module", token.module, "--token", token.label],
        stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True, close_fds=True)
    os.close(slave)
    out = bytearray()
    try:
        pty.read_until(master, out, token.label.encode(), 30)
        pty.read(master, out, 0.5)
        assert b"\x1b[?1049h" in out  # alternate screen on
        mark = len(out)
        child.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while child.poll() is None and time.monotonic() < deadline:
            pty.read(master, out, 0.1)
        pty.read(master, out, 0.3)
        assert child.poll() == HANGUP_EXIT, f"exit status {child.poll()}"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)
        os.close(master)
    tail = bytes(out[mark:])
    assert b"\x1b[?1049l" in tail  # alternate screen off: the terminal was restored
    assert b"ikm-tui: hangup: sessions closed" in tail
    assert b"Traceback" not in out
