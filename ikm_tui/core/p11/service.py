"""TokenService: one thread owns each loaded PKCS#11 module; sync and async facades over it.

python-pkcs11 initialises modules without locking (C_Initialize(NULL)) and SoftHSM then crashes
under concurrent calls, so every call to a Backend, including its construction, happens on the
service's own thread. Callers get plain dataclasses back. Each call runs in a copy of the
context it was submitted from (contextvars), so what a caller sets there for its operation (the
journal note of a token write, core/journal.py) travels with that call and no other.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import itertools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, NamedTuple, ParamSpec, TypeVar, cast

from ikm_tui.core.errors import IkmError, from_exception
from ikm_tui.core.p11.protocol import TokenBackend

if TYPE_CHECKING:
    from ikm_tui.core.p11.backend import Backend

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

# What every caller hands the owner thread: a function whose first parameter is the backend.
# Typed against Backend (what the function is written for); at run time it may receive the
# fault wrapper, which behaves as a Backend (see TokenBackend).
BackendFn = Callable[Concatenate["Backend", P], R]


class _Job(NamedTuple):
    """One queued call. Any: the one queue carries calls of every result type."""

    fut: concurrent.futures.Future[Any]
    name: str
    fn: Callable[..., Any] | None  # None: load the module
    args: tuple[object, ...]
    kwargs: dict[str, object]
    ticket: int
    context: contextvars.Context  # the submitter's, copied: the call runs in it


_STOP = object()


@dataclass(frozen=True)
class Activity:
    """What the owner thread is doing: the call running (and for how long) and the calls queued
    behind it, oldest first. Read from any thread, for a "waiting for the token" indicator."""

    running: str | None = None
    running_for: float = 0.0
    queued: tuple[str, ...] = ()


@dataclass(frozen=True)
class TraceEntry:
    """One call through the owner thread. `args` is a summary with PINs replaced by ***."""

    seq: int
    function: str
    args: str
    result: str
    duration_ms: float
    started: float


# Calls whose positional str/bytes arguments may be a PIN (a caller passing a plain str by
# mistake): those arguments are never shown, not even their length.
_PIN_CALLS = ("login", "pin")

# After these the module has dropped our sessions: forget them so the next call reopens a public
# one. Logging in again is the operator's decision, and this is never counted as a wrong PIN.
_SESSION_LOST = ("CKR_SESSION_HANDLE_INVALID", "CKR_SESSION_CLOSED", "CKR_DEVICE_REMOVED",
                 "CKR_TOKEN_NOT_PRESENT")  # only as raised by the module, not our own IkmErrors


def summarize_args(args: tuple[object, ...], kwargs: dict[str, object], function: str = "") -> str:
    from ikm_tui.core.pin import Pin

    pin_call = any(word in function.lower() for word in _PIN_CALLS)

    def one(v: object) -> str:
        if isinstance(v, Pin):
            return "***"
        if pin_call and isinstance(v, (str, bytes, bytearray, memoryview)):
            return "***"
        if isinstance(v, (bytes, bytearray)):
            return f"<{len(v)} bytes>"
        if callable(v) and not isinstance(v, type):
            # A progress callback: its repr (`<function _progress at 0x…>`) tells the reader nothing.
            return f"<{getattr(v, '__name__', 'callback')}>"
        text = repr(v)
        return text if len(text) <= 60 else text[:57] + "..."

    parts = [one(a) for a in args]
    for k, v in kwargs.items():
        parts.append(f"{k}={'***' if 'pin' in k.lower() else one(v)}")
    return ", ".join(parts)


def _call_name(fn: Callable[..., object]) -> str:
    """The trace and activity name of a call: the function's own name (`login`, `list_objects`).

    PIN redaction in traces goes by this name (see _PIN_CALLS), so it must be the real one.
    """
    return getattr(fn, "__name__", "run")


def _invoke(backend: TokenBackend, fn: Callable[..., R], args: tuple[object, ...],
            kwargs: dict[str, object]) -> R:
    """fn(backend, *args, **kwargs), routed through the backend object when fn is its method.

    `svc.run(Backend.login, ...)` names the plain function, but the backend on the owner thread
    may be the fault wrapper (tests/support/faults.py), which counts, hangs or fails a call by
    the method's name before running Backend's own code. Calling the function directly would
    skip the wrapper for the outer call and keep the fault tests green for the wrong reason, so
    the method is looked up on the object: a Backend gives the bound method of that very
    function, the wrapper a stand-in that names it as `__wrapped__` (functools.wraps). Anything
    else with the same name (a use-case helper) is not redirected.
    """
    bound = getattr(backend, _call_name(fn), None)
    if bound is not None:
        target = getattr(bound, "__func__", None) or getattr(bound, "__wrapped__", None)
        if target is fn:
            return cast(R, bound(*args, **kwargs))
    return fn(backend, *args, **kwargs)


class TokenService:
    """Runs `backend_factory(module_path)` and every later call on one daemon thread.

    Calls queue in order; a hung call holds up the queue but never the caller's event loop,
    and the thread is a daemon so quitting never waits for a hung module.

    Every call names a function whose first parameter is the backend, usually a Backend method:
    `svc.run(Backend.login, slot, pin)`, `await svc.arun(Backend.list_objects, slot)`,
    `svc.run(create_request, slot, ...)`. Arguments and result are type-checked against it.
    """

    def __init__(self, module_path: str, backend_factory: Callable[[str], TokenBackend] | None = None,
                 tracer: Callable[[TraceEntry], None] | None = None) -> None:
        if backend_factory is None:
            from ikm_tui.core.p11.backend import Backend

            backend_factory = Backend
        self.module_path = module_path
        self._factory = backend_factory
        self._queue: queue.Queue[_Job | object] = queue.Queue()
        self._seq = itertools.count(1)
        self._tickets = itertools.count(1)
        self.tracers: list[Callable[[TraceEntry], None]] = [tracer] if tracer else []
        self._backend: TokenBackend | None = None
        self._loading = True  # until the load call is traced: see _trace
        self._early: list[TraceEntry] = []
        self._load_error: IkmError | None = None
        self._closed = False
        # For activity() only: calls submitted and not finished (ticket -> name, in order) and
        # the one running (ticket, name, start). Their own lock, never held during a call.
        self._activity_lock = threading.Lock()
        self._waiting: dict[int, str] = {}
        self._running: tuple[int, str, float] | None = None
        self._thread = threading.Thread(target=self._run, name=f"pkcs11:{module_path}", daemon=True)
        self._thread.start()
        self._ready: concurrent.futures.Future[None] = self._submit("load", None, (), {})

    @property
    def owner_thread(self) -> threading.Thread:
        return self._thread

    # ----- the owner thread -------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if not isinstance(item, _Job):
                self._stop()
                return
            self._one(item)
            # Drop the reference so a PIN does not linger in this frame's locals.
            del item

    def _stop(self) -> None:
        started = time.monotonic()
        result_name = "OK"
        if self._backend is not None:
            try:
                self._backend.close()
            except Exception as exc:  # noqa: BLE001 - closing must not raise at exit
                result_name = type(exc).__name__
        # Traced so an operator (and the SIGHUP test) can see the sessions were closed.
        self._trace(TraceEntry(next(self._seq), "close", "", result_name,
                               (time.monotonic() - started) * 1000.0, started))

    def _one(self, job: _Job) -> None:
        fut, name, fn, args, kwargs, ticket, context = job
        if not fut.set_running_or_notify_cancel():
            self._finished(ticket)
            return
        started = time.monotonic()
        with self._activity_lock:
            self._running = (ticket, name, started)
        result_name = "OK"
        try:
            if fn is None:
                try:
                    self._backend = self._factory(self.module_path)
                    # Every C_* call the backend makes is traced too (core/p11/calltrace.py).
                    hook = getattr(self._backend, "set_call_sink", None)
                    if callable(hook):
                        hook(self._record_call, self._keeps_calls)
                except Exception as exc:  # noqa: BLE001
                    self._load_error = from_exception(exc, "Loading the module")
                    raise self._load_error from None
                value: object = None
            else:
                if self._backend is None:
                    raise self._load_error or IkmError("The module is not loaded.")
                value = context.run(_invoke, self._backend, fn, args, kwargs)
            fut.set_result(value)
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the caller
            err = exc if isinstance(exc, IkmError) else from_exception(exc, name)
            result_name = err.ckr_name or type(exc).__name__
            if (err.ckr_name in _SESSION_LOST and not isinstance(exc, IkmError)
                    and self._backend is not None):
                err = self._session_lost(err)
            # Hand back our IkmError without the original traceback: its frames hold the
            # arguments (a PIN included) and would reach a crash screen's locals.
            fut.set_exception(err.with_traceback(None))
        finally:
            self._finished(ticket)
            self._trace(TraceEntry(next(self._seq), name, summarize_args(args, kwargs, name),
                                   result_name, (time.monotonic() - started) * 1000.0, started))
            if fn is not None:
                # No tracer came during the call after the load: the load's entries are stale.
                self._early.clear()
            self._loading = False
        # Drop references so a PIN does not linger in this frame's locals.
        del job, fut, args, kwargs, context

    def _finished(self, ticket: int) -> None:
        with self._activity_lock:
            self._waiting.pop(ticket, None)
            if self._running is not None and self._running[0] == ticket:
                self._running = None

    def activity(self) -> Activity:
        """The call running on the owner thread and the calls queued behind it (thread-safe)."""
        with self._activity_lock:
            running = self._running
            queued = tuple(name for t, name in self._waiting.items() if running is None or t != running[0])
        if running is None:
            return Activity(None, 0.0, queued)
        return Activity(running[1], time.monotonic() - running[2], queued)

    def _trace(self, entry: TraceEntry) -> None:
        if not self.tracers:
            # The module's load (C_Initialize) happens before anyone can attach a tracer (the
            # CLI adds --trace's after wait_ready): keep those entries for a tracer attached
            # before the next call ends.
            if self._loading:
                self._early.append(entry)
            return
        if self._early:
            early, self._early = self._early, []
            for e in early:
                self._dispatch(e)
        self._dispatch(entry)

    def _dispatch(self, entry: TraceEntry) -> None:
        for tracer in list(self.tracers):
            try:
                tracer(entry)
            except Exception:  # noqa: BLE001 - a broken tracer must not break calls
                pass

    def _keeps_calls(self) -> bool:
        """What _record_call keeps: with a tracer attached, or while loading (see _trace)."""
        return bool(self.tracers) or self._loading

    def _record_call(self, function: str, args: str, result: str, started: float, seconds: float) -> None:
        """One PKCS#11 call (owner thread), traced before the operation that made it."""
        if self.tracers or self._loading:
            self._trace(TraceEntry(next(self._seq), function, args, result, seconds * 1000.0, started))

    def _session_lost(self, err: IkmError) -> IkmError:
        assert self._backend is not None
        try:
            self._backend.forget_sessions()
        except Exception:  # noqa: BLE001 - forgetting is best effort; the error matters
            pass
        if err.ckr_name in ("CKR_SESSION_HANDLE_INVALID", "CKR_SESSION_CLOSED"):
            return IkmError(
                err.cause + " ikm-tui dropped it; the next action opens a new public session.",
                "Log in again if you need private objects (you will be asked; this was not a "
                "wrong PIN and used no PIN try).", err.ckr_name, err.ckr_code, err.operation)
        return err

    def wrap_backend(self, fn: Callable[[TokenBackend], TokenBackend]) -> TokenBackend:
        """Replace the backend by fn(backend), on the owner thread; return the new backend.

        For fault injection in tests (`faults.install`): the process-wide service keeps its
        thread and its loaded module, only the object calls go through changes.
        """

        def wrap_backend(backend: TokenBackend) -> TokenBackend:
            self._backend = fn(backend)
            return self._backend

        return self._submit("wrap_backend", wrap_backend, (), {}).result()

    def _submit(self, name: str, fn: Callable[..., T] | None, args: tuple[object, ...],
                kwargs: dict[str, object], context: contextvars.Context | None = None,
                ) -> concurrent.futures.Future[T]:
        if self._closed:
            raise IkmError("The token service is closed.")
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        ticket = next(self._tickets)
        with self._activity_lock:
            self._waiting[ticket] = name
        self._queue.put(_Job(fut, name, fn, args, kwargs, ticket, context or contextvars.copy_context()))
        return fut

    # ----- facades ----------------------------------------------------------------------------
    def submit(self, fn: BackendFn[P, R], *args: P.args, **kwargs: P.kwargs) -> concurrent.futures.Future[R]:
        """Queue fn(backend, *args, **kwargs) and return its future at once, without waiting."""
        return self._submit(_call_name(fn), fn, args, kwargs)

    def run(self, fn: BackendFn[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Blocking facade for the CLI: fn(backend, *args, **kwargs) on the owner thread."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("run() from the owner thread would deadlock")
        return self.submit(fn, *args, **kwargs).result()

    async def arun(self, fn: BackendFn[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Async facade for the UI: awaits fn(backend, ...) without blocking the event loop."""
        import asyncio  # here, not at the top: the CLI never needs it (~20 ms of its start-up)

        return await asyncio.wrap_future(self.submit(fn, *args, **kwargs))

    def after(self, first: concurrent.futures.Future[T], fn: Callable[Concatenate[Backend, ...], R],
              make_args: Callable[[T], tuple[object, ...] | None]) -> concurrent.futures.Future[R | None]:
        """fn(backend, *make_args(first's result)), queued the moment `first` completes.

        The queuing happens on the owner thread (where `first` completes), so a chain of calls
        runs back to back instead of each waiting for its caller's event loop to come round
        (the TUI's is busy drawing its first frame then). The future fails with `first`'s
        error; it is None, and nothing is called, when make_args returns None.
        """
        out: concurrent.futures.Future[R | None] = concurrent.futures.Future()
        context = contextvars.copy_context()  # the caller's, not the owner thread's at chain time

        def forward(done: concurrent.futures.Future[R]) -> None:
            exc = done.exception()
            if exc is not None:
                out.set_exception(exc)
            else:
                out.set_result(done.result())

        def chain(done: concurrent.futures.Future[T]) -> None:
            try:
                exc = done.exception()
                if exc is not None:
                    out.set_exception(exc)
                    return
                args = make_args(done.result())
                if args is None:
                    out.set_result(None)
                    return
                self._submit(_call_name(fn), fn, args, {}, context).add_done_callback(forward)
            except BaseException as exc:  # noqa: BLE001 - a closed service, a bad make_args
                if not out.done():
                    out.set_exception(exc)

        first.add_done_callback(chain)
        return out

    def loaded(self) -> bool:
        """Whether the module has loaded (or failed to): wait_ready() would not wait."""
        return self._ready.done()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Raise the load error, if the module failed to load."""
        self._ready.result(timeout)

    @property
    def load_error(self) -> IkmError | None:
        return self._load_error

    def close(self, wait: float = 2.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(wait)


# One TokenService per module file for the whole process: two would mean two threads calling
# into the same (unlocked) module.
_registry: dict[str, TokenService] = {}
_registry_lock = threading.Lock()


def get_service(module_path: str,
                backend_factory: Callable[[str], TokenBackend] | None = None) -> TokenService:
    from ikm_tui.core.p11.modules import canonical

    key = canonical(module_path)
    with _registry_lock:
        svc = _registry.get(key)
        if svc is None or svc._closed:  # noqa: SLF001
            svc = TokenService(key, backend_factory)
            _registry[key] = svc
        return svc


def close_all(wait: float = 2.0) -> None:
    with _registry_lock:
        for svc in _registry.values():
            svc.close(wait)
        _registry.clear()
