"""Opening the TUI from the command line: the one place the CLI reaches into ikm_tui.ui.

Textual is imported only here and only once the first token calls are queued, so scripted
commands never pay for it and the TUI's first listing runs while Textual loads.
"""

from __future__ import annotations

import gc
import sys
from typing import Any


NO_TERMINAL = ("ikm-tui: the TUI needs a terminal on stdin and stdout; in scripts use "
               "`ikm-tui list` (add --json for machine-readable output).")


def prepare_tui(module: str | None, token: str | None, demo_pin: str | None = None, **app_options: Any) -> Any:
    """The TUI app, with its first token calls already queued on the module's owner thread.

    Why first: importing Textual and drawing the first frame is ~0.4 s of Python; SoftHSM's
    C_Initialize (it reads every object file, GIL released) and the listing run beside it on
    the owner thread, so a 1,000-object table fills when the screen appears, not ~0.3 s later. The
    bench's TUI probe starts the TUI through here too. `app_options` go to make_app (tests
    pass `modules`, `clock`...).
    """
    from ikm_tui.core.p11 import stderr_capture
    from ikm_tui.core.p11.modules import ModuleCandidate, discover
    from ikm_tui.core.p11.prefetch import StartupPrefetch
    from ikm_tui.core.p11.service import get_service
    from ikm_tui.core.p11.trace import TraceFeed

    # Start-up allocates ~300k objects that live as long as the app (Textual's classes, CSS,
    # widgets, the first listing); the cyclic GC would rescan them in every full collection on
    # the way (~50 ms before a 1,000-object table shows). Off until the first listing is on
    # screen; the main screen then freezes that heap and turns it back on (end_startup_gc),
    # after 5 s at the latest.
    gc.disable()
    # Modules write to fd 2 from C (tpm2-pkcs11 without a TPM: a dozen ERROR:tcti: lines), right
    # over the screen: before any module loads, fd 2 goes to a private file, and Textual (which
    # draws on sys.__stderr__) and our own messages get the terminal through a duplicate of it.
    # Not a terminal (tests, pipes): nothing changes.
    terminal = stderr_capture.redirect_process_stderr()
    if terminal is not None:
        sys.stderr = terminal
        sys.__stderr__ = terminal  # type: ignore[misc,assignment] # Textual draws on sys.__stderr__
    feed = TraceFeed()  # the Trace pane shows these first calls too
    prefetch = None
    given = app_options.get("modules")
    cands = [ModuleCandidate(p, "given") for p in given] if given is not None else discover(module)
    if cands:
        try:
            svc = get_service(cands[0].path)
            feed.attach(svc)
            prefetch = StartupPrefetch(svc, cands[0].path, token)
        except Exception:  # noqa: BLE001 - the screen makes the calls itself and shows the error
            prefetch = None
    from ikm_tui.ui.app import make_app

    return make_app(module=module, token=token, demo_pin=demo_pin, trace_feed=feed, prefetch=prefetch,
                    **app_options)


def run_tui(module: str | None, token: str | None, demo_pin: str | None = None,
            login_pin: Any = None) -> int:
    from ikm_tui.core.p11.hangup import HANGUP_EXIT
    from ikm_tui.core.p11.hardening import protect_process

    # The PIN dialog's Input holds the PIN as a str before any Pin exists: no core dumps at all.
    protect_process()
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        # Redirected or piped: the TUI would write escape codes into the file and wait for
        # keys that never come.
        print(NO_TERMINAL, file=sys.stderr)
        return 2
    app = prepare_tui(module, token, demo_pin, login_pin=login_pin)
    app.run()
    if app.return_code == HANGUP_EXIT:
        # The app closed the sessions at SIGHUP (IkmApp._hangup); the terminal is restored now.
        try:
            print("ikm-tui: hangup: sessions closed", file=sys.stderr)
        except OSError:  # the terminal is really gone
            pass
    return app.return_code or 0
