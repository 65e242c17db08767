"""IkmApp and make_app(): the one factory the CLI, the tests and the demo use to build the TUI."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from textual import events, on
from textual.app import App
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, SystemModalScreen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from ikm_tui.core.p11 import hangup
from ikm_tui.core.errors import IkmError
from ikm_tui.core.pin import Pin
from ikm_tui.core.text import plain_terminal
from ikm_tui.core.p11.modules import ModuleCandidate, canonical, discover
from ikm_tui.core.p11.prefetch import StartupPrefetch
from ikm_tui.core.p11.trace import TraceFeed
from ikm_tui.ui import navigation
from ikm_tui.ui.commands import IkmCommands
from ikm_tui.ui.screens.error_screen import ErrorScreen
from ikm_tui.ui.screens.help_screen import HelpScreen
from ikm_tui.ui.main_screen import MainScreen
from ikm_tui.ui.messages import DeleteRequest, ResignRequest, SaveRequest
from ikm_tui.core.sanitize import safe_text
from ikm_tui.ui.text import plain
from ikm_tui.ui.typeahead import KeyGate
from ikm_tui.ui.writes import GUARD
from ikm_tui.ui.widgets.requests_pane import RequestsPane
from ikm_tui.ui.widgets.trace_pane import TracePane

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class IkmApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "ikm-tui"
    # Below 110 columns the details pane moves under the tables (see app.tcss): 80×24 must work.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    COMMANDS = App.COMMANDS | {IkmCommands}
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="app.help", tooltip="Keys, markers and pairing explained"),
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Leave ikm-tui (logs out of every token)"),
        Binding("tab", "app.focus_next", "Next pane", id="app.focus_next", show=False,
                tooltip="Move focus to the next pane"),
        Binding("shift+tab", "app.focus_previous", "Previous pane", id="app.focus_previous", show=False,
                tooltip="Move focus to the previous pane"),
        Binding("E", "all_tokens", "All tokens", id="app.all_tokens", show=False,
                tooltip="Every certificate on every token of every module and remote, soonest first"),
        *navigation.BINDINGS,
    ]

    def __init__(self, module: str | None, token: str | None, demo_pin: str | None,
                 service_factory: Callable[[str], Any], clock: Clock,
                 modules: Sequence[str] | None = None, timings: bool = True,
                 pin_store: Any = None, trace_feed: TraceFeed | None = None,
                 prefetch: StartupPrefetch | None = None, login_pin: Pin | None = None,
                 ascii_only: bool = False) -> None:
        # Plain terminal (C locale, vt100): only ASCII is written (ui.ascii_driver), with ASCII
        # borders (the -ascii class in app.tcss). Headless runs (tests) ignore driver_class.
        super().__init__(driver_class=_ascii_driver() if ascii_only else None)
        self.ascii_only = ascii_only
        if ascii_only:
            self.add_class("-ascii")
        # IKM_PIN / --pin-file, read by the CLI: one login at start-up (ui.flows.cli_login), then None.
        self.login_pin = login_pin
        # core.pinstore.PinStore, made on first login (probing the OS keyring can be slow).
        self.pin_store = pin_store
        self.module = module
        self.token = token
        self.demo_pin = demo_pin
        self.service_factory = service_factory
        self.clock = clock
        self._modules = list(modules) if modules is not None else None
        # Given by the CLI when it queued the first token calls before loading Textual
        # (core.prefetch): the feed then already holds those calls for the Trace pane.
        self.trace_feed = trace_feed or TraceFeed()
        self.prefetch = prefetch
        self._checked_leaks: set[str] = set()
        self.timings = timings  # durations in the Trace pane (off for snapshots)
        self.services: list[Any] = []  # every service this app used, for the activity line
        self.hung_up = False
        self._sighup = False
        # What SIGHUP closes before the terminal is restored; the tests replace it.
        self.close_sessions: Callable[[], None] = lambda: hangup.close_sessions(wait=1.0)
        self.main_screen = MainScreen()
        self.key_gate = KeyGate(self, self._dispatch_key)  # type-ahead goes to the dialog it opened (ui.typeahead)

    # ----- type-ahead (ui.typeahead) ----------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            await self.key_gate.key(event)
            return
        # Pasted text is untrusted too (a clipboard can hold a label copied from a hostile
        # token): escaped before any Input or TextArea holds it and draws its bytes on the pty.
        if isinstance(event, events.Paste) and not event.is_forwarded:
            event.text = safe_text(event.text, multiline=True)
        await super().on_event(event)

    async def _dispatch_key(self, event: events.Key) -> None:
        await super().on_event(event)

    def on_key(self, event: events.Key) -> None:
        # Called before App._on_key runs the bindings (handlers go down the MRO, ours first):
        # the callback runs once this key has been handled, bindings and actions included.
        self.call_later(self.key_gate.key_handled, event)

    def push_screen(self, screen: Any, *args: Any, **kwargs: Any) -> Any:
        """Every dialog gets a footer of its own keys: the main screen's, showing through below
        a dialog, listed keys that do nothing there (issue #14)."""
        result = super().push_screen(screen, *args, **kwargs)
        top = self.screen
        if isinstance(top, ModalScreen) and not isinstance(top, SystemModalScreen):
            top.call_after_refresh(_add_footer, top)
        return result

    def run_worker(self, *args: Any, **kwargs: Any) -> Any:
        worker = super().run_worker(*args, **kwargs)
        self.key_gate.worker_started(worker)
        return worker

    def on_mount(self) -> None:
        try:
            self._sighup = hangup.install_loop_handler(asyncio.get_running_loop(), self._hangup)
            # SIGTERM used to end the process wherever it was, a token write included.
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self._terminate)
        except (RuntimeError, ValueError, NotImplementedError):  # not the main thread: no signals here
            self._sighup = False
        GUARD.on_release = self._signal_exit
        self.push_screen(self.main_screen)

    def _hangup(self) -> None:
        """Terminal gone (SSH dropped, window closed): leave through Textual's normal exit, which
        restores the terminal, and close the token sessions on the way (on_unmount). During a
        token write (ui/writes.py) it waits for the write and its read-back first."""
        self.hung_up = True
        if not GUARD.hold(signal.SIGHUP):
            self._signal_exit(signal.SIGHUP)

    def _terminate(self) -> None:
        if GUARD.hold(signal.SIGTERM):
            self.notify("SIGTERM: finishing the token write first (send it again to stop at once).",
                        severity="warning", markup=False)
        else:
            self._signal_exit(signal.SIGTERM)

    def _signal_exit(self, signum: int) -> None:
        self.exit(128 + signum, return_code=128 + signum)

    # ----- token services ---------------------------------------------------------------------
    def module_candidates(self) -> list[ModuleCandidate]:
        if self._modules is not None:
            return [ModuleCandidate(p, "given") for p in self._modules]
        return discover(self.module)

    def service_for(self, module_path: str) -> Any:
        """The module's TokenService (one owner thread per module for the whole process)."""
        svc = self.service_factory(module_path)
        if not any(s is svc for s in self.services):
            self.services.append(svc)
        self.trace_feed.attach(svc)
        if canonical(module_path) not in self._checked_leaks:
            self._checked_leaks.add(canonical(module_path))
            self._warn_leaky_module(module_path)
        return svc

    def _warn_leaky_module(self, module_path: str) -> None:
        """pkcs11-spy, p11-kit's call log and OpenSC debug write the PIN in clear: say so first."""
        from ikm_tui.core.p11.trace import trace_warnings

        warnings = trace_warnings(module_path)
        if not warnings:
            return
        try:
            pane = self.main_screen.query_one(TracePane)
        except NoMatches:
            pass  # not composed yet: the notification below still tells
        else:
            pane.show_warnings([*pane.warnings, *warnings])
        for warning in warnings:
            self.notify(plain(warning), title="This module logs PINs", severity="warning",
                        markup=False, timeout=30)

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every notification (screens' notify() lands here) through the one escaping path:
        labels and token text in a message or title are never markup and never control bytes."""
        super().notify(plain(message), title=plain(title), severity=severity, timeout=timeout, markup=False)

    def on_unmount(self) -> None:
        # The services are process-wide; this app's trace buffer must not outlive it.
        self.trace_feed.detach_all()
        if self._sighup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
        if self.hung_up:
            # Log out before the process goes: a hung module is abandoned after a second
            # (its thread is a daemon), so a dead terminal never keeps the process alive.
            self.close_sessions()

    # ----- errors -----------------------------------------------------------------------------
    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """Every token worker belongs to the App (ui.workers.start): its failures end up here."""
        if event.state is not WorkerState.ERROR:
            self.key_gate.worker_ended(event.worker)
            return
        err = event.worker.error
        if isinstance(err, IkmError):
            title = f"{err.operation} failed" if err.operation else "Token error"
            message = str(err)
        else:
            title = "Unexpected error"
            message = f"{type(err).__name__}: {err}\n(please report it with the steps that led here)"
        self.push_screen(ErrorScreen(title, plain(message)))
        self.key_gate.worker_ended(event.worker)  # the held keys go to this dialog

    def _fatal_error(self) -> None:
        """Textual's crash screen, without local variables.

        Textual 8.2.8 always renders this traceback with every frame's local variables and
        offers no switch; a PIN (or anything else secret) in any frame's locals would be
        printed to the terminal and its scrollback. This is the same rendering with locals
        off. Textual is pinned exactly; tests/tui/test_ui_app.py checks both that plain Textual
        still shows locals (so this override is still needed) and that ours does not.
        """
        import rich
        from rich.segment import Segments
        from rich.traceback import Traceback

        self.bell()
        traceback = Traceback(width=None, suppress=[rich])  # rich shows no locals by default
        self._exit_renderables.append(Segments(self.console.render(traceback, self.console.options)))
        self._close_messages_no_wait()

    # ----- actions ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Under a dialog, q/? must not quit or stack help; the dialog's own keys apply.
        if action in ("quit", "help") and isinstance(self.screen, ModalScreen):
            return False
        if action in navigation.ACTIONS and self.screen is not self.main_screen:
            return False  # 1-5, [ ], /, o belong to the main screen: in a dialog they are typing
        return True

    # Keyboard navigation (ui.navigation).
    def action_tab(self, index: int) -> None:
        navigation.show_tab(self.main_screen, index)

    def action_next_tab(self, step: int) -> None:
        navigation.next_tab(self.main_screen, step)

    def action_filter(self) -> None:
        navigation.filter_table(self.main_screen)

    def action_expiry_order(self) -> None:
        navigation.expiry_order(self.main_screen)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_all_tokens(self) -> None:
        from ikm_tui.core.p11.modules import is_trust_module
        from ikm_tui.ui.screens.expiry_screen import ExpiryScreen

        # The system CA list is no keystore: its hundred CAs would bury the operator's own.
        cands = [c for c in self.module_candidates() if not is_trust_module(c.path)]
        self.push_screen(ExpiryScreen(cands, self.service_for, self.clock))

    # Palette entries reach the main screen's actions through these.
    def action_toggle_login(self) -> None:
        self.main_screen.action_toggle_login()

    def action_refresh(self) -> None:
        self.main_screen.action_refresh()

    def action_rescan(self) -> None:
        self.main_screen.action_rescan()

    def action_copy_uri(self) -> None:
        self.main_screen.action_copy_uri()

    def action_new_request(self) -> None:
        self.main_screen.action_new_request()

    def action_new_self_signed(self) -> None:
        self.main_screen.action_new_self_signed()

    def action_manage(self, what: str) -> None:
        self.main_screen.action_manage(what)

    def action_issue_certificate(self) -> None:
        self.main_screen.action_issue_certificate()

    # The pending-request entries ask as the Requests pane's keys do, about its selected row.
    def action_save_request(self) -> None:
        self.main_screen.post_message(SaveRequest(self._selected_request()))

    def action_delete_request(self) -> None:
        self.main_screen.post_message(DeleteRequest(self._selected_request()))

    def action_recreate_request(self) -> None:
        self.main_screen.post_message(ResignRequest(self._selected_request()))

    def _selected_request(self) -> str | None:
        return self.main_screen.query_one("#requests", RequestsPane).current_label()


async def _add_footer(screen: ModalScreen[Any]) -> None:
    if screen.is_attached and not screen.query(Footer):
        await screen.mount(Footer(show_command_palette=False))
        screen.refresh_bindings()  # a footer fills itself when the bindings change, not on mount


def _ascii_driver() -> Any:
    import sys

    if sys.platform == "win32":
        return None  # Windows terminals speak UTF-16 to the console: nothing to translate
    from ikm_tui.ui.ascii_driver import AsciiDriver

    return AsciiDriver


def make_app(module: str | None, token: str | None, demo_pin: str | None = None, *,
             service_factory: Callable[[str], Any] | None = None, clock: Clock | None = None,
             modules: Sequence[str] | None = None, theme: str = "textual-dark",
             timings: bool = True, pin_store: Any = None, trace_feed: TraceFeed | None = None,
             prefetch: StartupPrefetch | None = None, login_pin: Pin | None = None,
             ascii_only: bool | None = None) -> IkmApp:
    """Build the TUI. The CLI passes module/token/demo_pin; tests also inject a fixed `clock`
    (validity and expiry shown on screen) and `modules` (only these, not every module the
    machine has registered), so snapshots do not depend on the machine or the date; and
    `timings=False` (no call durations in the Trace pane), and a `pin_store` (core.pinstore)
    instead of the OS keyring. `trace_feed` and `prefetch` come from cli.prepare_tui, which
    queues the first token calls before Textual is imported. `login_pin` (IKM_PIN / --pin-file)
    logs in once to the token opened at start-up. `ascii_only` (None: detect the locale and
    TERM, core.text.plain_terminal) draws with ASCII only.
    """
    if service_factory is None:
        from ikm_tui.core.p11.service import get_service

        service_factory = get_service
    app = IkmApp(module, token, demo_pin, service_factory, clock or _utc_now, modules, timings, pin_store,
                 trace_feed, prefetch, login_pin,
                 plain_terminal.ascii_only() if ascii_only is None else ascii_only)
    app.theme = theme
    return app
