"""Pending requests kept in files (tokens that refuse data objects): one folder per token, never shared.

Why not the serial alone: every tpm2-pkcs11 token reports 0000000000000000 and other modules
leave it blank, so a folder named by it was shared by unrelated tokens (a request made on one
showed on the other as [KEY MISSING], and `certreq delete` on one deleted the other's file).
A serial names the folder only when it can tell tokens apart; otherwise manufacturer, model and
label do, and a request there counts for a token only when that token holds its key (the CKA_ID
check: two tokens with the same label on two TPMs never hold the same key).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import quote

from ikm_tui.core.conventions import REQUEST_APPLICATION
from ikm_tui.core.model import Listing, ObjClass, ObjectInfo, TokenInfo
from ikm_tui.core.p11.quirks import serial_identifies_token

SUFFIX = ".csr.pem"


def base_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "ikm-tui" / "requests"


def folder_for(token: TokenInfo) -> Path:
    """XDG_DATA_HOME/ikm-tui/requests/<serial>/, or .../token-<hash of manufacturer, model, label>/."""
    if serial_identifies_token(token.serial):
        return base_dir() / quote(token.serial, safe="")
    ident = "\x00".join((token.manufacturer, token.model, token.label)).encode("utf-8", "surrogateescape")
    return base_dir() / ("token-" + hashlib.sha256(ident).hexdigest()[:24])


def unique_folder(token: TokenInfo) -> bool:
    """True when the folder belongs to this token alone (a serial that tells tokens apart)."""
    return serial_identifies_token(token.serial)


def file_for(token: TokenInfo, label: str) -> Path:
    # Labels may hold '/', '..' or control bytes: percent-encode them into one safe file name.
    return folder_for(token) / (quote(label, safe="") + SUFFIX)


def request_objects(listing: Listing) -> list[ObjectInfo]:
    """The listing's request data objects (the storage convention: core/conventions.py)."""
    return [o for o in listing.objects if o.cls is ObjClass.DATA and o.application == REQUEST_APPLICATION]


def may_hold_requests(listing: Listing) -> bool:
    """False when core.ops.pending.requests_in_listing would find nothing: no request data object
    in the listing and no request folder for the token (the two places it reads). Cheap: the TUI
    asks this before it imports core.ops.pending (cryptography and asn1crypto, ~35 ms of its
    start-up) to list requests."""
    return bool(request_objects(listing)) or folder_for(listing.token).is_dir()


def key_on_token(listing: Listing, public_key_id: str | None) -> bool:
    """Does the token hold the request's key (a public key, or an RSA private key, with that value)?"""
    if not public_key_id:
        return False
    return any(o.public_key_id == public_key_id for o in listing.objects
               if o.cls in (ObjClass.PUBLIC_KEY, ObjClass.PRIVATE_KEY))


def remove_fulfilled(token: TokenInfo, label: str, cert_der: bytes) -> str | None:
    """Delete the file kept for `label` when it asked for this certificate's key; its path if so."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    path = file_for(token, label)
    if not path.exists():
        return None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        asked = x509.load_pem_x509_csr(path.read_bytes()).public_key().public_bytes(
            serialization.Encoding.DER, spki)
        got = x509.load_der_x509_certificate(cert_der).public_key().public_bytes(
            serialization.Encoding.DER, spki)
    except (ValueError, OSError):
        return None  # unreadable: leave it for `certreq delete`
    if asked != got:
        return None
    path.unlink()
    return str(path)


def remove_fulfilled_note(token: TokenInfo, label: str, cert_der: bytes) -> list[str]:
    """remove_fulfilled, as the notes a receive reports (what went, or why it could not)."""
    try:
        gone = remove_fulfilled(token, label, cert_der)
    except OSError as exc:
        return [f"the pending request file for {label!r} could not be removed: {exc}"]
    return [f"the pending request kept in {gone} was removed"] if gone else []


def rename(token: TokenInfo, old: str, new: str) -> bool:
    """Move the file kept for `old` to `new` (the key was renamed); never over another request."""
    src, dst = file_for(token, old), file_for(token, new)
    if not src.exists() or dst.exists():
        return False
    src.rename(dst)
    return True
