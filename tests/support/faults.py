"""Fault injection around the real Backend: PIN lockout, token removal, hangs, C_Initialize failure.

SoftHSM never locks a PIN and cannot be unplugged, so those faults are injected here, at the
backend boundary, around the *real* module: every call that is not faulted still reaches SoftHSM.
This is the only fake in the project.

Use, with a service of its own (a module no other service has loaded, e.g. to fail C_Initialize):

    svc = TokenService(path, backend_factory=faulty_factory(plan))

or, on the process-wide service (one thread per module: never a second service on SoftHSM):

    with faults.installed(get_service(path), FaultPlan().pin_flags(final_try=True)) as faulty:
        ...
    # or: faulty = install(service, plan) ... uninstall(service)

Targets are backend method names (`list_objects`, `login`, `token_info`, `_describe`, ...),
session methods as `session.<name>` (`session.generate_keypair`, `session.get_objects`, ...),
and `C_Login` (the login call proper) and `C_Initialize` (the factory).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import threading
import types
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pkcs11.exceptions as p11x

from ikm_tui.core.model import PinState, SlotInfo, TokenInfo

ExcSpec = type[BaseException] | BaseException

# Calls that still work with the token pulled out (they return "no token" rather than fail).
# Calls that work with no token in the slot (`_recent_slots` is find_slot's slot list: slots(),
# or on a remote module the one read within the last second).
_WITHOUT_TOKEN = frozenset({"close", "logout", "forget_sessions", "module_info", "slots", "_recent_slots",
                            "rescan", "find_slot", "is_logged_in", "detach", "simulate_reinsertion"})
_PIN_FLAG_NAMES = ("user_pin_count_low", "user_pin_final_try", "user_pin_locked")


@dataclass
class _Rule:
    target: str
    exc: ExcSpec | None
    on_call: int | None  # fire on this call (1-based, counted from when the rule was added)
    times: int | None  # fire at most this often; None: every matching call
    start: int
    hang: float | None = None
    removes_token: bool = False
    fired: int = 0

    def matches(self, n: int) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.on_call is not None:
            return n - self.start >= self.on_call
        return True


class PinCounter:
    """A token-side retry counter over the real C_Login: SoftHSM has none of its own.

    A wrong PIN (as SoftHSM judged it) uses a try; the right one restores them all.
    """

    def __init__(self, tries: int) -> None:
        self.tries = tries
        self.left = tries

    def state(self) -> PinState:
        return PinState(user_count_low=0 < self.left < self.tries,
                        user_final_try=self.left == 1,
                        user_locked=self.left <= 0)


class FaultPlan:
    """Which calls fail, hang or report other PIN flags; counts every call it sees.

    Builder methods return the plan, so plans read as one expression.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.rules: list[_Rule] = []
        self.pin: PinState | None = None
        self.counter: PinCounter | None = None
        self.token_present = True
        # Set to end every hang at once (tests; a hang otherwise lasts its full time).
        self.release = threading.Event()
        # Set while a call hangs, so a test can act at exactly that moment.
        self.hanging = threading.Event()
        self._lock = threading.Lock()

    # ----- building ---------------------------------------------------------------------------
    def fail(self, target: str, exc: ExcSpec, *, on_call: int | None = None,
             times: int | None = None) -> FaultPlan:
        """Raise `exc` on the Nth next call of `target` (on_call) or on every call (default)."""
        if on_call is not None and times is None:
            times = 1
        self.rules.append(_Rule(target, exc, on_call, times, self.calls[target]))
        return self

    def hang(self, target: str, seconds: float = 30.0, *, on_call: int | None = None) -> FaultPlan:
        """Block `target` for `seconds` (or until `release` is set), then run it for real."""
        self.rules.append(_Rule(target, None, on_call, 1 if on_call else None, self.calls[target],
                                hang=seconds))
        return self

    def pin_flags(self, *, count_low: bool = False, final_try: bool = False,
                  locked: bool = False) -> FaultPlan:
        """Report these user-PIN flags in every token info (and the slot listing)."""
        self.pin = PinState(user_count_low=count_low, user_final_try=final_try, user_locked=locked)
        return self

    def pin_counter(self, tries: int = 3) -> FaultPlan:
        """Count wrong PINs like a smart card: COUNT_LOW, then FINAL_TRY, then LOCKED."""
        self.counter = PinCounter(tries)
        return self

    def remove_token_during_listing(self, after: int = 1) -> FaultPlan:
        """The token goes away after `after` objects were read: CKR_DEVICE_REMOVED, then absent."""
        self.rules.append(_Rule("_describe", p11x.DeviceRemoved, after + 1, 1,
                                self.calls["_describe"], removes_token=True))
        return self

    def remove_token(self) -> FaultPlan:
        """The token is absent (at start or from now): slots show no token, calls fail."""
        self.token_present = False
        return self

    def fail_initialize(self, exc: ExcSpec = p11x.GeneralError) -> FaultPlan:
        """The module's C_Initialize fails (the factory raises)."""
        return self.fail("C_Initialize", exc)

    # ----- reading ----------------------------------------------------------------------------
    @property
    def login_attempts(self) -> int:
        """How many C_Login calls reached the module (refused logins are not attempts)."""
        return self.calls["C_Login"]

    def pin_state(self) -> PinState | None:
        if self.counter is not None:
            return self.counter.state()
        return self.pin

    # ----- applying ---------------------------------------------------------------------------
    def before(self, target: str) -> None:
        """Count the call and apply the rules for it (runs on the owner thread)."""
        with self._lock:
            self.calls[target] += 1
            n = self.calls[target]
            if not self.token_present and target not in _WITHOUT_TOKEN and "." not in target:
                raise p11x.TokenNotPresent()
            firing = [r for r in self.rules if r.target == target and r.matches(n)]
            for rule in firing:
                rule.fired += 1
        for rule in firing:
            if rule.hang:
                self.hanging.set()
                try:
                    self.release.wait(rule.hang)
                finally:
                    self.hanging.clear()
            if rule.removes_token:
                self.token_present = False
            if rule.exc is not None:
                raise rule.exc() if isinstance(rule.exc, type) else rule.exc


