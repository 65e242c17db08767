"""PinChangeScreen: change the user PIN — old PIN once, new PIN twice, masked, one try per submit.

The fields are PinInputs (their messages never carry the value into Textual's log). Length limits
come from the token and are checked here, so a PIN the token would refuse never reaches it; a wrong
old PIN is shown (CKR_PIN_INCORRECT) and not retried: each wrong try counts towards a lockout.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from ikm_tui.core.errors import IkmError
from ikm_tui.core.ops.pin import change_pin
from ikm_tui.core.model import TokenInfo
from ikm_tui.core.pin import Pin
from ikm_tui.ui.widgets.pin_input import PinInput, debug_log_warning
from ikm_tui.ui.screens.pin_screen import flag_lines
from ikm_tui.ui.text import literal
from ikm_tui.ui.workers import start
from ikm_tui.ui.writes import GUARD
from ikm_tui.core.p11.backend import Backend

_FIELDS = ("#pinchg-old", "#pinchg-new", "#pinchg-again")


class PinChangeScreen(ModalScreen[bool]):
    """Dismisses with True once the token accepted the new PIN, False on cancel."""

    DEFAULT_CSS = """
    PinChangeScreen {
        align: center middle;
    }
    PinChangeScreen #pinchg-flags {
        margin-bottom: 1;
    }
    PinChangeScreen #pinchg-error {
        margin-top: 1;
    }
    PinChangeScreen .dialog-buttons {
        height: auto;
        margin-top: 1;
    }
    PinChangeScreen .dialog-buttons Button {
        margin-right: 2;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="pinchg.cancel", tooltip="Change nothing")]

    def __init__(self, service: Any, slot_id: int, info: TokenInfo) -> None:
        super().__init__()
        self.service = service
        self.slot_id = slot_id
        self.info = info
        self.busy = False
        self.attempts = 0  # C_SetPin calls sent from this dialog (tests: never more than submits)

    def compose(self) -> ComposeResult:
        hi = self.info.max_pin_len if self.info.max_pin_len and self.info.max_pin_len < 1024 else 0
        with Vertical(id="pinchg-dialog", classes="dialog"):
            yield Static(literal(f"Change the user PIN of {self.info.label}", "bold"), classes="dialog-title")
            yield Static(id="pinchg-flags")
            yield PinInput(password=True, id="pinchg-old", placeholder="Current user PIN", max_length=hi)
            yield PinInput(password=True, id="pinchg-new", placeholder="New PIN", max_length=hi)
            yield PinInput(password=True, id="pinchg-again", placeholder="New PIN again", max_length=hi)
            yield Static(id="pinchg-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Change PIN", id="pinchg-ok", variant="primary")
                yield Button("Cancel", id="pinchg-cancel")

    def on_mount(self) -> None:
        self._show_flags()
        self._error("")
        self.query_one("#pinchg-old", Input).focus()

    def _show_flags(self) -> None:
        lines = flag_lines(self.info)
        leak = debug_log_warning(self.app.features)
        if leak:
            lines.append((f"WARNING: {leak}", "bold white on red"))
        flags = self.query_one("#pinchg-flags", Static)
        from textual.content import Content

        parts: list[Content] = []
        for i, (text, style) in enumerate(lines):
            if i:
                parts.append(Content("\n"))
            parts.append(literal(text, style))
        flags.update(Content.assemble(*parts))
        locked = self.info.pin.user_locked
        for sel in _FIELDS:
            self.query_one(sel, Input).disabled = locked
        self.query_one("#pinchg-ok", Button).disabled = locked

    def _error(self, text: str) -> None:
        err = self.query_one("#pinchg-error", Static)
        err.update(literal(text, "bold red", multiline=True))
        err.display = bool(text)

    def _clear(self) -> None:
        for sel in _FIELDS:
            self.query_one(sel, Input).value = ""

    def _problem(self) -> str:
        old, new, again = (self.query_one(sel, Input).value for sel in _FIELDS)
        lo, hi = self.info.min_pin_len, self.info.max_pin_len
        if not old:
            return "Type the current PIN."
        if lo is not None and len(new) < lo:
            return f"The new PIN is too short: this token needs at least {lo} characters."
        if hi is not None and len(new) > hi:
            return f"The new PIN is too long: this token takes at most {hi} characters."
        if new != again:
            return "The two new PINs differ."
        if new == old:
            return "The new PIN is the same as the current one."
        return ""

    @on(Input.Submitted, "#pinchg-old")
    def _next_new(self) -> None:
        self.query_one("#pinchg-new", Input).focus()

    @on(Input.Submitted, "#pinchg-new")
    def _next_again(self) -> None:
        self.query_one("#pinchg-again", Input).focus()

    @on(Input.Submitted, "#pinchg-again")
    @on(Button.Pressed, "#pinchg-ok")
    def submit(self) -> None:
        if self.busy:
            return  # one C_SetPin per submit
        if self.info.pin.user_locked:
            self._error("The PIN is locked: nothing sent to the token.")
            return
        problem = self._problem()
        if problem:
            self._error(problem + " Nothing was sent to the token.")
            return
        self.busy = True
        self._error("")
        start(self, self._change(), name="pin_change", group="pin")

    async def _change(self) -> None:
        self.attempts += 1
        old, new = self.query_one("#pinchg-old", Input), self.query_one("#pinchg-new", Input)
        try:
            # Pin(...) straight into the call: no local holds a PIN string.
            await GUARD.arun(self.service, self.slot_id, "pin change", change_pin, Pin(old.value), Pin(new.value))
        except IkmError as err:
            self._clear()
            self._error(f"{err}\nThe PIN was not changed; nothing is retried.")
            try:
                self.info = await self.service.arun(Backend.token_info, self.slot_id)
            except IkmError:
                pass
            self._show_flags()
            self.query_one("#pinchg-old", Input).focus()
            return
        finally:
            self.busy = False
        self._clear()
        self.dismiss(True)

    @on(Button.Pressed, "#pinchg-cancel")
    def action_cancel(self) -> None:
        self._clear()
        self.dismiss(False)
