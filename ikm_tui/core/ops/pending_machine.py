"""Pending requests on every token of the machine: a CA on one token signs a request made on another.

Requests are read as `ikm-tui certreq list` reads them (ops/pending.py): data objects, readable
without login, and the files kept for tokens that refuse them. Functions taking the Backend run on
the module's owner thread; `pending_everywhere` asks every module discovered (other libraries,
remotes), each on its own owner thread. Results are plain frozen dataclasses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ikm_tui.core.errors import IkmError, NotFoundError, RefusedError
from ikm_tui.core.ops import pending
from ikm_tui.core.ops.pending import PendingRequest
from ikm_tui.core.p11.backend import Backend

if TYPE_CHECKING:
    from ikm_tui.core.p11.modules import ModuleCandidate
    from ikm_tui.core.p11.service import TokenService


@dataclass(frozen=True)
class PendingOnToken:
    """A pending request and the token that holds it (and its key)."""

    token_label: str
    slot_id: int
    request: PendingRequest
    module: str = ""  # the module's name when it is not the CA's own (another library, a remote)

    @property
    def source(self) -> str:
        where = f" of module {self.module}" if self.module else ""
        return f"pending request {self.request.label!r} on token {self.token_label!r}{where}"


@dataclass(frozen=True)
class PendingSearch:
    found: tuple[PendingOnToken, ...]
    unreadable: tuple[str, ...]  # modules that failed to load or to list: their requests are unknown


def pending_on_machine(backend: Backend) -> tuple[PendingOnToken, ...]:
    """Every readable pending request of every initialised token of this module."""
    out: list[PendingOnToken] = []
    for s in backend.slots():
        if s.token is None or not s.token.initialized:
            continue
        try:
            reqs = pending.list_requests(backend, s.slot_id)
        except IkmError:
            continue  # a token that cannot be listed now holds nothing we could sign
        seen: set[bytes] = set()
        for r in reqs:
            if r.error or r.der in seen:  # the same request kept twice (object and file) is one
                continue
            seen.add(r.der)
            out.append(PendingOnToken(s.token.label, s.slot_id, r))
    return tuple(out)


def pending_on_module(backend: Backend, token: str | None = None) -> tuple[PendingOnToken, ...]:
    """This module's pending requests; with `token` (label or pkcs11: URI) only that token's."""
    if token is None:
        return pending_on_machine(backend)
    try:
        slot = backend.find_slot(token)
    except IkmError:
        return ()  # that token is on another module
    return tuple(p for p in pending_on_machine(backend) if p.slot_id == slot)


def pending_everywhere(own: TokenService, cands: Sequence[ModuleCandidate],
                       service: Callable[[str], TokenService], token: str | None = None) -> PendingSearch:
    """The pending requests of every token of every module: `own` (the CA's module) first, then
    each of `cands` (modules.discover()) on its own owner thread, all read in parallel.

    The same request seen through two modules (SoftHSM directly and through p11-kit-proxy) is
    one: the first module's. p11-kit's trust module holds no requests and is not asked.
    """
    from ikm_tui.core.p11.modules import canonical, display_name, is_trust_module

    asked = [("", own.submit(pending_on_module, token))]
    seen = {canonical(own.module_path)}
    unreadable: list[str] = []
    for cand in cands:
        path = canonical(cand.path)
        if path in seen or is_trust_module(path):
            continue
        seen.add(path)
        try:
            asked.append((display_name(cand), service(cand.path).submit(pending_on_module, token)))
        except Exception:  # noqa: BLE001 - a module that cannot start is named, not fatal
            unreadable.append(display_name(cand))
    out: list[PendingOnToken] = []
    earlier: set[bytes] = set()
    for name, fut in asked:
        try:
            found = fut.result()
        except Exception:  # noqa: BLE001 - a module that fails to load: its requests are unknown
            unreadable.append(name or own.module_path)
            continue
        out.extend(replace(p, module=name) if name else p for p in found if p.request.der not in earlier)
        earlier.update(p.request.der for p in found)
    return PendingSearch(tuple(out), tuple(unreadable))


def find_pending(own: TokenService, cands: Sequence[ModuleCandidate], service: Callable[[str], TokenService],
                 label: str, token: str | None = None) -> PendingOnToken:
    """The one pending request labelled `label` on any token of any module (or on the token `token`)."""
    search = pending_everywhere(own, cands, service, token)
    found = [p for p in search.found if p.request.label == label]
    where = f"token {token!r}" if token else "any token of this machine"
    if not found:
        missed = (f" These modules could not be read: {', '.join(search.unreadable)}."
                  if search.unreadable else "")
        raise NotFoundError(f"No pending request labelled {label!r} on {where}.{missed}",
                            "`ikm-tui --token T certreq list` shows a token's pending requests.")
    if len(found) > 1:
        tokens = ", ".join(repr(p.token_label) for p in found)
        raise RefusedError(f"Several pending requests are labelled {label!r} (tokens {tokens}).",
                           "Name the token that holds the one to sign with --request-token.")
    return found[0]
