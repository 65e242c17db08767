"""The TUI's login from IKM_PIN / --pin-file, as the CLI does: one C_Login at start-up, never retried."""

from __future__ import annotations

from typing import Any

from ikm_tui.core.errors import IkmError
from ikm_tui.core.p11.backend import Backend
from ikm_tui.ui.flows.host import FlowHost
from ikm_tui.ui.screens.error_screen import ErrorScreen
from ikm_tui.ui.text import plain


async def login_once(main: FlowHost) -> None:
    """Log in to the token opened at start-up with the PIN the CLI read, then forget the PIN.

    Taken from the App first, whatever happens: a refused PIN is never tried again (a second
    wrong try may lock the token), not at a refresh, not for another token. No FINAL TRY
    confirmation can be asked for here, so the login refuses to spend a final try.
    """
    app: Any = main.app
    pin, app.login_pin = getattr(app, "login_pin", None), None
    ref, listing = main.current, main.listing
    if pin is None or ref is None or listing is None or listing.logged_in:
        return
    svc = main.ikm.service_for(ref.module_path)
    try:
        await svc.arun(Backend.login, ref.slot_id, pin, allow_final_try=False)
    except IkmError as err:
        app.push_screen(ErrorScreen("Login with IKM_PIN / --pin-file failed",
                                    plain(f"{err}\nNot tried again: press l to log in with the PIN dialog.")))
        return
    finally:
        del pin
    await main.open_token(ref)
    main.notify("Logged in with the PIN from IKM_PIN / --pin-file.")
