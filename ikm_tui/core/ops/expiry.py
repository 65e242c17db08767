"""Expiry across everything: every certificate on every token of every module (and remote), soonest first.

Read without logging in: certificates are public objects, and whether the key is on the token
is known before login through its public-key object (what NSS relies on too). One token that
cannot be read is reported next to the rows, never the end of the run.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ikm_tui.core.errors import IkmError, from_exception
from ikm_tui.core.model import Listing, ObjClass

if TYPE_CHECKING:
    from ikm_tui.core.p11.backend import Backend
    from ikm_tui.core.p11.modules import ModuleCandidate
    from ikm_tui.core.p11.service import TokenService

# The usual renewal window; `expiry` without --within uses it.
DEFAULT_WITHIN = 30


def days_left(not_after: datetime | None, now: datetime) -> int | None:
    """Whole days until notAfter (negative once expired: -1 on the day after); None without a date."""
    if not_after is None:
        return None
    return (not_after - now).days if not_after >= now else -1 - (now - not_after).days


@dataclass(frozen=True)
class ExpiryRow:
    """One certificate on one token. `key`: 'private' (its private key is visible), 'public' (only
    its public-key object: the usual view before login), None (no key of it on this token)."""

    days_left: int | None
    not_after: datetime | None
    module: str  # what the operator calls the module: its path, or the remote's name
    module_path: str
    token: str
    token_serial: str
    slot_id: int
    label: str
    id: bytes
    subject: str
    issuer: str
    key: str | None

    @property
    def expired(self) -> bool:
        return self.days_left is not None and self.days_left < 0

    def within(self, days: int) -> bool:
        """Expired, or expiring in fewer than `days` days."""
        return self.days_left is not None and self.days_left < days


@dataclass(frozen=True)
class Problem:
    """A module or token that could not be read; `token` is None when the module itself failed."""

    module: str
    module_path: str
    token: str | None
    error: str
    counts: bool  # True: counts against the exit status (asked-for module, remote, or a token)


@dataclass
class ExpiryReport:
    rows: list[ExpiryRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    tokens: int = 0  # tokens read


def rows_of(listing: Listing, module: str, module_path: str, now: datetime) -> list[ExpiryRow]:
    """The certificates of one listing as rows (unsorted)."""
    p = listing.pairing
    out: list[ExpiryRow] = []
    for o in listing.objects:
        if o.cls is not ObjClass.CERTIFICATE:
            continue
        cert = o.cert
        key = ("private" if o.handle in p.cert_to_key else
               "public" if o.handle in p.cert_to_public else None)
        na = cert.not_after if cert is not None else None
        out.append(ExpiryRow(
            days_left=days_left(na, now), not_after=na, module=module, module_path=module_path,
            token=listing.token.label, token_serial=listing.token.serial, slot_id=listing.slot_id,
            label=o.label, id=o.id, subject=cert.subject if cert else "",
            issuer=cert.issuer if cert else "", key=key))
    return out


def sort_rows(rows: Iterable[ExpiryRow]) -> list[ExpiryRow]:
    """Soonest first (expired at the top); certificates without a date last; then by place."""
    return sorted(rows, key=lambda r: (r.days_left is None, r.days_left or 0, r.module, r.token, r.label))


TokenResult = tuple[str, Listing | IkmError]


def read_module(backend: Backend, token: str | None = None) -> list[TokenResult]:
    """On the module's owner thread: every initialised token's listing (or why it failed).

    One function for the whole module, so a remote module's calls queue back to back on its
    thread while the other modules' threads read theirs.
    """
    only = backend.find_slot(token) if token is not None else None
    out: list[TokenResult] = []
    for slot in backend.slots():
        t = slot.token
        if t is None or not t.initialized or only not in (None, slot.slot_id):
            continue
        try:
            out.append((t.label, backend.list_objects(slot.slot_id)))
        except Exception as exc:  # noqa: BLE001 - one bad token is a reported row, not the end
            out.append((t.label, exc if isinstance(exc, IkmError) else from_exception(exc)))
    return out


def collect_each(cands: list[ModuleCandidate], service: Callable[[str], TokenService],
                 now: datetime | None = None, token: str | None = None,
                 counts: Callable[[ModuleCandidate], bool] = lambda c: True) -> Iterator[ExpiryReport]:
    """Every module read in parallel (one owner thread each); one report per module as it is
    done, fastest first: a screen shows the local tokens while a remote one is still answering."""
    now = now or datetime.now(timezone.utc)
    futures: dict[concurrent.futures.Future[list[TokenResult]], tuple[ModuleCandidate, str]] = {}
    for cand in cands:
        svc = service(cand.path)
        futures[svc.submit(read_module, token)] = (cand, svc.module_path)
    for fut in concurrent.futures.as_completed(futures):
        cand, path = futures[fut]
        yield _report_of(cand, path, fut, now, counts(cand))


def _report_of(cand: ModuleCandidate, path: str, fut: concurrent.futures.Future[list[TokenResult]],
               now: datetime, counts: bool) -> ExpiryReport:
    from ikm_tui.core.p11.modules import display_name

    name = display_name(cand)
    report = ExpiryReport()
    try:
        results = fut.result()
    except Exception as exc:  # noqa: BLE001 - a module that fails to load is reported
        err = exc if isinstance(exc, IkmError) else from_exception(exc)
        report.problems.append(Problem(name, path, None, str(err), counts))
        return report
    for label, got in results:
        if isinstance(got, IkmError):
            report.problems.append(Problem(name, path, label, str(got), True))
            continue
        report.tokens += 1
        report.rows.extend(rows_of(got, name, path, now))
    return report


def collect(cands: list[ModuleCandidate], service: Callable[[str], TokenService],
            now: datetime | None = None, token: str | None = None,
            counts: Callable[[ModuleCandidate], bool] = lambda c: True) -> ExpiryReport:
    """All modules' rows, soonest first; problems in the candidates' order."""
    from ikm_tui.core.p11.modules import display_name

    order = {display_name(c): i for i, c in enumerate(cands)}
    report = ExpiryReport()
    for part in collect_each(cands, service, now, token, counts):
        report.rows.extend(part.rows)
        report.problems.extend(part.problems)
        report.tokens += part.tokens
    report.rows = sort_rows(report.rows)
    report.problems.sort(key=lambda p: order.get(p.module, len(order)))
    return report
