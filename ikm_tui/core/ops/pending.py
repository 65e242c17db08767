"""Pending certificate requests: kept on the token as CKO_DATA objects (else in a file), listed,
shown, extracted and deleted.

The storage convention (core/conventions.py): CKA_APPLICATION "ikm-tui request", CKA_LABEL = the
key's label, CKA_VALUE = the DER request. A token that refuses such data objects gets a file under
XDG_DATA_HOME/ikm-tui/requests/<serial>/ instead. Functions taking the Backend run on the owner thread.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from asn1crypto import csr as asn1_csr
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization

from ikm_tui.core import journal
from ikm_tui.core.conventions import REQUEST_APPLICATION
from ikm_tui.core.x509.pem import encode as pem_encode
from ikm_tui.core.files import PUBLIC_MODE, write_file
from ikm_tui.core.x509 import names
from ikm_tui.core.errors import IkmError, from_exception, NotFoundError
from ikm_tui.core.model import Listing, ObjClass
from ikm_tui.core.ops import request_files
from ikm_tui.core.ops.common import require_login
from ikm_tui.core.p11 import objects
from ikm_tui.core.p11.objects import TokenObject
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.p11.keygen import find_keys
from ikm_tui.core.x509.dn import format_dn
from ikm_tui.core.x509.info import public_key_identity


@dataclass(frozen=True)
class PendingRequest:
    """A stored request, parsed; `has_key` is None when private keys are not visible (no login)."""

    label: str
    der: bytes
    where: str  # "token" or "file"
    path: str | None = None
    subject: str = ""
    sans: tuple[str, ...] = ()
    key_usage: tuple[str, ...] = ()
    eku: tuple[str, ...] = ()
    key_type: str = ""
    signature_algorithm: str = ""
    signature_valid: bool = False
    key_id: bytes = b""  # the matching key's CKA_ID, else SHA-1 of the request's public value
    has_key: bool | None = None
    error: str = ""

    @property
    def pem(self) -> str:
        return pem_encode(self.der, "CERTIFICATE REQUEST")


def requests_dir(serial: str) -> Path:
    """Where requests go for a token that refuses data objects: XDG_DATA_HOME/ikm-tui/requests/<serial>/."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "ikm-tui" / "requests" / quote(serial, safe="")


def request_file(backend: Backend, slot_id: int, label: str) -> Path:
    # Labels may hold '/', '..' or control bytes: percent-encode them into one safe file name.
    # One folder per token, not per serial (core/ops/request_files.py says why).
    return request_files.file_for(backend.token_info(slot_id), label)


def token_copies(backend: Backend, slot_id: int, label: str | None = None) -> list[TokenObject]:
    """The request data objects on the token (for `label`), as live objects for the owner thread."""
    return objects.find_data_objects(backend, slot_id, REQUEST_APPLICATION, label)


def _write_token_request(backend: Backend, slot_id: int, label: str, der: bytes) -> TokenObject:
    # A request holds nothing secret, and other tools (and a not-logged-in listing) should see it.
    return objects.create_data_object(backend, slot_id, REQUEST_APPLICATION, label, der, private=False)


def store_request(backend: Backend, slot_id: int, label: str, der: bytes,
                  store: str) -> tuple[str, str | None, list[str], Callable[[], None]]:
    """Save a request; returns (where, path, warnings, undo)."""
    warnings: list[str] = []
    if store in ("auto", "token"):
        try:
            obj = _write_token_request(backend, slot_id, label, der)
            return "token", None, warnings, lambda: objects.destroy_object(obj)
        except objects.REFUSED_DATA_OBJECT as exc:
            if store == "token":
                raise
            err = from_exception(exc)
            warnings.append(f"The token refused to store the request as a data object ({err.ckr_name or err.cause}); "
                            "it was saved in a file instead and will not travel with the token.")
    path = request_file(backend, slot_id, label)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, pem_encode(der, "CERTIFICATE REQUEST"), overwrite=True, mode=PUBLIC_MODE)
    if store == "file":
        warnings.append(f"The request was saved in {path}, not on the token.")
    return "file", str(path), warnings, lambda: path.unlink(missing_ok=True)


def _remove_stored(backend: Backend, slot_id: int, label: str) -> int:
    """Delete every stored copy of the request for `label`; returns how many went."""
    n = 0
    for obj in token_copies(backend, slot_id, label):
        objects.destroy_object(obj)
        n += 1
    path = request_file(backend, slot_id, label)
    if path.exists():
        path.unlink()
        n += 1
    return n


_san_text = names.san_text  # the name tests read SANs through