class _SessionProxy:
    """A python-pkcs11 Session whose method calls go through the plan as `session.<name>`."""

    def __init__(self, real: Any, plan: FaultPlan) -> None:
        self.real = real
        self._plan = plan

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if not callable(attr):
            return attr
        plan = self._plan

        def call(*args: Any, **kwargs: Any) -> Any:
            plan.before(f"session.{name}")
            return attr(*args, **kwargs)

        return call


class _TokenProxy:
    """A python-pkcs11 Token whose open() counts C_Login and returns session proxies."""

    def __init__(self, real: Any, plan: FaultPlan) -> None:
        self.real = real
        self._plan = plan

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def open(self, **kwargs: Any) -> Any:
        plan = self._plan
        if kwargs.get("user_pin") is None:
            return _SessionProxy(self.real.open(**kwargs), plan)
        plan.before("C_Login")
        counter = plan.counter
        if counter is not None and counter.left <= 0:
            raise p11x.PinLocked()
        try:
            sess = self.real.open(**kwargs)
        except p11x.PinIncorrect:
            if counter is not None:
                counter.left -= 1
            raise
        if counter is not None:
            counter.left = counter.tries
        return _SessionProxy(sess, plan)


def _with_pin(info: TokenInfo, pin: PinState) -> TokenInfo:
    flags = tuple(f for f in info.flags if f not in _PIN_FLAG_NAMES)
    for name, on in zip(_PIN_FLAG_NAMES, (pin.user_count_low, pin.user_final_try, pin.user_locked)):
        if on:
            flags += (name,)
    merged = dataclasses.replace(info.pin, user_count_low=pin.user_count_low,
                                 user_final_try=pin.user_final_try, user_locked=pin.user_locked)
    return dataclasses.replace(info, pin=merged, flags=flags)


