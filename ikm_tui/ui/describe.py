"""Plain-text descriptions of tokens and objects for the details pane (no widgets here).

Kept apart from the widgets so the wording of pairing statements can be tested directly and
reused by the help and command palette. Values are raw: the pane sanitises when rendering.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

from ikm_tui.core.model import CertFields, Listing, ObjClass, ObjectInfo, SlotInfo, TokenInfo
from ikm_tui.core.seen_by import seen_by_lines
from ikm_tui.core.uri import token_uri

Row = tuple[str, str]  # (field name, value)

KEY_CLASSES = (ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY, ObjClass.SECRET_KEY)
from ikm_tui.core.conventions import REQUEST_APPLICATION  # noqa: E402 - one name for the convention

MARKER_MEANING = {
    "-": "personal (certificate with its private key)",
    "!": "signer (certificate without a private key here: CA or partner)",
    "#": "secret key",
}


def short_id(obj_id: bytes, width: int = 8) -> str:
    """CKA_ID for a table cell: long SHA-1 style ids are cut, the details pane shows all of it."""
    text = obj_id.hex()
    if not text:
        return "-"
    return text if len(text) <= width else text[:width] + "…"


def id_text(obj_id: bytes) -> str:
    return obj_id.hex() or "(empty)"


def key_kind(obj: ObjectInfo) -> str:
    """`rsa:2048`, `ec:p256`, `ed25519`, `aes:256`: the runmqakm -size / keytool spelling."""
    if not obj.key_type:
        return ""
    if obj.key_type == "ec" and obj.curve:
        return f"ec:{obj.curve}"
    if obj.key_type in ("ed25519", "ed448"):
        return obj.key_type
    return f"{obj.key_type}:{obj.bits}" if obj.bits else obj.key_type


def class_name(obj: ObjectInfo) -> str:
    return {
        ObjClass.PRIVATE_KEY: "private",
        ObjClass.PUBLIC_KEY: "public",
        ObjClass.SECRET_KEY: "secret",
        ObjClass.CERTIFICATE: "cert",
        ObjClass.DATA: "data",
    }.get(obj.cls, "unreadable" if is_unreadable(obj) else obj.cls.value)


def is_unreadable(obj: ObjectInfo) -> bool:
    """The module would not give this object's attributes (core/p11/unreadable.py): listed, flagged."""
    return "unreadable" in obj.flags


def is_request(obj: ObjectInfo) -> bool:
    return obj.cls is ObjClass.DATA and obj.application == REQUEST_APPLICATION


def first_cn(dn: str) -> str:
    """The CN of an RFC 4514 string, for a narrow table column; the whole DN if there is none."""
    for part in dn.split(","):
        key, _, val = part.partition("=")
        if key.strip().upper() == "CN":
            return val.strip()
    return dn


def validity(cert: CertFields, now: datetime) -> str:
    if cert.not_before is None or cert.not_after is None:
        return "unknown"
    if now < cert.not_before:
        return f"NOT YET VALID (starts in {(cert.not_before - now).days} days)"
    if now > cert.not_after:
        return f"EXPIRED {(now - cert.not_after).days} days ago"
    return f"valid, {(cert.not_after - now).days} days left"


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, bytes):
        return value.hex() or "(empty)"
    return str(value) if str(value) != "" else "-"


def pairing_lines(listing: Listing, obj: ObjectInfo) -> list[str]:
    """Who this object belongs to, in words: the operator should never have to guess."""
    p = listing.pairing
    lines: list[str] = []
    hidden = not listing.logged_in and listing.token.login_required
    if obj.cls is ObjClass.CERTIFICATE:
        key_handle = p.cert_to_key.get(obj.handle)
        key = listing.by_handle(key_handle) if key_handle is not None else None
        pub_h = p.cert_to_public.get(obj.handle)
        pub = listing.by_handle(pub_h) if pub_h is not None and hidden else None
        if key is not None:
            lines.append(f"paired with key {key.label} (id {id_text(key.id)})")
            if obj.handle in p.by_id_only:
                lines.append("paired by CKA_ID only: the key shows no public key to compare "
                             "(`cert doctor` checks it by signing)")
            if obj.handle in p.id_mismatch:
                lines.append(
                    f"ID MISMATCH: the certificate's CKA_ID {id_text(obj.id)} differs from the key's "
                    f"{id_text(key.id)}; Java (SunPKCS11) and NSS pair by CKA_ID and will not see this pair")
        elif pub is not None:
            lines.append(f"paired with key {pub.label} (its public-key object, id {id_text(pub.id)}; "
                         "the private key shows after login)")
        elif hidden:
            lines.append("no private key visible: log in (l) to see private keys")
        else:
            lines.append("orphan: no private key on this token matches this certificate "
                         "(a CA / partner certificate, or the key is elsewhere)")
    elif obj.cls is ObjClass.PRIVATE_KEY:
        certs = [c for h in p.key_to_cert.get(obj.handle, []) if (c := listing.by_handle(h))]
        if certs:
            names = "; ".join(f"{c.label} (id {id_text(c.id)})" for c in certs)
            lines.append(f"paired with certificate{'s' if len(certs) > 1 else ''} {names}")
            for c in certs:
                if c.handle in p.id_mismatch:
                    lines.append(f"ID MISMATCH with certificate {c.label}: Java and NSS will not pair them")
        else:
            lines.append("orphan: no certificate on this token holds this key's public key")
        pub = listing.by_handle(p.private_to_public[obj.handle]) if obj.handle in p.private_to_public else None
        lines.append(f"public key object: {pub.label} (id {id_text(pub.id)})" if pub else
                     "no public-key object: NSS cannot find this key before login")
    if obj.cls in (ObjClass.CERTIFICATE, ObjClass.PRIVATE_KEY):
        lines += seen_by_lines(listing, obj)
    if obj.cls is ObjClass.PUBLIC_KEY:
        priv_h = p.public_to_private.get(obj.handle)
        priv = listing.by_handle(priv_h) if priv_h is not None else None
        if priv is not None:
            lines.append(f"public half of private key {priv.label} (id {id_text(priv.id)})")
        elif hidden:
            lines.append("private key not visible: log in (l) to see private keys")
        else:
            lines.append("no private key with this public key on the token")
    return lines


