"""PinScreen: ask for the user PIN after showing the token's PIN flags; one login per submit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Static

from ikm_tui.core.errors import IkmError
from ikm_tui.core.p11.lockout import LoginResult, no_counters_sentence
from ikm_tui.core.p11.quirks import serial_identifies_token
from ikm_tui.core.model import TokenInfo
from ikm_tui.core.pin import Pin
from ikm_tui.ui.flows import pin_memory
from ikm_tui.ui.widgets.pin_input import PinInput, debug_log_warning
from ikm_tui.ui.text import literal
from ikm_tui.ui.workers import start
from ikm_tui.core.p11.backend import Backend


def flag_lines(info: TokenInfo, module_path: str = "") -> list[tuple[str, str]]:
    """(text, style) lines describing the PIN state, shown before the operator types anything."""
    p = info.pin
    lo = info.min_pin_len if info.min_pin_len is not None else "?"
    hi = info.max_pin_len if info.max_pin_len is not None else "?"
    lines: list[tuple[str, str]] = [(f"PIN length: {lo}–{hi} characters", "")]
    if p.user_locked:
        lines.append(("LOCKED: the user PIN is locked. ikm-tui will not try to log in. Unlock it with "
                      "the SO PIN / PUK (SmartCard-HSM: sc-hsm-tool --unlock-pin; YubiKey: "
                      "ykman piv access unblock-pin).", "bold white on red"))
        return lines
    if p.user_final_try:
        lines.append(("FINAL TRY: one more wrong PIN locks the token.", "bold white on red"))
    elif p.user_count_low:
        lines.append(("COUNT LOW: a wrong PIN was entered before; few tries are left.", "bold black on yellow"))
    if p.user_to_be_changed:
        lines.append(("TO BE CHANGED: the token asks for a new PIN after this login.", "bold black on yellow"))
    no_counters = no_counters_sentence(module_path) if module_path else None
    if no_counters and not (p.user_final_try or p.user_count_low):
        # A TPM locks (dictionary-attack protection) without any flag: never "no wrong tries".
        lines.append((no_counters, "bold black on yellow"))
    elif not (p.user_final_try or p.user_count_low or p.user_to_be_changed):
        lines.append(("PIN flags: none set (no wrong tries recorded).", "dim"))
    return lines


class PinScreen(ModalScreen[bool]):
    """Dismisses with True after a successful login, False on cancel.

    Why the care: every wrong PIN counts towards locking a hardware token, so nothing here
    retries, and the PIN string lives only in the Input until it is wrapped in a `Pin` and
    handed to the service in the same expression (no local variable holds it).
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="pin.cancel", tooltip="Close without logging in"),
    ]

    def __init__(self, service: Any, slot_id: int, info: TokenInfo,
                 on_flags: Callable[[TokenInfo], None] | None = None, pin_store: Any = None) -> None:
        super().__init__()
        # core.pinstore.PinStore: the "remember" box shows only for a real OS keyring.
        self.pin_store = pin_store
        self.service = service
        self.slot_id = slot_id
        self.info = info
        # Told the token's state after every attempt (the tree redraws its PIN badges).
        self.on_flags = on_flags
        self.busy = False
        self.attempts = 0  # logins sent from this dialog: tests check it never exceeds the submits

    def compose(self) -> ComposeResult:
        info = self.info
        hi = info.max_pin_len if info.max_pin_len and info.max_pin_len < 1024 else 0
        with Vertical(id="pin-dialog", classes="dialog"):
            yield Static(literal(f"Log in to {info.label}", "bold"), classes="dialog-title")
            yield Static(id="pin-flags")
            yield PinInput(password=True, id="pin-input", placeholder="User PIN", max_length=hi)
            yield Checkbox("I know this is the final try: log in anyway", id="pin-final-try")
            yield Checkbox("Remember this PIN in the OS keyring (this token only)", id="pin-remember")
            yield Static(id="pin-remember-note", classes="dim")
            yield Static(id="pin-error")
            with Horizontal(id="pin-buttons"):
                yield Button("Log in", id="pin-ok", variant="primary")
                yield Button("Cancel", id="pin-cancel")

    def on_mount(self) -> None:
        self._show_flags()
        self.query_one("#pin-error", Static).display = False
        can_remember = bool(self.pin_store is not None and self.pin_store.available
                            and serial_identifies_token(self.info.serial))
        self.query_one("#pin-remember", Checkbox).display = can_remember
        # Why the box is missing (no D-Bus on an SSH host, a plaintext keyring refused): said
        # here, where it matters, instead of a notification on every start.
        note = self.pin_store.notice if self.pin_store is not None and not can_remember else None
        self.query_one("#pin-remember-note", Static).update(literal(note or "", "dim"))
        self.query_one("#pin-remember-note", Static).display = bool(note)
        self.query_one("#pin-input", Input).focus()

    def _show_flags(self) -> None:
        parts: list[Content] = []
        for i, (text, style) in enumerate(flag_lines(self.info, getattr(self.service, "module_path", ""))):
            if i:
                parts.append(Content("\n"))
            parts.append(literal(text, style))
        leak = debug_log_warning(self.app.features)
        if leak:
            parts += [Content("\n"), literal(f"WARNING: {leak}", "bold white on red")]
        self.query_one("#pin-flags", Static).update(Content.assemble(*parts))
        locked = self.info.pin.user_locked
        self.query_one("#pin-final-try", Checkbox).display = self.info.pin.user_final_try and not locked
        self.query_one("#pin-input", Input).disabled = locked
        self.query_one("#pin-ok", Button).disabled = locked

    def _error(self, text: str) -> None:
        err = self.query_one("#pin-error", Static)
        err.update(literal(text, "bold red", multiline=True))
        err.display = bool(text)

    @on(Input.Submitted, "#pin-input")
    @on(Button.Pressed, "#pin-ok")
    def submit(self) -> None:
        if self.busy:
            return  # one login per submit: a second Enter while the first is in flight is ignored
        field = self.query_one("#pin-input", Input)
        if self.info.pin.user_locked:
            self._error("The PIN is locked: no login attempted.")
            return
        n = len(field.value)
        lo, hi = self.info.min_pin_len, self.info.max_pin_len
        # Checked here so a mistyped length never reaches the token (and never counts as a try).
        if lo is not None and n < lo:
            self._error(f"The PIN is too short: this token needs at least {lo} characters. "
                        "Nothing was sent to the token.")
            return
        if hi is not None and n > hi:
            self._error(f"The PIN is too long: this token takes at most {hi} characters. "
                        "Nothing was sent to the token.")
            return
        final = self.info.pin.user_final_try
        if final and not self.query_one("#pin-final-try", Checkbox).value:
            self._error("FINAL TRY: tick the box to confirm; a wrong PIN now locks the token.")
            return
        self.busy = True
        self._error("")
        start(self, self._login(final), name="pin_login", group="pin")

    async def _login(self, allow_final_try: bool) -> None:
        field = self.query_one("#pin-input", Input)
        self.attempts += 1
        try:
            # Pin(...) goes straight into the call: no local holds the PIN string.
            result = await self.service.arun(Backend.login, self.slot_id, Pin(field.value),
                                              allow_final_try=allow_final_try)
        except IkmError as err:
            field.value = ""
            self._error(str(err))
            # The wrong try may have changed COUNT_LOW / FINAL_TRY / LOCKED: show the new state.
            try:
                self.info = await self.service.arun(Backend.token_info, self.slot_id)
            except IkmError:
                pass
            else:
                self._flags_changed(self.info)
            self._show_flags()
            self.query_one("#pin-final-try", Checkbox).value = False
            field.focus()
            return
        finally:
            self.busy = False
        if self.query_one("#pin-remember", Checkbox).value and self.pin_store is not None:
            # Opt-in only, after the token accepted the PIN, keyed by the token's serial.
            await pin_memory.remember(self, self.pin_store, self.info.serial, Pin(field.value))
        field.value = ""
        if isinstance(result, LoginResult):
            if result.warning is not None:
                # COUNT_LOW (or a confirmed FINAL TRY) before this good login: worth knowing
                # that someone, perhaps not the operator, typed wrong PINs.
                self.app.notify(str(result.warning), title="PIN warning", severity="warning",
                                markup=False, timeout=20)
            self._flags_changed(result.token)
        self.dismiss(True)

    def _flags_changed(self, info: TokenInfo) -> None:
        if self.on_flags is not None:
            self.on_flags(info)

    @on(Button.Pressed, "#pin-cancel")
    def action_cancel(self) -> None:
        self.query_one("#pin-input", Input).value = ""
        self.dismiss(False)
