"""Revoking what a CA on the token issued, and publishing its CRL, signed on the token.

Functions taking the Backend run on the module's owner thread. Revocations are kept in an
append-only file beside the issue log (ops/ca_log.py); a CRL lists every one of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from asn1crypto import x509 as asn1_x509
from cryptography import x509 as cx509

from ikm_tui.core.errors import IkmError, NotFoundError, from_exception
from ikm_tui.core.ops import ca_log
from ikm_tui.core.ops.ca import ca_signer, find_ca
from ikm_tui.core.ops.common import require_login
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.x509 import crl as crllib
from ikm_tui.core.x509.pem import encode as pem_encode


@dataclass(frozen=True)
class Revoked:
    """The outcome of `ca revoke`."""

    serial: str
    revoked_at: str
    reason: str
    already: bool  # it had been revoked before: nothing was added


@dataclass(frozen=True)
class Crl:
    """A CRL signed on the token."""

    der: bytes
    number: int
    revoked: int
    this_update: str
    next_update: str

    @property
    def pem(self) -> str:
        return pem_encode(self.der, "X509 CRL")


def _serial_hex(text: str) -> str:
    cleaned = text.strip().replace(":", "").upper().removeprefix("0X")
    try:
        return f"{int(cleaned, 16):X}"
    except ValueError:
        raise IkmError(f"{text!r} is not a serial number in hex.",
                       "Copy it from `ikm-tui ca list` (or `openssl x509 -serial`).") from None


def revoke(backend: Backend, slot_id: int, ca_label: str, serial: str, reason: str = "unspecified") -> Revoked:
    """Record that the certificate `serial` (hex) this CA issued is revoked; the next CRL lists it."""
    if reason not in crllib.REASONS:
        raise IkmError(f"Unknown reason {reason!r}.", f"Use one of {', '.join(crllib.REASONS)}.")
    ca = find_ca(backend, slot_id, ca_label)
    wanted = _serial_hex(serial)
    if wanted not in ca_log.serials(ca.sha256):
        raise NotFoundError(f"The CA {ca_label!r} has no certificate with serial {wanted} in its issue log.",
                            f"See `ikm-tui ca list {ca_label}`.")
    for r in ca_log.revocations(ca.sha256):
        if r.serial == wanted:
            return Revoked(wanted, r.revoked_at, r.reason, True)
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    ca_log.append_revocation(ca.sha256, ca_log.Revocation(wanted, now, reason))
    return Revoked(wanted, now, reason, False)


def make_crl(backend: Backend, slot_id: int, ca_label: str, days: int = 7, hash: str | None = None) -> Crl:  # noqa: A002
    """A CRL of every revocation of the CA, valid for `days`, signed with the CA key on the token."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise IkmError(f"--days must be a whole number of at least 1, not {days!r}.", "Give e.g. --days 7.")
    require_login(backend, slot_id, "Signing a CRL")
    ca = find_ca(backend, slot_id, ca_label)
    revoked = [(int(r.serial, 16), datetime.fromisoformat(r.revoked_at), r.reason)
               for r in ca_log.revocations(ca.sha256)]
    this_update = datetime.now(timezone.utc).replace(microsecond=0)
    next_update = this_update + timedelta(days=days)
    # Microseconds since the epoch: increases from one CRL to the next without a counter file.
    number = time.time_ns() // 1000
    signer, sig_alg = ca_signer(backend, slot_id, ca, hash)
    try:
        der = crllib.build_crl(issuer=asn1_x509.Certificate.load(ca.der).subject, issuer_ski=ca.ski, sign=signer,
                               sig_alg=sig_alg, this_update=this_update, next_update=next_update,
                               crl_number=number, revoked=revoked)
        if not cx509.load_der_x509_crl(der).is_signature_valid(ca.cert.public_key()):  # type: ignore[arg-type]
            raise IkmError("The CRL's signature does not verify with the CA's public key.",
                           "Nothing was written. Report this with the trace (`--trace FILE`).")
    except Exception as exc:  # noqa: BLE001 - a token or encoding failure, said in operator terms
        raise from_exception(exc, "Signing the CRL") from None
    return Crl(der, number, len(revoked), this_update.isoformat(), next_update.isoformat())
