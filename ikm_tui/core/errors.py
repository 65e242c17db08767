"""Errors that name their cause, the PKCS#11 return code and what to do next."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class Ckr:
    """One PKCS#11 return code: its name, number, a sentence a person understands and the next step."""

    name: str
    code: int
    cause: str
    next_step: str


_BUG = "Report this as a bug in ikm-tui with the trace (`--trace FILE`)."
_REFRESH = "Refresh the object list (key `r`) and select it again."

# Every CKR_* of PKCS#11 v2.40 and v3.0, numbered as in the OASIS pkcs11t.h. Not taken from
# p11-kit 0.24's pkcs11.h: it numbers EXCEEDED_MAX_ITERATIONS..PUBLIC_KEY_INVALID 0x1C0-0x1C4 and lacks
# UNWRAPPING_KEY_HANDLE_INVALID (see _P11KIT_NUMBERS).
CATALOGUE: tuple[Ckr, ...] = (
    Ckr("CKR_OK", 0x00, "The call succeeded.", "Nothing to do."),
    Ckr("CKR_CANCEL", 0x01, "An application callback asked the module to cancel the function.",
        "Retry; ikm-tui registers no such callback, so report it with the trace if it repeats."),
    Ckr("CKR_HOST_MEMORY", 0x02, "This computer ran out of memory for the PKCS#11 module.",
        "Free memory (close other programs) and retry."),
    Ckr("CKR_SLOT_ID_INVALID", 0x03, "That slot does not exist (any more).",
        "Rescan (key `r`): slot IDs change when a token is re-initialised or a reader is replugged."),
    Ckr("CKR_GENERAL_ERROR", 0x05, "The module reported a general error.",
        "Rescan; for SoftHSM check the token directory still exists."),
    Ckr("CKR_FUNCTION_FAILED", 0x06, "The token could not complete the request.",
        "Retry; check the trace (`--trace`) for the failing call."),
    Ckr("CKR_ARGUMENTS_BAD", 0x07, "The module rejected the arguments of a call.", _BUG),
    Ckr("CKR_NO_EVENT", 0x08, "No slot event (token inserted or removed) was pending.",
        "Nothing to do: this is not a failure."),
    Ckr("CKR_NEED_TO_CREATE_THREADS", 0x09, "The module needs to start its own threads and was told not to.",
        "Report it with the module's name; this module cannot run the way it was initialised."),
    Ckr("CKR_CANT_LOCK", 0x0A, "The module cannot provide the locking it was asked for.",
        "Report it with the module's name; this module cannot run the way it was initialised."),
    Ckr("CKR_ATTRIBUTE_READ_ONLY", 0x10, "The token refused to change that attribute.",
        "Some attributes are fixed or need the SO; nothing was changed."),
    Ckr("CKR_ATTRIBUTE_SENSITIVE", 0x11,
        "The token will not reveal that attribute: the key is sensitive or not extractable.",
        "That is expected for private keys; read the public key or the certificate instead."),
    Ckr("CKR_ATTRIBUTE_TYPE_INVALID", 0x12, "The token does not know that attribute.",
        "This token cannot store that kind of object or attribute."),
    Ckr("CKR_ATTRIBUTE_VALUE_INVALID", 0x13, "The token rejected an attribute value.",
        "Check the label/ID/value given."),
    Ckr("CKR_ACTION_PROHIBITED", 0x1B, "The token's policy forbids this action (a weak key or algorithm, for example).",
        "Choose a stronger key size or algorithm, or ask the token's administrator about its policy."),
    Ckr("CKR_DATA_INVALID", 0x20, "The input data is not valid for this mechanism.",
        "Check the input and the mechanism (raw RSA input must be smaller than the modulus)."),
    Ckr("CKR_DATA_LEN_RANGE", 0x21, "The input data has the wrong length for this mechanism.",
        "Hash first for raw ECDSA/RSA and check the digest size matches the mechanism."),
    Ckr("CKR_DEVICE_ERROR", 0x30, "The token reported a device error.",
        "Replug the token and retry; if it persists the device may be faulty."),
    Ckr("CKR_DEVICE_MEMORY", 0x31, "The token is out of memory.",
        "Delete unused objects (old certs, pending requests) and retry."),
    Ckr("CKR_DEVICE_REMOVED", 0x32, "The token was removed during the operation.",
        "Reinsert the token and rescan; the operation did not complete."),
    Ckr("CKR_ENCRYPTED_DATA_INVALID", 0x40, "The ciphertext is not valid for this key and mechanism.",
        "Check the data was encrypted for this key, with this mechanism."),
    Ckr("CKR_ENCRYPTED_DATA_LEN_RANGE", 0x41, "The ciphertext has the wrong length for this key.",
        "Check the input is complete and was encrypted for a key of this size."),
    Ckr("CKR_FUNCTION_CANCELED", 0x50, "The operation was cancelled before it finished.", "Retry the operation."),
    Ckr("CKR_FUNCTION_NOT_PARALLEL", 0x51, "No function is running in parallel in this session (a legacy code).",
        _BUG),
    Ckr("CKR_FUNCTION_NOT_SUPPORTED", 0x54, "The module does not implement this function.",
        "This token cannot do that; use another token or module for this operation."),
    Ckr("CKR_KEY_HANDLE_INVALID", 0x60, "The key is gone or its handle is stale.", _REFRESH),
    Ckr("CKR_KEY_SIZE_RANGE", 0x62, "The token does not support this key size.",
        "Pick a size within the range shown on the Mechanisms tab."),
    Ckr("CKR_KEY_TYPE_INCONSISTENT", 0x63,
        "The key's type does not fit this mechanism (an EC key with an RSA mechanism, say).",
        "Pick a mechanism made for this key's type."),
    Ckr("CKR_KEY_NOT_NEEDED", 0x64, "A key was given to an operation that takes none.", _BUG),
    Ckr("CKR_KEY_CHANGED", 0x65, "A key used by a saved operation state has changed.", "Start the operation again."),
    Ckr("CKR_KEY_NEEDED", 0x66, "Restoring an operation state needs a key that was not given.", _BUG),
    Ckr("CKR_KEY_INDIGESTIBLE", 0x67, "The token cannot feed this key into a digest.",
        "Digest the data without the key; certificate work never needs this."),
    Ckr("CKR_KEY_FUNCTION_NOT_PERMITTED", 0x68,
        "The key's usage flags forbid this operation (CKA_SIGN or CKA_DECRYPT is false, for example).",
        "Use a key created for this purpose; its flags are in the details pane and usually cannot change."),
    Ckr("CKR_KEY_NOT_WRAPPABLE", 0x69, "The token will not wrap (export) this key.",
        "Keys made on the token are meant to stay there; back up at the token level if the device allows it."),
    Ckr("CKR_KEY_UNEXTRACTABLE", 0x6A, "The key is marked not extractable, so it cannot leave the token.",
        "Export the certificate or the public key instead (`ikm-tui cert extract`)."),
    Ckr("CKR_MECHANISM_INVALID", 0x70, "The token does not support this mechanism.",
        "Pick a key type or hash from the token's Mechanisms tab."),
    Ckr("CKR_MECHANISM_PARAM_INVALID", 0x71,
        "The token rejected the mechanism's parameters (a PSS salt length or OAEP hash, for example).",
        "Pick other parameters or another mechanism the token lists."),
    Ckr("CKR_OBJECT_HANDLE_INVALID", 0x82, "The object is gone (deleted by another program?).",
        "Refresh the object list."),
    Ckr("CKR_OPERATION_ACTIVE", 0x90,
        "Another operation (often an unfinished object search) is still active in this session.",
        "Retry; if it repeats, " + _BUG[0].lower() + _BUG[1:]),
    Ckr("CKR_OPERATION_NOT_INITIALIZED", 0x91, "An operation step was called before the operation was started.",
        _BUG),
    Ckr("CKR_PIN_INCORRECT", 0xA0, "The PIN was wrong.",
        "Check the PIN and try again; each wrong try counts towards locking the token."),
    Ckr("CKR_PIN_INVALID", 0xA1, "The PIN contains characters the token does not accept.",
        "Use only the characters the token allows (often digits)."),
    Ckr("CKR_PIN_LEN_RANGE", 0xA2, "The PIN is too short or too long for this token.",
        "Use a PIN within the token's min/max PIN length."),
    Ckr("CKR_PIN_EXPIRED", 0xA3, "The PIN has expired.", "Change the user PIN."),
    Ckr("CKR_PIN_LOCKED", 0xA4, "The user PIN is locked after too many wrong tries.",
        "Unlock it with the SO PIN / PUK (for SmartCard-HSM: `sc-hsm-tool --unlock-pin`)."),
    Ckr("CKR_SESSION_CLOSED", 0xB0, "The session was closed.", "Rescan the token."),
    Ckr("CKR_SESSION_COUNT", 0xB1, "The token has too many open sessions.",
        "Close other programs using the token, then retry."),
    Ckr("CKR_SESSION_HANDLE_INVALID", 0xB3, "The session was closed under us (token reinserted?).",
        "Rescan the token; you may need to log in again."),
    Ckr("CKR_SESSION_PARALLEL_NOT_SUPPORTED", 0xB4, "The module refused a parallel session (a legacy code).", _BUG),
    Ckr("CKR_SESSION_READ_ONLY", 0xB5, "The session is read-only, so nothing can be written.",
        "Retry the change from ikm-tui (it writes in a read-write session); " + _BUG[0].lower() + _BUG[1:]),
    Ckr("CKR_SESSION_EXISTS", 0xB6, "Sessions are still open on the token, so it cannot be initialised.",
        "Close other programs using the token, then retry."),
    Ckr("CKR_SESSION_READ_ONLY_EXISTS", 0xB7, "A read-only session is open, so the SO cannot log in.",
        "Close other programs using the token, then retry."),
    Ckr("CKR_SESSION_READ_WRITE_SO_EXISTS", 0xB8, "An SO session is open, so a read-only session cannot be opened.",
        "Log the SO out (or close the program holding the SO session), then retry."),
    Ckr("CKR_SIGNATURE_INVALID", 0xC0, "The signature does not verify.",
        "The data, signature or public key do not match: check you verify with the signer's certificate."),
    Ckr("CKR_SIGNATURE_LEN_RANGE", 0xC1, "The signature has the wrong length for this key, so it cannot verify.",
        "Check the signature belongs to this key (and is not DER where raw r||s is expected)."),
    Ckr("CKR_TEMPLATE_INCOMPLETE", 0xD0, "The token needs more attributes for this object.",
        "Report this as a bug in ikm-tui with the trace (`--trace`)."),
    Ckr("CKR_TEMPLATE_INCONSISTENT", 0xD1, "The token rejected a combination of attributes.",
        "Report this as a bug in ikm-tui with the trace (`--trace`)."),
    Ckr("CKR_TOKEN_NOT_PRESENT", 0xE0, "No token is in the slot.",
        "Insert the token (is the Nitrokey plugged in and pcscd running?), then rescan."),
    Ckr("CKR_TOKEN_NOT_RECOGNIZED", 0xE1, "The module does not recognise the token in the slot.",
        "Check this is the module for that device (OpenSC for SmartCard-HSM/Nitrokey, libykcs11 for YubiKey PIV)."),
    Ckr("CKR_TOKEN_WRITE_PROTECTED", 0xE2, "The token is write-protected.", "Nothing can be written to this token."),
    Ckr("CKR_UNWRAPPING_KEY_HANDLE_INVALID", 0xF0, "The unwrapping key is gone or its handle is stale.", _REFRESH),
    Ckr("CKR_UNWRAPPING_KEY_SIZE_RANGE", 0xF1, "The unwrapping key's size is out of range for this mechanism.",
        "Pick another unwrapping key or mechanism."),
    Ckr("CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT", 0xF2, "The unwrapping key's type does not fit this mechanism.",
        "Pick another unwrapping key or mechanism."),
    Ckr("CKR_USER_ALREADY_LOGGED_IN", 0x100, "The user is already logged in.",
        "Nothing to do; log out first to change user."),
    Ckr("CKR_USER_NOT_LOGGED_IN", 0x101, "This needs a login with the user PIN.", "Log in (key `l`) and retry."),
    Ckr("CKR_USER_PIN_NOT_INITIALIZED", 0x102, "The token has no user PIN yet.",
        "Set the user PIN with the SO PIN (`pkcs11-tool --init-pin --login --login-type so`), then log in."),
    Ckr("CKR_USER_TYPE_INVALID", 0x103, "The login type is not user, SO or context-specific.", _BUG),
    Ckr("CKR_USER_ANOTHER_ALREADY_LOGGED_IN", 0x104, "Another user type (the SO, say) is already logged in.",
        "Log that user out, or close the program holding the login, then retry."),
    Ckr("CKR_USER_TOO_MANY_TYPES", 0x105, "The token cannot have this many different users logged in at once.",
        "Close other programs logged in to the token (an SO session elsewhere), then retry."),
    Ckr("CKR_WRAPPED_KEY_INVALID", 0x110, "The wrapped key is not valid.",
        "Check it was wrapped with the matching key and mechanism."),
    Ckr("CKR_WRAPPED_KEY_LEN_RANGE", 0x112, "The wrapped key has the wrong length.",
        "Check the wrapped key is complete and matches the mechanism."),
    Ckr("CKR_WRAPPING_KEY_HANDLE_INVALID", 0x113, "The wrapping key is gone or its handle is stale.", _REFRESH),
    Ckr("CKR_WRAPPING_KEY_SIZE_RANGE", 0x114, "The wrapping key's size is out of range for this mechanism.",
        "Pick another wrapping key or mechanism."),
    Ckr("CKR_WRAPPING_KEY_TYPE_INCONSISTENT", 0x115, "The wrapping key's type does not fit this mechanism.",
        "Pick another wrapping key or mechanism."),
    Ckr("CKR_RANDOM_SEED_NOT_SUPPORTED", 0x120, "The token's random generator does not accept a seed.",
        "Nothing to do: the token seeds itself."),
    Ckr("CKR_RANDOM_NO_RNG", 0x121, "The token has no random number generator.",
        "Generate keys on a token that has one."),
    Ckr("CKR_DOMAIN_PARAMS_INVALID", 0x130, "The token does not support this curve.",
        "Pick a curve the token lists (P-256 is the safest choice)."),
    Ckr("CKR_CURVE_NOT_SUPPORTED", 0x140, "The token does not support this elliptic curve.",
        "Pick a curve the token lists (P-256 is the safest choice)."),
    Ckr("CKR_BUFFER_TOO_SMALL", 0x150, "An output buffer was too small (python-pkcs11 normally sizes it first).",
        _BUG),
    Ckr("CKR_SAVED_STATE_INVALID", 0x160, "A saved operation state could not be restored.",
        "Start the operation again."),
    Ckr("CKR_INFORMATION_SENSITIVE", 0x170, "The information asked for is sensitive and will not be revealed.",
        "That is expected; nothing was changed."),
    Ckr("CKR_STATE_UNSAVEABLE", 0x180, "The operation state cannot be saved.", "Start the operation again later."),
    Ckr("CKR_CRYPTOKI_NOT_INITIALIZED", 0x190, "The module was called before C_Initialize or after C_Finalize.",
        "Rescan (key `r`) to reload the module; " + _BUG[0].lower() + _BUG[1:]),
    # python-pkcs11 caches modules by path string: the same .so loaded by a second path lands here.
    Ckr("CKR_CRYPTOKI_ALREADY_INITIALIZED", 0x191,
        "The module is already initialised in this process (the same library loaded by two paths?).",
        "Load each module by one path (no symlink plus real path); restart ikm-tui."),
    Ckr("CKR_MUTEX_BAD", 0x1A0, "The module was given a bad mutex.", _BUG),
    Ckr("CKR_MUTEX_NOT_LOCKED", 0x1A1, "The module tried to unlock a mutex that was not locked.",
        "Report it with the module's name; the module's locking is broken."),
    Ckr("CKR_NEW_PIN_MODE", 0x1B0, "The one-time-password token wants a new PIN or OTP mode.",
        "Follow the token vendor's procedure; ikm-tui does not handle OTP tokens."),
    Ckr("CKR_NEXT_OTP", 0x1B1, "The one-time-password token wants the next OTP.",
        "Follow the token vendor's procedure; ikm-tui does not handle OTP tokens."),
    Ckr("CKR_EXCEEDED_MAX_ITERATIONS", 0x1B5, "Key or parameter generation gave up after too many iterations.",
        "Retry the generation."),
    Ckr("CKR_FIPS_SELF_TEST_FAILED", 0x1B6, "The token failed its FIPS self-test and refuses to work.",
        "Replug (power-cycle) the token; if it persists the device needs service."),
    Ckr("CKR_LIBRARY_LOAD_FAILED", 0x1B7, "The module could not load a library it needs.",
        "Check the module's dependencies (`ldd MODULE`) and its configuration file."),
    Ckr("CKR_PIN_TOO_WEAK", 0x1B8, "The token refused the new PIN as too weak.",
        "Choose a longer, less guessable PIN."),
    Ckr("CKR_PUBLIC_KEY_INVALID", 0x1B9, "The public key is not valid (a point not on the curve, for example).",
        "Check the key or certificate given."),
    Ckr("CKR_FUNCTION_REJECTED", 0x200, "The request was rejected, for example declined on the device itself.",
        "Retry and confirm on the device."),
    Ckr("CKR_TOKEN_RESOURCE_EXCEEDED", 0x201, "The token ran out of a resource it needs for this operation.",
        "Close other sessions or delete unused objects, then retry."),
    Ckr("CKR_OPERATION_CANCEL_FAILED", 0x202, "The token could not cancel the running operation.",
        "Wait for it to finish, or replug the token."),
)

