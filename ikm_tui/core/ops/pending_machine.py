"""Pending requests on every token of the module: a CA on one token signs a request made on another.

Requests are read as `ikm-tui certreq list` reads them (ops/pending.py): data objects, readable
without login, and the files kept for tokens that refuse them. Functions taking the Backend run on
the module's owner thread; results are plain frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass

from ikm_tui.core.errors import IkmError, NotFoundError, RefusedError
from ikm_tui.core.ops import pending
from ikm_tui.core.ops.pending import PendingRequest
from ikm_tui.core.p11.backend import Backend


@dataclass(frozen=True)
class PendingOnToken:
    """A pending request and the token that holds it (and its key)."""

    token_label: str
    slot_id: int
    request: PendingRequest

    @property
    def source(self) -> str:
        return f"pending request {self.request.label!r} on token {self.token_label!r}"


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


def find_pending(backend: Backend, label: str, token: str | None = None) -> PendingOnToken:
    """The one pending request labelled `label` (on the token `token`, a label or pkcs11: URI)."""
    slot = backend.find_slot(token) if token else None
    found = [p for p in pending_on_machine(backend)
             if p.request.label == label and (slot is None or p.slot_id == slot)]
    where = f"token {token!r}" if token else "any token of this module"
    if not found:
        raise NotFoundError(f"No pending request labelled {label!r} on {where}.",
                            "`ikm-tui --token T certreq list` shows a token's pending requests.")
    if len(found) > 1:
        tokens = ", ".join(repr(p.token_label) for p in found)
        raise RefusedError(f"Several pending requests are labelled {label!r} (tokens {tokens}).",
                           "Name the token that holds the one to sign with --request-token.")
    return found[0]
