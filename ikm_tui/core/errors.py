"""Errors that name their cause, the PKCS#11 return code and what to do next."""

from __future__ import annotations

from dataclasses import dataclass

import pkcs11.exceptions as p11x

# CKR name and number for each python-pkcs11 exception class (its exceptions carry neither).
# The sentence and next step say what an operator needs to hear; extended by the catalogue.
CKR_BY_EXCEPTION: dict[type[BaseException], tuple[str, int, str, str]] = {
    p11x.PinIncorrect: ("CKR_PIN_INCORRECT", 0xA0, "The PIN was wrong.",
                        "Check the PIN and try again; each wrong try counts towards locking the token."),
    p11x.PinLocked: ("CKR_PIN_LOCKED", 0xA4, "The user PIN is locked after too many wrong tries.",
                     "Unlock it with the SO PIN / PUK (for SmartCard-HSM: `sc-hsm-tool --unlock-pin`)."),
    p11x.PinLenRange: ("CKR_PIN_LEN_RANGE", 0xA2, "The PIN is too short or too long for this token.",
                       "Use a PIN within the token's min/max PIN length."),
    p11x.PinInvalid: ("CKR_PIN_INVALID", 0xA1, "The PIN contains characters the token does not accept.",
                      "Use only the characters the token allows (often digits)."),
    p11x.PinExpired: ("CKR_PIN_EXPIRED", 0xA3, "The PIN has expired.", "Change the user PIN."),
    p11x.TokenNotPresent: ("CKR_TOKEN_NOT_PRESENT", 0xE0, "No token is in the slot.",
                           "Insert the token (is the Nitrokey plugged in and pcscd running?), then rescan."),
    p11x.DeviceRemoved: ("CKR_DEVICE_REMOVED", 0x32, "The token was removed during the operation.",
                         "Reinsert the token and rescan; the operation did not complete."),
    p11x.UserNotLoggedIn: ("CKR_USER_NOT_LOGGED_IN", 0x101, "This needs a login with the user PIN.",
                           "Log in (key `l`) and retry."),
    p11x.UserAlreadyLoggedIn: ("CKR_USER_ALREADY_LOGGED_IN", 0x100, "The user is already logged in.",
                               "Nothing to do; log out first to change user."),
    p11x.SessionReadOnlyExists: ("CKR_SESSION_READ_ONLY_EXISTS", 0xB7,
                                 "A read-only session is open, so the SO cannot log in.",
                                 "Close other programs using the token, then retry."),
    p11x.MechanismInvalid: ("CKR_MECHANISM_INVALID", 0x70, "The token does not support this mechanism.",
                            "Pick a key type or hash from the token's Mechanisms tab."),
    p11x.KeySizeRange: ("CKR_KEY_SIZE_RANGE", 0x62, "The token does not support this key size.",
                        "Pick a size within the range shown on the Mechanisms tab."),
    p11x.DomainParamsInvalid: ("CKR_DOMAIN_PARAMS_INVALID", 0x130, "The token does not support this curve.",
                               "Pick a curve the token lists (P-256 is the safest choice)."),
    p11x.AttributeReadOnly: ("CKR_ATTRIBUTE_READ_ONLY", 0x10, "The token refused to change that attribute.",
                             "Some attributes are fixed or need the SO; nothing was changed."),
    p11x.AttributeValueInvalid: ("CKR_ATTRIBUTE_VALUE_INVALID", 0x13, "The token rejected an attribute value.",
                                 "Check the label/ID/value given."),
    p11x.AttributeTypeInvalid: ("CKR_ATTRIBUTE_TYPE_INVALID", 0x12, "The token does not know that attribute.",
                                "This token cannot store that kind of object or attribute."),
    p11x.TemplateIncomplete: ("CKR_TEMPLATE_INCOMPLETE", 0xD0, "The token needs more attributes for this object.",
                              "Report this as a bug in ikm-tui with the trace (`--trace`)."),
    p11x.TemplateInconsistent: ("CKR_TEMPLATE_INCONSISTENT", 0xD1, "The token rejected a combination of attributes.",
                                "Report this as a bug in ikm-tui with the trace (`--trace`)."),
    p11x.DeviceMemory: ("CKR_DEVICE_MEMORY", 0x31, "The token is out of memory.",
                        "Delete unused objects (old certs, pending requests) and retry."),
    p11x.DeviceError: ("CKR_DEVICE_ERROR", 0x30, "The token reported a device error.",
                       "Replug the token and retry; if it persists the device may be faulty."),
    p11x.GeneralError: ("CKR_GENERAL_ERROR", 0x05, "The module reported a general error.",
                        "Rescan; for SoftHSM check the token directory still exists."),
    p11x.FunctionFailed: ("CKR_FUNCTION_FAILED", 0x06, "The token could not complete the request.",
                          "Retry; check the trace (`--trace`) for the failing call."),
    p11x.SessionHandleInvalid: ("CKR_SESSION_HANDLE_INVALID", 0xB3, "The session was closed under us (token reinserted?).",
                                "Rescan the token; you may need to log in again."),
    p11x.SessionClosed: ("CKR_SESSION_CLOSED", 0xB0, "The session was closed.", "Rescan the token."),
    p11x.ObjectHandleInvalid: ("CKR_OBJECT_HANDLE_INVALID", 0x82, "The object is gone (deleted by another program?).",
                               "Refresh the object list."),
    p11x.TokenWriteProtected: ("CKR_TOKEN_WRITE_PROTECTED", 0xE2, "The token is write-protected.",
                               "Nothing can be written to this token."),
    p11x.NoSuchToken: ("CKR_TOKEN_NOT_PRESENT", 0xE0, "No token with that label or serial.",
                       "Run `ikm-tui tokens` to see the tokens present."),
}