CKR_BY_NAME: dict[str, Ckr] = {c.name: c for c in CATALOGUE}
CKR_BY_CODE: dict[int, Ckr] = {c.code: c for c in CATALOGUE}

CKR_VENDOR_DEFINED = 0x80000000

# Modules built against p11-kit <= 0.24's pkcs11.h return these numbers for the v2.40 codes
# the OASIS header puts at 0x1B5-0x1B9; nothing else uses 0x1C0-0x1C4.
_P11KIT_NUMBERS: dict[int, str] = {
    0x1C0: "CKR_EXCEEDED_MAX_ITERATIONS",
    0x1C1: "CKR_FIPS_SELF_TEST_FAILED",
    0x1C2: "CKR_LIBRARY_LOAD_FAILED",
    0x1C3: "CKR_PIN_TOO_WEAK",
    0x1C4: "CKR_PUBLIC_KEY_INVALID",
}

# The python-pkcs11 tables live in core/p11/exceptions.py and are imported on first use: importing
# pkcs11 pulls in asn1crypto (~25 ms), which `--help`, `explain` and the other commands that
# never load a module should not pay. They stay readable here (PEP 562 __getattr__ below).
@lru_cache(maxsize=1)
def _exception_tables() -> tuple[dict[Any, str], dict[type[BaseException], tuple[str, int, str, str]],
                                 dict[type[BaseException], tuple[str, str]]]:
    from ikm_tui.core.p11 import exceptions as p11e

    # CKR name and number for each python-pkcs11 exception class, with the operator's sentence and
    # next step. Built from the catalogue so one code reads the same wherever it surfaces.
    ckr_by_exception: dict[type[BaseException], tuple[str, int, str, str]] = {
        klass: (name, CKR_BY_NAME[name].code, CKR_BY_NAME[name].cause, CKR_BY_NAME[name].next_step)
        for klass, name in p11e.CKR_NAME_BY_EXCEPTION.items()
    }
    for klass, (name, cause, step) in p11e.OWN_TEXT_BY_EXCEPTION.items():
        ckr_by_exception[klass] = (name, CKR_BY_NAME[name].code, cause, step)
    return dict(p11e.CKR_NAME_BY_EXCEPTION), ckr_by_exception, dict(p11e.LIBRARY_ERRORS)


