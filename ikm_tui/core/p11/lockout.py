"""Lockout guard: what the token's PIN flags allow before C_Login, and what to say after it fails."""

from __future__ import annotations

from dataclasses import dataclass

from ikm_tui.core.errors import IkmError
from ikm_tui.core.model import PinState, TokenInfo

# PKCS#11 v2.40 §3.2 CK_TOKEN_INFO flags. A refusal by ikm-tui names the flag that caused it:
# no C_Login was made, so there is no CKR code to show.
CKF_USER_PIN_COUNT_LOW = 0x00010000
CKF_USER_PIN_FINAL_TRY = 0x00020000
CKF_USER_PIN_LOCKED = 0x00040000

UNLOCK_STEP = (
    "Unlock it with the SO PIN / PUK (SmartCard-HSM/Nitrokey: `sc-hsm-tool --unlock-pin`; "
    "YubiKey: `ykman piv access unblock-pin`; SoftHSM: `softhsm2-util --init-pin` needs the SO PIN), "
    "then log in again."
)


class LoginError(IkmError):
    """A failed or refused login, with the PIN flags the token reported afterwards.

    `c_login_called` tells the UI whether this submission used up a try on the token.
    """

    def __init__(self, cause: str, next_step: str, ckr_name: str | None, ckr_code: int | None,
                 pin_after: PinState | None = None, c_login_called: bool = False) -> None:
        super().__init__(cause, next_step, ckr_name, ckr_code, "Login")
        self.pin_after = pin_after
        self.c_login_called = c_login_called


@dataclass(frozen=True)
class LoginResult:
    """What a login returns: the token after login and a warning to show (COUNT_LOW), if any.

    `warning` is an IkmError that is shown, not raised, so it reads like every other message.
    """

    token: TokenInfo
    pin_before: PinState
    warning: IkmError | None = None


def check_before_login(pin: PinState, allow_final_try: bool) -> IkmError | None:
    """Raise when the flags forbid a C_Login; return a warning when they only advise care."""
    if pin.user_locked:
        raise LoginError(
            "The user PIN is locked; ikm-tui did not try to log in (no C_Login was sent).",
            UNLOCK_STEP, "CKR_PIN_LOCKED", 0xA4, pin, c_login_called=False)
    if pin.user_final_try and not allow_final_try:
        raise LoginError(
            "The token reports FINAL TRY: one more wrong PIN locks it. ikm-tui did not try to log in.",
            "Make sure of the PIN, then confirm the final try explicitly (CLI: --confirm-final-try; "
            "TUI: the confirmation in the PIN dialog).",
            "CKF_USER_PIN_FINAL_TRY", CKF_USER_PIN_FINAL_TRY, pin, c_login_called=False)
    if pin.user_final_try:
        return IkmError(
            "FINAL TRY confirmed: had this PIN been wrong, the token would now be locked.",
            "Nothing to do; the try counter is reset after a good login on most tokens.",
            "CKF_USER_PIN_FINAL_TRY", CKF_USER_PIN_FINAL_TRY)
    if pin.user_count_low:
        return IkmError(
            "The token reports PIN COUNT LOW: an earlier login failed and few tries are left.",
            "Type the PIN carefully; after the next wrong tries the token locks and needs the SO PIN / PUK.",
            "CKF_USER_PIN_COUNT_LOW", CKF_USER_PIN_COUNT_LOW)
    return None


def no_counters_sentence(module_path: str) -> str | None:
    """For a module that reports no PIN counters but whose device can lock: say so, and how it
    recovers (core/p11/quirks.py). None for other modules."""
    from ikm_tui.core.p11.quirks import quirks_for

    q = quirks_for(module_path)
    if not q.no_pin_counters:
        return None
    return (f"{q.name} reports no PIN counters, but the device may still lock after a few wrong "
            f"PINs. {q.lockout_recovery}")


def state_sentence(pin: PinState | None, module_path: str = "") -> str:
    """What the flags read after a failed login mean, as a sentence for the error message."""
    if pin is not None and not (pin.user_locked or pin.user_final_try or pin.user_count_low):
        told = no_counters_sentence(module_path)
        if told:
            return told
    if pin is None:
        return "The PIN flags could not be read back."
    if pin.user_locked:
        return "The token now reports the PIN LOCKED."
    if pin.user_final_try:
        return "The token now reports FINAL TRY: one more wrong PIN locks it."
    if pin.user_count_low:
        return "The token now reports PIN COUNT LOW."
    return ("The token reports no lockout flags (some tokens, SoftHSM among them, never count; "
            "TPMs and some cards lock without reporting it).")


def after_failure(err: IkmError, pin_after: PinState | None, module_path: str = "") -> LoginError:
    """The error for a C_Login that failed, with the flags re-read right after it."""
    cause = err.cause
    step = err.next_step
    if err.ckr_name == "CKR_PIN_INCORRECT":
        cause = f"{cause} {state_sentence(pin_after, module_path)}"
        if pin_after is not None and pin_after.user_locked:
            step = UNLOCK_STEP
        elif pin_after is not None and pin_after.user_final_try:
            step = ("Check the PIN before trying again: the next wrong one locks the token. "
                    "ikm-tui will ask you to confirm the final try.")
    elif err.ckr_name == "CKR_PIN_LOCKED":
        step = UNLOCK_STEP
    from ikm_tui.core.p11.quirks import quirks_for

    recovery = quirks_for(module_path).lockout_recovery if module_path else ""
    if recovery and quirks_for(module_path).no_pin_counters and err.ckr_name in (
            "CKR_PIN_LOCKED", "CKR_PIN_INCORRECT", "CKR_GENERAL_ERROR"):
        # tpm2-pkcs11: the TPM's dictionary-attack lockout, not an SO PIN, decides.
        step = f"{step} {recovery}" if err.ckr_name == "CKR_PIN_INCORRECT" else recovery
    return LoginError(cause, step, err.ckr_name, err.ckr_code, pin_after, c_login_called=True)
