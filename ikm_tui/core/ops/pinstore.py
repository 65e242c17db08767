"""Opt-in "remember PIN" per token serial, only in a real OS keyring (never plaintext or null)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ikm_tui.core.errors import IkmError
from ikm_tui.core.pin import Pin

SERVICE_NAME = "ikm-tui"

# Keyrings that keep secrets in an OS store (encrypted, unlocked with the session login).
_REAL = (
    ("keyring.backends.SecretService", "Keyring"),
    ("keyring.backends.libsecret", "Keyring"),
    ("keyring.backends.kwallet", "DBusKeyring"),
    ("keyring.backends.macOS", "Keyring"),
    ("keyring.backends.Windows", "WinVaultKeyring"),
)

# Codes meaning "the token rejected this PIN": the cached copy is wrong and must go. A session
# lost or a token removed says nothing about the PIN, so those keep it.
REJECTED = frozenset({"CKR_PIN_INCORRECT", "CKR_PIN_INVALID", "CKR_PIN_LEN_RANGE",
                      "CKR_PIN_EXPIRED", "CKR_PIN_LOCKED"})

NO_KEYRING_NOTICE = (
    "PINs cannot be remembered: no OS keyring is reachable (no D-Bus session / Secret Service, "
    "e.g. over SSH). The PIN will be asked for each time."
)

_notice_lock = threading.Lock()
_notices_given: set[str] = set()


def _real_classes() -> list[type]:
    import importlib

    out: list[type] = []
    for mod_name, cls_name in _REAL:
        try:
            mod = importlib.import_module(mod_name)
        except Exception:  # noqa: BLE001 - a backend whose deps are missing is not available
            continue
        cls = getattr(mod, cls_name, None)
        if isinstance(cls, type):
            out.append(cls)
    return out


def refusal_reason(backend: Any) -> str | None:
    """Why `backend` may not hold a PIN, or None when it is a real OS keyring."""
    mod = type(backend).__module__
    name = f"{mod}.{type(backend).__name__}"
    if mod.startswith("keyrings.alt"):
        return f"{name} stores secrets in a file, readable like any file (keyrings.alt)"
    if mod == "keyring.backends.fail":
        return "no OS keyring is reachable (keyring chose its 'fail' backend)"
    if mod == "keyring.backends.null":
        return "the 'null' keyring discards what it is given"
    if mod == "keyring.backends.chainer":
        return None if _real_in_chain(backend) is not None else "no real OS keyring in the chain"
    if isinstance(backend, tuple(_real_classes())):
        return None
    return f"{name} is not a known OS keyring (Secret Service, KWallet, macOS, Windows)"


def _real_in_chain(chainer: Any) -> Any:
    for backend in getattr(chainer, "backends", []):
        if refusal_reason(backend) is None:
            return backend
    return None


class PinStore:
    """Remember a PIN per token serial in the OS keyring, only when the operator opts in.

    `available` is False (and `notice` says why, once per process) when no real keyring exists;
    prompting then works as before.
    """

    def __init__(self, backend: Any | None = None) -> None:
        self.notice: str | None = None
        self._backend: Any = None
        try:
            if backend is None:
                import keyring

                backend = keyring.get_keyring()
        except Exception as exc:  # noqa: BLE001 - e.g. a bad PYTHON_KEYRING_BACKEND
            self.notice = f"PINs cannot be remembered: the keyring failed to load ({type(exc).__name__})."
            return
        reason = refusal_reason(backend)
        if reason is not None:
            self.notice = (NO_KEYRING_NOTICE if "fail" in reason or "chain" in reason
                           else f"PINs cannot be remembered: {reason}.")
            return
        if type(backend).__module__ == "keyring.backends.chainer":
            # Write to the real keyring itself: the chain would write to its first member.
            backend = _real_in_chain(backend)
        self._backend = backend

    @property
    def available(self) -> bool:
        return self._backend is not None

    def take_notice(self) -> str | None:
        """The notice, the first time it is asked for in this process; None afterwards."""
        if self.notice is None:
            return None
        with _notice_lock:
            if self.notice in _notices_given:
                return None
            _notices_given.add(self.notice)
        return self.notice

    def _fail(self, action: str, exc: BaseException) -> IkmError:
        return IkmError(f"The OS keyring could not {action} ({type(exc).__name__}).",
                        "Unlock the keyring (or log in to the desktop session) and retry; the PIN "
                        "prompt still works.", operation="Remembering the PIN")

    def remember(self, serial: str, pin: Pin) -> None:
        """Store, then read back: a keyring that silently drops writes must not look like success."""
        if self._backend is None:
            raise IkmError(self.notice or NO_KEYRING_NOTICE, "Type the PIN when asked.")
        try:
            self._backend.set_password(SERVICE_NAME, serial, pin.reveal())
            back = self._backend.get_password(SERVICE_NAME, serial)
        except Exception as exc:  # noqa: BLE001
            raise self._fail("store the PIN", exc) from None
        if back != pin.reveal():
            self.forget(serial)
            raise IkmError("The OS keyring did not keep the PIN (read back differs).",
                           "The PIN is not remembered; type it when asked.",
                           operation="Remembering the PIN")

    def recall(self, serial: str) -> Pin | None:
        if self._backend is None:
            return None
        try:
            value = self._backend.get_password(SERVICE_NAME, serial)
        except Exception:  # noqa: BLE001 - a locked keyring: just ask for the PIN
            return None
        return Pin(value) if value else None

    def forget(self, serial: str) -> None:
        if self._backend is None:
            return
        try:
            self._backend.delete_password(SERVICE_NAME, serial)
        except Exception:  # noqa: BLE001 - nothing stored (PasswordDeleteError) is fine
            pass

    def login_with_remembered(self, login: Callable[[Pin], Any], serial: str) -> Any:
        """One login with the remembered PIN; None when none is remembered (then prompt).

        A PIN the token rejects is deleted at once and the error raised: never retried, so a
        stale cached PIN cannot walk the token into lockout.
        """
        pin = self.recall(serial)
        if pin is None:
            return None
        try:
            return login(pin)
        except IkmError as err:
            if err.ckr_name in REJECTED:
                self.forget(serial)
            raise