_LAZY_TABLES = ("CKR_NAME_BY_EXCEPTION", "CKR_BY_EXCEPTION", "LIBRARY_ERRORS")


def __getattr__(name: str) -> Any:
    if name in _LAZY_TABLES:
        return _exception_tables()[_LAZY_TABLES.index(name)]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# map_rv_to_error raises the base PKCS11Error with these texts instead of a subclass.
_MESSAGE_CKR: tuple[tuple[str, str], ...] = (
    ("Buffer was too small", "CKR_BUFFER_TOO_SMALL"),
    ("(already initialized)", "CKR_CRYPTOKI_ALREADY_INITIALIZED"),
    ("(not initialized)", "CKR_CRYPTOKI_NOT_INITIALIZED"),
    ("Parallel not supported", "CKR_SESSION_PARALLEL_NOT_SUPPORTED"),
    ("User type invalid", "CKR_USER_TYPE_INVALID"),
)

_UNMAPPED = re.compile(r"Unmapped error code (0x[0-9a-fA-F]+)")


def ckr_for_code(code: int) -> Ckr | None:
    """The catalogue entry for a CK_RV number, including p11-kit's old numbering; None if unknown."""
    if code in CKR_BY_CODE:
        return CKR_BY_CODE[code]
    if code in _P11KIT_NUMBERS:
        real = CKR_BY_NAME[_P11KIT_NUMBERS[code]]
        return Ckr(real.name, code, real.cause + f" (0x{code:X} is p11-kit's old number for it; "
                   f"the PKCS#11 standard says 0x{real.code:X}.)", real.next_step)
    return None