# Not frozen: Python sets __traceback__/__notes__ on raised exceptions.
@dataclass(eq=False)
class IkmError(Exception):
    """An operator-facing error: what went wrong, the PKCS#11 code, what to do next.

    Never put a PIN in any field: these strings reach the screen, logs and traces.
    """

    cause: str
    next_step: str = ""
    ckr_name: str | None = None
    ckr_code: int | None = None
    operation: str | None = None

    def __str__(self) -> str:
        parts = []
        if self.operation:
            parts.append(f"{self.operation} failed: {self.cause}")
        else:
            parts.append(self.cause)
        if self.ckr_name:
            code = f" (0x{self.ckr_code:08X})" if self.ckr_code is not None else ""
            parts.append(f"[{self.ckr_name}{code}]")
        text = " ".join(parts)
        if self.next_step:
            text += f"\nWhat to do: {self.next_step}"
        return text


def from_exception(exc: BaseException, operation: str | None = None) -> IkmError:
    """Translate any exception from python-pkcs11 (or ours) into an IkmError."""
    if isinstance(exc, IkmError):
        if operation and not exc.operation:
            return IkmError(exc.cause, exc.next_step, exc.ckr_name, exc.ckr_code, operation)
        return exc
    for klass in type(exc).__mro__:
        if klass in CKR_BY_EXCEPTION:
            name, code, cause, step = CKR_BY_EXCEPTION[klass]
            return IkmError(cause, step, name, code, operation)
    if isinstance(exc, p11x.PKCS11Error):
        msg = " ".join(str(a) for a in exc.args) or type(exc).__name__
        code = None
        if msg.startswith("Unmapped error code 0x"):
            try:
                code = int(msg.rsplit("0x", 1)[1], 16)
            except ValueError:
                code = None
        return IkmError(f"The PKCS#11 module reported {type(exc).__name__}: {msg}",
                        "See the trace (`--trace FILE`) for the failing call.",
                        f"CKR_0x{code:X}" if code is not None else None, code, operation)
    return IkmError(f"{type(exc).__name__}: {exc}", "", None, None, operation)
