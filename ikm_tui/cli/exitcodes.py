"""The exit-status table of every command: one place, shown in `--help` and the README."""

from __future__ import annotations

from ikm_tui.core.errors import IkmError, NotFoundError, RefusedError

OK = 0
FAILED = 1
USAGE = 2
REFUSED = 3
NOT_FOUND = 4
PIN = 5
EXPIRING = 6
# Outside the table's own numbers, as the shell reports them: 128 + signal number.
HANGUP = 129
INTERRUPTED = 130
BROKEN_PIPE = 141

TABLE: tuple[tuple[int, str], ...] = (
    (OK, "done (for `lint`: no error findings; for `cert doctor` without --fix: report printed)"),
    (FAILED, "the operation failed (token error, bad file, lint found errors); the token is as it was"),
    (USAGE, "usage error: unknown option, missing argument, a PIN on the command line, bad hex"),
    (REFUSED, "refused for safety or needs confirmation: --yes missing, label or file already taken, "
              "several objects match, FINAL TRY without --confirm-final-try"),
    (NOT_FOUND, "not found: no such module, token, label, request, explain code or howto action"),
    (PIN, "PIN problem: wrong, locked, wrong length, expired, missing (no terminal to ask), "
          "unreadable PIN file"),
    (EXPIRING, "`expiry`: a certificate has expired or expires within --within DAYS"),
)

EPILOG = "exit status:\n" + "\n".join(f"  {code}  {text}" for code, text in TABLE) + (
    "\n  129 hangup (sessions closed), 130 interrupted, 141 output pipe closed (e.g. `| head`)\n")

# By CKR name (or the CKF_ flag LoginError carries when it refuses before C_Login).
_PIN_CODES = frozenset({
    "CKR_PIN_INCORRECT", "CKR_PIN_INVALID", "CKR_PIN_LEN_RANGE", "CKR_PIN_EXPIRED", "CKR_PIN_LOCKED",
    "CKR_PIN_TOO_WEAK", "CKR_USER_PIN_NOT_INITIALIZED", "CKR_USER_NOT_LOGGED_IN",
})
_NOT_FOUND_CODES = frozenset({
    "CKR_TOKEN_NOT_PRESENT", "CKR_SLOT_ID_INVALID", "CKR_TOKEN_NOT_RECOGNIZED", "CKR_DEVICE_REMOVED",
})
_REFUSED_CODES = frozenset({"CKF_USER_PIN_FINAL_TRY"})


class UsageError(IkmError):
    """A command line that cannot be run as given (exit status 2), found after argparse."""


class PinError(IkmError):
    """No PIN could be had (no terminal, unreadable or too open PIN file): exit status 5."""


def exit_status(err: IkmError) -> int:
    """The table's status for an error: by its class first, then by its PKCS#11 code."""
    if isinstance(err, UsageError):
        return USAGE
    if isinstance(err, PinError):
        return PIN
    if err.ckr_name in _REFUSED_CODES or isinstance(err, RefusedError):
        return REFUSED
    if err.ckr_name in _PIN_CODES:
        return PIN
    if isinstance(err, NotFoundError) or err.ckr_name in _NOT_FOUND_CODES:
        return NOT_FOUND
    return FAILED