def unknown_code_text(code: int) -> str:
    """What can honestly be said about a number that is not in the catalogue."""
    if code >= CKR_VENDOR_DEFINED:
        return (f"0x{code:08X} is vendor-defined (CKR_VENDOR_DEFINED + 0x{code - CKR_VENDOR_DEFINED:X}); "
                "only the module's vendor documents it.")
    return f"0x{code:08X} is not a PKCS#11 3.0 return code."


def unknown_code_name(code: int) -> str:
    if code >= CKR_VENDOR_DEFINED:
        return f"CKR_VENDOR_DEFINED+0x{code - CKR_VENDOR_DEFINED:X}"
    return f"CKR_0x{code:X}"


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


class NotFoundError(IkmError):
    """The module, token or object named does not exist (CLI exit status 4, cli/exitcodes.py)."""


class RefusedError(IkmError):
    """Refused for safety (a label or file already taken, several candidates) or waiting for an
    explicit confirmation; nothing was changed (CLI exit status 3)."""


class AlreadyPresentError(RefusedError):
    """The very object asked for is already on the token: nothing to write, nothing wrong
    (`cert add` of a CA that is already there exits 0 with a note)."""


def from_exception(exc: BaseException, operation: str | None = None) -> IkmError:
    """Translate any exception from python-pkcs11 (or ours) into an IkmError."""
    if isinstance(exc, IkmError):
        if operation and not exc.operation:
            # A copy, not a new IkmError: the subclass (NotFoundError, RefusedError) is the CLI's exit
            # status. Made without __init__ (subclasses such as LoginError take other arguments).
            named = type(exc).__new__(type(exc), *exc.args)
            named.__dict__.update(exc.__dict__)
            named.operation = operation
            return named
        return exc
    if "pkcs11.exceptions" not in sys.modules:
        # python-pkcs11 was never imported: exc cannot be one of its exceptions.
        return IkmError(f"{type(exc).__name__}: {exc}", "", None, None, operation)
    from ikm_tui.core.p11.exceptions import translate

    found = translate(exc)
    if found is None:
        return IkmError(f"{type(exc).__name__}: {exc}", "", None, None, operation)
    if found.message is None:
        if found.ckr_name is None:
            return IkmError(found.cause or "", found.next_step or "", None, None, operation)
        entry = CKR_BY_NAME[found.ckr_name]
        return IkmError(found.cause or entry.cause, found.next_step or entry.next_step, entry.name,
                        entry.code, operation)
    return _from_module_message(exc, found.message, operation)


def _from_module_message(exc: BaseException, msg: str, operation: str | None) -> IkmError:
    """The base PKCS11Error: python-pkcs11 had no class for the code and says it in words."""
    match = _UNMAPPED.search(msg)
    if match:
        code = int(match.group(1), 16)
        entry = ckr_for_code(code)
        if entry is not None:
            return IkmError(entry.cause, entry.next_step, entry.name, code, operation)
        return IkmError(f"The module returned an error ikm-tui cannot name: {unknown_code_text(code)}",
                        "See the trace (`--trace FILE`) for the failing call and the module's documentation.",
                        unknown_code_name(code), code, operation)
    for text, name in _MESSAGE_CKR:
        if text in msg:
            entry = CKR_BY_NAME[name]
            return IkmError(entry.cause, entry.next_step, entry.name, entry.code, operation)
    return IkmError(f"The PKCS#11 module reported {type(exc).__name__}: {msg}",
                    "See the trace (`--trace FILE`) for the failing call.",
                    None, None, operation)
