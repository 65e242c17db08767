"""Expiry at a glance: days left as words (EXPIRED, 12d) that do not depend on colour; the header line."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from textual.content import Content

from ikm_tui.core.model import Listing, ObjectInfo
from ikm_tui.ui.text import literal

# Under this many days left a certificate is "soon" (amber); the usual renewal window.
SOON_DAYS = 30
# Light red and amber, not ANSI red/yellow: with NO_COLOR Textual turns colours into greys by
# luminance, and ANSI red became grey 237 on the 234 background, i.e. invisible.
EXPIRED_STYLE = "bold #ff5f5f"
SOON_STYLE = "bold #ffaf00"


def days_left(obj: ObjectInfo, now: datetime) -> int | None:
    """Whole days until notAfter (negative once expired); None without a parsed certificate."""
    cert = obj.cert
    if cert is None or cert.not_after is None:
        return None
    return (cert.not_after - now).days if cert.not_after >= now else -1 - (now - cert.not_after).days


def cell(obj: ObjectInfo, now: datetime) -> tuple[str, str]:
    """(text, style) for the Left column: the text alone says it, colour only underlines it."""
    days = days_left(obj, now)
    if days is None:
        return "-", "dim"
    if days < 0:
        return "EXPIRED", EXPIRED_STYLE
    if days < SOON_DAYS:
        return f"{days}d SOON", SOON_STYLE
    return f"{days}d", ""


def sort_key(obj: ObjectInfo, now: datetime) -> tuple[int, int]:
    """Soonest first (expired at the top); certificates without a date last."""
    days = days_left(obj, now)
    return (1, 0) if days is None else (0, days)


def counts(certs: Iterable[ObjectInfo], now: datetime) -> tuple[int, int]:
    """(expired, expiring within SOON_DAYS)."""
    expired = soon = 0
    for obj in certs:
        days = days_left(obj, now)
        if days is None:
            continue
        if days < 0:
            expired += 1
        elif days < SOON_DAYS:
            soon += 1
    return expired, soon


def summary(certs: Iterable[ObjectInfo], now: datetime) -> str:
    """For the header: '' when nothing needs attention, else e.g. '1 EXPIRED, 2 <30d'."""
    expired, soon = counts(certs, now)
    parts = ([f"{expired} EXPIRED"] if expired else []) + ([f"{soon} <{SOON_DAYS}d"] if soon else [])
    return ", ".join(parts)


def status_line(listing: Listing, certs: Iterable[ObjectInfo], now: datetime) -> Content:
    """The header: token, login state (with its hint), expiry count, serial.

    The state and the count come before the serial: a narrow terminal cuts the end of the line,
    and at 80 columns '(l: log in)' used to be what was cut.
    """
    t = listing.token
    state = ("logged in" if listing.logged_in else
             "public only (l: log in)" if t.login_required else "no login needed")
    soon = summary(certs, now)
    return Content.assemble(literal(t.label, "bold"), literal(f" · {state}"),
                            literal(f" · certs: {soon}" if soon else "", SOON_STYLE),
                            literal(f" · serial {t.serial}"))