def object_rows(listing: Listing, obj: ObjectInfo, now: datetime) -> list[Row]:
    """Every ObjectInfo field (and CertFields field) as (name, value) rows."""
    marker = listing.pairing.markers.get(obj.handle, "")
    rows: list[Row] = [
        ("class", obj.cls.value),
        ("label", obj.label or "(empty)"),
        ("CKA_ID", id_text(obj.id)),
        ("marker", f"{marker} {MARKER_MEANING[marker]}" if marker in MARKER_MEANING else "none"),
        ("private", _fmt(obj.private)),
    ]
    if obj.key_type:
        rows.append(("key", key_kind(obj)))
        rows.append(("key type", obj.key_type))
    if obj.bits:
        rows.append(("bits", str(obj.bits)))
    if obj.curve:
        rows.append(("curve", obj.curve))
    if obj.flags:
        rows.append(("flags", _fmt(obj.flags)))
    if obj.public_key_id:
        rows.append(("public key", obj.public_key_id[:32] + ("…" if len(obj.public_key_id) > 32 else "")))
    if obj.cert_category is not None:
        rows.append(("category", {0: "unspecified", 1: "token user", 2: "authority",
                                  3: "other entity"}.get(obj.cert_category, str(obj.cert_category))))
    if obj.trusted is not None:
        rows.append(("trusted", _fmt(obj.trusted)))
    if obj.application is not None:
        rows.append(("application", obj.application))
    if obj.value is not None and obj.cls is ObjClass.DATA:
        rows.append(("value", f"{len(obj.value)} bytes"))
    if obj.cert is not None:
        rows.extend(cert_rows(obj.cert, now))
        if obj.cert.error and obj.value is not None:
            # What did not parse is shown as bytes: the operator can still compare, export
            # (x) or delete (d) it; the first 256 bytes are enough to recognise it. One row a
            # line: row values are sanitised, so a newline inside one would show as \x0a.
            rows.append(("DER", f"{len(obj.value)} bytes" + (", first 256 in hex" if len(obj.value) > 256 else "")))
            for i, line in enumerate(hex_lines(obj.value[:256])):
                rows.append(("hex" if i == 0 else "", line))
    return rows


_CERT_LABELS = {
    "not_before": "not before", "not_after": "not after", "sans": "SANs", "key_usage": "key usage",
    "eku": "EKU", "is_ca": "CA", "path_len": "path length", "sha256": "SHA-256", "sha1": "SHA-1",
    "key_type": "key type", "signature_algorithm": "signature", "self_signed": "self-signed",
    "public_key_id": "public key",
}


def hex_lines(data: bytes) -> list[str]:
    """Bytes as hex, 16 a line."""
    return [data[i:i + 16].hex(" ") for i in range(0, len(data), 16)] or ["(empty)"]


def cert_rows(cert: CertFields, now: datetime) -> list[Row]:
    rows: list[Row] = []
    if cert.error:
        rows.append(("PARSE ERROR", cert.error))
    rows.append(("validity", validity(cert, now)))
    for f in dataclasses.fields(cert):
        # These are shown elsewhere (key rows above) or are noise for an operator.
        if f.name in ("error", "public_key_id", "key_type", "bits", "curve"):
            continue
        value = getattr(cert, f.name)
        if f.name == "is_ca" and value is None:
            rows.append(("CA", "no basicConstraints"))
            continue
        rows.append((_CERT_LABELS.get(f.name, f.name), _fmt(value)))
    return rows


def token_rows(slot: SlotInfo, module_description: str = "") -> list[Row]:
    rows: list[Row] = [
        ("module", slot.module_path),
    ]
    if module_description:
        rows.append(("module info", module_description))
    rows += [
        ("slot", f"{slot.slot_id}: {slot.description}"),
        ("slot flags", _fmt(slot.flags)),
    ]
    t = slot.token
    if t is None:
        rows.append(("token", "no token in this slot"))
        return rows
    rows += token_info_rows(t)
    return rows


def token_info_rows(t: TokenInfo) -> list[Row]:
    rows: list[Row] = [
        ("token", t.label or "(no label)"),
        ("manufacturer", t.manufacturer),
        ("model", t.model),
        ("serial", t.serial),
        ("PIN state", ", ".join(t.pin.badges()) or "ok"),
        ("PIN length", f"{t.min_pin_len if t.min_pin_len is not None else '?'}–"
                       f"{t.max_pin_len if t.max_pin_len is not None else '?'}"),
        ("initialised", _fmt(t.initialized)),
        ("login required", _fmt(t.login_required)),
        ("write protected", _fmt(t.write_protected)),
        ("PIN pad", _fmt(t.protected_auth_path)),
        ("free memory", f"public {_fmt(t.free_public_memory)}, private {_fmt(t.free_private_memory)}"),
        ("flags", _fmt(t.flags)),
    ]
    return rows


def token_uri_of(t: TokenInfo) -> str:
    return token_uri(t.label, t.manufacturer, t.model, t.serial)


Clock = Callable[[], datetime]