class FaultyBackend:
    """Wraps a real Backend: its methods run with `self` = this wrapper, so the backend's own
    inner calls (login -> token_info, list_objects -> _describe) meet the faults too. State
    (sessions, caches) stays on the real backend; attribute writes go there.

    It satisfies core.p11.protocol.TokenBackend by delegation (every Backend method is reached
    through __getattr__), which tests/token/test_faults.py checks.
    """

    def __init__(self, real: Any, plan: FaultPlan) -> None:
        object.__setattr__(self, "real", real)
        object.__setattr__(self, "plan", plan)

    def __getattr__(self, name: str) -> Any:
        real = object.__getattribute__(self, "real")
        attr = inspect.getattr_static(type(real), name, None)
        if not inspect.isfunction(attr):
            return getattr(real, name)
        bound = types.MethodType(attr, self)
        plan: FaultPlan = object.__getattribute__(self, "plan")

        # functools.wraps names Backend's own function as `__wrapped__`: TokenService routes
        # `svc.run(Backend.login, ...)` through this stand-in only when it wraps that very
        # function, so every call by function reference meets the plan as a call by name did.
        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            plan.before(name)
            return _after(name, bound(*args, **kwargs), plan)

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "real"), name, value)

    def simulate_reinsertion(self) -> None:
        """Pull and reinsert the token: the module drops our sessions (C_CloseAllSessions, for
        real), so the next call on an old session gets the module's CKR_SESSION_HANDLE_INVALID."""
        self.plan.token_present = True
        for slot_id in list(self.real._sessions):  # noqa: SLF001 - test machinery
            self.real.raw.close_all_sessions(slot_id)

    def detach(self) -> Any:
        """The real backend, with the session proxies taken out of its cache."""
        real = self.real
        for slot_id, (sess, logged_in) in list(real._sessions.items()):  # noqa: SLF001
            if isinstance(sess, _SessionProxy):
                real._sessions[slot_id] = (sess.real, logged_in)  # noqa: SLF001
        for slot_id, tok in list(real._tokens.items()):  # noqa: SLF001
            if isinstance(tok, _TokenProxy):
                real._tokens[slot_id] = tok.real  # noqa: SLF001
        return real


def _after(name: str, value: Any, plan: FaultPlan) -> Any:
    """Rewrite what a backend call returns: PIN flags, token presence, proxies."""
    if name == "_token":
        return value if isinstance(value, _TokenProxy) else _TokenProxy(value, plan)
    if name == "session":
        # Sessions opened before the plan was installed meet the faults too.
        return value if isinstance(value, _SessionProxy) else _SessionProxy(value, plan)
    if name == "_token_info" and isinstance(value, TokenInfo):
        pin = plan.pin_state()
        return _with_pin(value, pin) if pin is not None else value
    if name == "slots" and not plan.token_present:
        return [dataclasses.replace(s, token=None,
                                    flags=tuple(f for f in s.flags if f != "token_present"))
                for s in value if isinstance(s, SlotInfo)]
    return value


def faulty_factory(plan: FaultPlan) -> Callable[[str], FaultyBackend]:
    """A TokenService backend_factory: C_Initialize faults, then the real Backend, wrapped."""

    def factory(path: str) -> FaultyBackend:
        from ikm_tui.core.p11.backend import Backend

        plan.before("C_Initialize")
        return FaultyBackend(Backend(path), plan)

    return factory


def install(service: Any, plan: FaultPlan) -> FaultyBackend:
    """Put `plan` in front of the service's backend (on its owner thread)."""
    faulty: FaultyBackend = service.wrap_backend(
        lambda b: FaultyBackend(b.detach() if isinstance(b, FaultyBackend) else b, plan))
    return faulty


def uninstall(service: Any) -> None:
    """Back to the real backend. Queued behind any call in progress: set `plan.release` first
    if a hang is under way (`installed` does)."""

    def unwrap(b: Any) -> Any:
        return b.detach() if isinstance(b, FaultyBackend) else b

    service.wrap_backend(unwrap)


@contextmanager
def installed(service: Any, plan: FaultPlan) -> Iterator[FaultyBackend]:
    faulty = install(service, plan)
    try:
        yield faulty
    finally:
        plan.release.set()
        uninstall(service)