def key_identity(pub: Any) -> tuple[str, bytes]:
    """("rsa:2048"/"ec:p256"/"ed25519", public value: modulus or raw point) of a cryptography key."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(pub, rsa.RSAPublicKey):
        n = pub.public_numbers().n
        return f"rsa:{pub.key_size}", n.to_bytes((n.bit_length() + 7) // 8, "big")
    if isinstance(pub, ec.EllipticCurvePublicKey):
        known = names.curve(pub.curve.name)
        curve = known.name if known else pub.curve.name
        return f"ec:{curve}", pub.public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return "ed25519", pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return type(pub).__name__, b""


def parse_request(label: str, der: bytes, where: str, path: str | None = None) -> PendingRequest:
    """A PendingRequest from stored DER; a request that does not parse comes back with `error`."""
    try:
        req = cx509.load_der_x509_csr(der)
        info = asn1_csr.CertificationRequest.load(der)["certification_request_info"]
        subject = format_dn(info["subject"])
        sans: tuple[str, ...] = ()
        ku: tuple[str, ...] = ()
        eku: tuple[str, ...] = ()
        for ext in req.extensions:
            if isinstance(ext.value, cx509.SubjectAlternativeName):
                sans = tuple(names.san_text(g) for g in ext.value)
            elif isinstance(ext.value, cx509.KeyUsage):
                ku = names.key_usage_names(ext.value)
            elif isinstance(ext.value, cx509.ExtendedKeyUsage):
                eku = names.eku_names(ext.value)
        key_type, public_value = key_identity(req.public_key())
        sig = asn1_csr.CertificationRequest.load(der)["signature_algorithm"]["algorithm"].native
        return PendingRequest(label, der, where, path, subject, sans, ku, eku, key_type, str(sig),
                              bool(req.is_signature_valid),
                              hashlib.sha1(public_value).digest() if public_value else b"")  # noqa: S324
    except Exception as exc:  # noqa: BLE001 - a damaged request is listed, not fatal
        return PendingRequest(label, der, where, path, error=f"unparsed ({exc})")


def _with_key(listing: Listing, req: PendingRequest) -> PendingRequest:
    """Fill key_id/has_key from the listing: the public key with this label and the same key."""
    if req.error:
        return req
    from dataclasses import replace

    ident = public_key_identity(cx509.load_der_x509_csr(req.der).public_key())[3]
    key_id = next((o.id for o in listing.objects
                   if o.cls is ObjClass.PUBLIC_KEY and o.label == req.label and o.public_key_id == ident),
                  req.key_id)
    # Private keys are invisible before login: then "unknown", not "missing".
    has_key = (any(o.cls is ObjClass.PRIVATE_KEY and o.id == key_id for o in listing.objects)
               if listing.logged_in else None)
    return replace(req, key_id=key_id, has_key=has_key)


def requests_in_listing(listing: Listing) -> tuple[PendingRequest, ...]:
    """Pending requests of a listed token, with no further token calls: its request data objects
    (the listing already read their values), then files kept for it, by label."""
    out = [parse_request(o.label, o.value or b"", "token") for o in request_files.request_objects(listing)]
    folder = request_files.folder_for(listing.token)
    shared = not request_files.unique_folder(listing.token)
    if folder.is_dir():
        for path in sorted(folder.glob("*.csr.pem")):
            label = unquote(path.name.removesuffix(".csr.pem"))
            try:
                der = cx509.load_pem_x509_csr(path.read_bytes()).public_bytes(serialization.Encoding.DER)
            except (ValueError, OSError) as exc:
                if not shared:
                    out.append(PendingRequest(label, b"", "file", str(path), error=f"unreadable ({exc})"))
                continue
            if shared and not request_files.key_on_token(
                    listing, public_key_identity(cx509.load_der_x509_csr(der).public_key())[3]):
                continue  # a token with the same label elsewhere: its request, not ours
            out.append(parse_request(label, der, "file", str(path)))
    out = [_with_key(listing, r) for r in out]
    out.sort(key=lambda r: (r.label, r.where))
    return tuple(out)


def list_requests(backend: Backend, slot_id: int) -> tuple[PendingRequest, ...]:
    """Pending requests of this token (one listing; see requests_in_listing)."""
    return requests_in_listing(backend.list_objects(slot_id))


def request_details(backend: Backend, slot_id: int, label: str) -> PendingRequest:
    """The pending request stored under `label` (IkmError if none)."""
    for req in list_requests(backend, slot_id):
        if req.label == label:
            return req
    raise NotFoundError(f"No pending request labelled {label!r} on this token.",
                   "`ikm-tui certreq list` shows the pending requests.")


def extract(backend: Backend, slot_id: int, label: str) -> str:
    """The PEM text of the pending request `label`."""
    return request_details(backend, slot_id, label).pem


def _journal_delete(backend: Backend, slot_id: int, label: str, key_id: bytes | None) -> None:
    """The request copies (and the key pair) about to go, for the journal (core/journal.py)."""
    listing = backend.list_objects(slot_id)
    doomed = [o for o in listing.objects if o.cls is ObjClass.DATA and o.application == REQUEST_APPLICATION
              and o.label == label]
    if key_id is not None:
        doomed += [o for o in listing.objects if o.cls in (ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY)
                   and o.id == key_id]
    # Keys first in the journal as on the token (undo cannot bring a key back; finish can).
    journal.intend("certreq delete", [journal.destroy_step(o) for o in doomed[::-1]], listing)


def delete(backend: Backend, slot_id: int, label: str, *, with_key: bool = False) -> tuple[str, ...]:
    """Delete the pending request (and, with `with_key`, its key pair); returns what was deleted.

    The key pair is only deleted when no certificate shares its CKA_ID: a received certificate
    would be left without its key.
    """
    req = request_details(backend, slot_id, label)
    done: list[str] = []
    if with_key:
        require_login(backend, slot_id, "Deleting a key pair")
        keys = list(find_keys(backend.session(slot_id), key_id=req.key_id))
        certs = [o for o in keys if objects.object_class(o) is ObjClass.CERTIFICATE]
        if certs:
            raise IkmError(f"A certificate shares the key of request {label!r} (ID {req.key_id.hex()}).",
                           "Delete only the request (leave out --with-key); the key belongs to that certificate.")
    _journal_delete(backend, slot_id, label, req.key_id if with_key else None)
    if with_key:
        for obj in keys:
            objects.destroy_object(obj)
            done.append("private key" if objects.object_class(obj) is ObjClass.PRIVATE_KEY else "public key")
    n = _remove_stored(backend, slot_id, label)
    done.insert(0, "request" if n == 1 else f"{n} copies of the request")
    return tuple(done)
