"""Delete, rename, change the user PIN, and the pairing doctor; each as plan + apply.

A plan is a frozen dataclass naming the exact objects (handle, class, label, CKA_ID) it will touch,
so the CLI can print it and a UI can ask for confirmation. `apply_*` re-lists the token and refuses
when an object of the plan changed or vanished: never "the first match by label".

All functions take (backend, slot_id, ...) and run on the owner thread via `service.run`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pkcs11 import Attribute

from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.errors import IkmError, from_exception
from ikm_tui.core.model import Listing, ObjClass, ObjectInfo
from ikm_tui.core.p11.objects import CATEGORY_AUTHORITY, CATEGORY_OTHER_ENTITY
from ikm_tui.core.pin import Pin
from ikm_tui.core.ops import request_files
from ikm_tui.core.ops.receive import REQUEST_APPLICATION, describe_key, require_login
from ikm_tui.core.sanitize import safe_text

_KINDS = {ObjClass.CERTIFICATE: "certificate", ObjClass.PRIVATE_KEY: "private key",
          ObjClass.PUBLIC_KEY: "public key", ObjClass.SECRET_KEY: "secret key", ObjClass.DATA: "data object"}


def describe(o: ObjectInfo) -> str:
    """One line an operator can check before confirming: class, label, id, and what it is."""
    kind = _KINDS.get(o.cls, o.cls.value)
    if o.cls is ObjClass.CERTIFICATE and o.cert is not None:
        c = o.cert
        extra = f" subject={c.subject} serial={c.serial} sha256={c.sha256[:16]}"
    elif o.cls in (ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY, ObjClass.SECRET_KEY):
        extra = " " + describe_key(o).split(" ", 2)[-1]
    elif o.cls is ObjClass.DATA:
        extra = f" application={o.application!r}"
    else:
        extra = ""
    return safe_text(f"{kind} {o.label!r} id={o.id.hex() or '-'}{extra}")


@dataclass(frozen=True)
class Plan:
    """Objects an action will change; `warnings` must be shown before confirming."""

    action: str  # "delete" | "rename"
    objects: tuple[ObjectInfo, ...]
    new_label: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReadBack:
    """An attribute as a fresh session reads it after a write."""

    obj: ObjectInfo
    wanted: str
    actual: str | None  # None: the object was not found any more

    @property
    def ok(self) -> bool:
        return self.actual == self.wanted


class Ambiguous(IkmError):
    """Several objects match; `candidates` lets a UI offer them instead of guessing."""

    candidates: tuple[ObjectInfo, ...] = ()


def _ambiguous(what: str, label: str, found: list[ObjectInfo], hint: str) -> Ambiguous:
    lines = "\n".join("  " + describe(o) for o in found)
    err = Ambiguous(f"{len(found)} {what}s are labelled {safe_text(label)!r}; nothing was done:\n{lines}",
                    hint)
    err.candidates = tuple(found)
    return err


def _select(listing: Listing, label: str, classes: tuple[ObjClass, ...], key_id: bytes | None,
            sha256: str | None = None) -> list[ObjectInfo]:
    out = [o for o in listing.objects if o.cls in classes and o.label == label]
    if key_id is not None:
        out = [o for o in out if o.id == key_id]
    if sha256:
        out = [o for o in out if o.cert is not None and o.cert.sha256.startswith(sha256.lower())]
    return out


def _labels_of(listing: Listing, classes: tuple[ObjClass, ...]) -> str:
    labels = sorted({repr(o.label) for o in listing.objects if o.cls in classes})
    return ", ".join(labels) if labels else "none"


# ----- delete --------------------------------------------------------------------------------
def plan_delete_cert(backend: Backend, slot_id: int, label: str, key_id: bytes | None = None,
                     sha256: str | None = None) -> Plan:
    listing = backend.list_objects(slot_id)
    found = _select(listing, label, (ObjClass.CERTIFICATE,), key_id, sha256)
    if not found:
        raise IkmError(f"No certificate labelled {safe_text(label)!r}"
                       + (f" with id {key_id.hex()}" if key_id is not None else "") + " on this token. "
                       f"Certificates present: {safe_text(_labels_of(listing, (ObjClass.CERTIFICATE,)))}.",
                       "Check the label with `ikm-tui list`.", operation="Deleting the certificate")
    if len(found) > 1:
        same_id = len({o.id for o in found}) == 1
        hint = ("They share one CKA_ID: pick one with --sha256 PREFIX (its fingerprint)." if same_id
                else "Pick one with --id HEX (or --sha256 PREFIX).")
        raise _ambiguous("certificate", label, found, hint)
    cert = found[0]
    warnings = []
    key = listing.pairing.cert_to_key.get(cert.handle)
    if key is not None:
        k = listing.by_handle(key)
        warnings.append(f"the private key {k.label if k else '?'!r} stays on the token without a certificate: "
                        "Java keytool will no longer list it until a new certificate is received")
    return Plan("delete", (cert,), warnings=tuple(warnings))


def plan_delete_key(backend: Backend, slot_id: int, label: str, key_id: bytes | None = None) -> Plan:
    """The private key and its public-key object (same pair); warns about certs left orphaned."""
    require_login(backend, slot_id, "Deleting a key")
    listing = backend.list_objects(slot_id)
    privs = _select(listing, label, (ObjClass.PRIVATE_KEY,), key_id)
    if not privs:
        pubs = _select(listing, label, (ObjClass.PUBLIC_KEY,), key_id)
        if not pubs:
            raise IkmError(f"No key labelled {safe_text(label)!r}"
                           + (f" with id {key_id.hex()}" if key_id is not None else "") + " on this token. "
                           f"Keys present: {safe_text(_labels_of(listing, (ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY)))}.",
                           "Check the label with `ikm-tui list --login`.", operation="Deleting the key")
        if len(pubs) > 1:
            raise _ambiguous("public key", label, pubs, "Pick one with --id HEX.")
        return Plan("delete", (pubs[0],), warnings=("this is a public key without its private key",))
    if len(privs) > 1:
        raise _ambiguous("private key", label, privs, "Pick one with --id HEX.")
    priv = privs[0]
    objs = [priv]
    pub_handle = listing.pairing.private_to_public.get(priv.handle)
    if pub_handle is not None and (pub := listing.by_handle(pub_handle)) is not None:
        objs.append(pub)
    warnings = ["a private key cannot be recovered once deleted: anything encrypted to it or "
                "signed with it can no longer be used with this token"]
    for ch in listing.pairing.key_to_cert.get(priv.handle, []):
        c = listing.by_handle(ch)
        if c is not None:
            warnings.append(f"its certificate {c.label!r} (id {c.id.hex()}) stays and becomes an orphan "
                            "(a certificate without a key); delete it too with `ikm-tui cert delete`")
    return Plan("delete", tuple(objs), warnings=tuple(warnings))


def plan_delete_object(backend: Backend, slot_id: int, handle: int) -> Plan:
    """Delete the object with this handle (what a UI has selected), never "the first by label".

    A private key takes its public-key object with it (as `plan_delete_key`); a certificate, a
    public key or a data object goes alone. Other objects carrying the same label are named in the
    warnings, so the operator sees they stay.
    """
    listing = backend.list_objects(slot_id)
    obj = listing.by_handle(handle)
    if obj is None:
        raise IkmError("The selected object is no longer on the token; nothing was deleted.",
                       "Refresh (r) and select it again.", operation="Deleting")
    p = listing.pairing
    objs = [obj]
    warnings: list[str] = []
    if obj.cls is ObjClass.CERTIFICATE:
        key_h = p.cert_to_key.get(obj.handle)
        key = listing.by_handle(key_h) if key_h is not None else None
        if key is not None:
            warnings.append(f"the private key {key.label!r} stays on the token without a certificate: "
                            "Java keytool will no longer list it until a new certificate is received")
    elif obj.cls is ObjClass.PRIVATE_KEY:
        require_login(backend, slot_id, "Deleting a key")
        pub_h = p.private_to_public.get(obj.handle)
        if pub_h is not None and (pub := listing.by_handle(pub_h)) is not None:
            objs.append(pub)
        warnings.append("a private key cannot be recovered once deleted: anything encrypted to it or "
                        "signed with it can no longer be used with this token")
        for ch in p.key_to_cert.get(obj.handle, []):
            c = listing.by_handle(ch)
            if c is not None:
                warnings.append(f"its certificate {c.label!r} (id {c.id.hex() or '-'}) stays and becomes an "
                                "orphan (a certificate without a key); delete it too")
    elif obj.cls is ObjClass.PUBLIC_KEY and obj.handle in p.public_to_private:
        warnings.append("this is the public half of a key pair: the private key stays, but NSS (which "
                        "finds keys through the public-key object before login) may lose the pair")
    # Duplicates (same class and label) stay: say so, so nobody thinks "the one by that label" went.
    chosen = {o.handle for o in objs}
    others = [o for o in listing.objects if o.label == obj.label and o.cls is obj.cls and o.handle not in chosen]
    if others:
        warnings.append(f"{len(others)} other {_KINDS.get(obj.cls, obj.cls.value)}(s) labelled {obj.label!r} "
                        "are NOT deleted: " + "; ".join(describe(o) for o in others))
    return Plan("delete", tuple(objs), warnings=tuple(safe_text(w) for w in warnings))


def _recheck(listing: Listing, planned: tuple[ObjectInfo, ...]) -> list[ObjectInfo]:
    """The planned objects in a new listing; refuses if any vanished or changed."""
    out = []
    for p in planned:
        cur = listing.by_handle(p.handle)
        if cur is None or cur.cls is not p.cls or cur.id != p.id or cur.label != p.label or cur.value != p.value:
            raise IkmError(f"The token changed since the plan was made ({describe(p)} is gone or different); "
                           "nothing was changed.", "Run the command again and check what it prints.")
        out.append(cur)
    return out


def apply_delete(backend: Backend, slot_id: int, plan: Plan) -> tuple[ObjectInfo, ...]:
    listing = backend.list_objects(slot_id)
    current = _recheck(listing, plan.objects)
    done: list[ObjectInfo] = []
    for o in current:
        try:
            backend.pkcs11_object(slot_id, o.handle).destroy()
        except Exception as exc:  # noqa: BLE001
            gone = ", ".join(describe(d) for d in done) or "nothing"
            raise IkmError(f"Deleting {describe(o)} failed: {from_exception(exc)}. Deleted so far: {gone}.",
                           "Refresh and check the token.", operation="Deleting") from None
        done.append(o)
    return tuple(done)


# ----- rename --------------------------------------------------------------------------------
_PAIR = (ObjClass.CERTIFICATE, ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY)


def plan_rename(backend: Backend, slot_id: int, old: str, new: str, key_id: bytes | None = None) -> Plan:
    """Cert, private key and public key with label `old` and one CKA_ID, plus its pending request."""
    if not new or not new.strip():
        raise ValueError("the new label is empty")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in new):
        raise ValueError("the new label contains control characters")
    listing = backend.list_objects(slot_id)
    seeds = _select(listing, old, _PAIR, key_id)
    if not seeds:
        raise IkmError(f"No certificate or key labelled {safe_text(old)!r} on this token. "
                       f"Labels present: {safe_text(_labels_of(listing, _PAIR))}.",
                       "Check the label with `ikm-tui list --login`.", operation="Renaming")
    ids = {o.id for o in seeds}
    if len(ids) > 1:
        raise _ambiguous("object", old, seeds, "They belong to different keys (CKA_IDs): pick one with --id HEX.")
    the_id = ids.pop()
    group = [o for o in listing.objects if o.cls in _PAIR and o.id == the_id and o.label == old]
    # Public/private halves with that id but another label also follow: the pair gets one name.
    group += [o for o in listing.objects if o.cls in (ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY)
              and o.id == the_id and o.label != old and o not in group]
    group += [o for o in listing.objects if o.cls is ObjClass.DATA and o.application == REQUEST_APPLICATION
              and o.label == old]
    warnings = []
    if not backend.is_logged_in(slot_id):
        warnings.append("not logged in: the private key is not visible and will not be renamed")
    clash = [o for o in listing.objects if o.label == new and o.cls in _PAIR and o.id != the_id]
    if clash:
        names = "; ".join(describe(o) for o in clash)
        raise IkmError(f"The label {safe_text(new)!r} is already used by another key or certificate ({names}); "
                       "nothing was renamed.",
                       "Choose another label: OpenSSL and Java select objects by label, so it must be unique.",
                       operation="Renaming")
    if not any(o.cls is ObjClass.CERTIFICATE for o in group):
        warnings.append("there is no certificate for this key: Java keytool will not list it")
    return Plan("rename", tuple(group), new_label=new, warnings=tuple(warnings))


def _fresh_labels(backend: Backend, slot_id: int, objs: list[ObjectInfo]) -> dict[int, str | None]:
    """Labels as a brand-new session reads them, so a token that cached or ignored a write shows it.

    Opens (and closes) an extra public session: the login state is per application, so private
    objects stay visible, and closing a session opened without a PIN does not log out.
    """
    token = backend._token(slot_id)  # noqa: SLF001 - Backend has no public "extra session" call
    out: dict[int, str | None] = {}
    sess = token.open(rw=False, attribute_mapper=backend.mapper)
    try:
        # One full search (materialised), matched by handle: data objects have no CKA_ID to search by.
        wanted = {o.handle for o in objs}
        found = {int(f.handle): f for f in list(sess.get_objects()) if int(f.handle) in wanted}
        for o in objs:
            f = found.get(o.handle)
            out[o.handle] = str(f[Attribute.LABEL]) if f is not None else None
    finally:
        sess.close()
    return out


def apply_rename(backend: Backend, slot_id: int, plan: Plan) -> tuple[ReadBack, ...]:
    """Set CKA_LABEL on every object of the plan, then read each back in a fresh session."""
    assert plan.new_label is not None
    listing = backend.list_objects(slot_id)
    current = _recheck(listing, plan.objects)
    errors = []
    for o in current:
        try:
            backend.pkcs11_object(slot_id, o.handle)[Attribute.LABEL] = plan.new_label
        except Exception as exc:  # noqa: BLE001 - report per object, keep going: half-renamed is worse
            errors.append(f"{describe(o)}: {from_exception(exc)}")
    labels = _fresh_labels(backend, slot_id, current)
    result = tuple(ReadBack(o, plan.new_label, labels.get(o.handle)) for o in current)
    # A pending request kept in a file (the token holds no data objects) follows its key.
    old_labels = [o.label for o in current if o.cls in _PAIR and o.label != plan.new_label]
    if not errors and old_labels:
        request_files.rename(listing.token, max(set(old_labels), key=old_labels.count), plan.new_label)
    if errors:
        raise IkmError("The token refused to rename: " + "; ".join(errors) + ". Read back: "
                       + "; ".join(f"{describe(r.obj)} now {r.actual!r}" for r in result),
                       "Rename the remaining objects by hand (pkcs11-tool --set-id/--label) or retry.",
                       operation="Renaming")
    return result


# ----- user PIN --------------------------------------------------------------------------------
def check_pin_length(backend: Backend, slot_id: int, pin: Pin) -> None:
    info = backend.token_info(slot_id)
    lo, hi = info.min_pin_len, info.max_pin_len
    if lo is not None and len(pin) < lo or hi is not None and len(pin) > hi:
        raise IkmError(f"The new PIN has {len(pin)} characters; this token accepts {lo}..{hi}.",
                       "Choose a PIN within that length; nothing was changed.",
                       "CKR_PIN_LEN_RANGE", 0xA2, "Changing the PIN")


def change_pin(backend: Backend, slot_id: int, old: Pin, new: Pin) -> None:
    """C_SetPin for the user PIN (in the logged-in session or a public R/W one)."""
    if not isinstance(old, Pin) or not isinstance(new, Pin):
        raise TypeError("change_pin() takes Pin objects")
    check_pin_length(backend, slot_id, new)
    info = backend.token_info(slot_id)
    if info.pin.user_locked:
        raise IkmError("The user PIN is locked; it cannot be changed with the old PIN.",
                       "Unlock it with the SO PIN / PUK first.", "CKR_PIN_LOCKED", 0xA4, "Changing the PIN")
    try:
        backend.session(slot_id).set_pin(old.reveal(), new.reveal())
    except Exception as exc:  # noqa: BLE001
        raise from_exception(exc, "Changing the PIN") from None


# ----- pairing doctor --------------------------------------------------------------------------
@dataclass(frozen=True)
class Repair:
    """Set the cert's CKA_ID / CKA_LABEL to its key's. `blocked` explains why it cannot be applied."""

    cert: ObjectInfo
    key: ObjectInfo
    set_id: bytes | None
    set_label: str | None
    blocked: str | None = None

    def describe(self) -> str:
        parts = []
        if self.set_id is not None:
            parts.append(f"CKA_ID {self.cert.id.hex() or '-'} -> {self.set_id.hex()}")
        if self.set_label is not None:
            parts.append(f"label {self.cert.label!r} -> {self.set_label!r}")
        text = f"certificate {self.cert.label!r} (id {self.cert.id.hex() or '-'}): " + ", ".join(parts)
        if self.blocked:
            text += f"  [not applied: {self.blocked}]"
        return safe_text(text)


@dataclass(frozen=True)
class DoctorReport:
    keys_without_certs: tuple[ObjectInfo, ...]
    certs_without_keys: tuple[ObjectInfo, ...]  # end-entity certs only; CA certs are expected alone
    repairs: tuple[Repair, ...]
    duplicate_certs: tuple[tuple[ObjectInfo, ...], ...]  # several certs on one key

    @property
    def healthy(self) -> bool:
        return not (self.keys_without_certs or self.certs_without_keys or self.repairs or self.duplicate_certs)


def _is_authority(o: ObjectInfo) -> bool:
    """CA certs and other parties' certs (category 3) are expected to have no key here."""
    return bool(o.cert_category in (CATEGORY_AUTHORITY, CATEGORY_OTHER_ENTITY)
                or (o.cert is not None and o.cert.is_ca))


def diagnose(backend: Backend, slot_id: int) -> DoctorReport:
    require_login(backend, slot_id, "The pairing doctor")
    listing = backend.list_objects(slot_id)
    p = listing.pairing
    privs = [o for o in listing.objects if o.cls is ObjClass.PRIVATE_KEY]
    certs = [o for o in listing.objects if o.cls is ObjClass.CERTIFICATE]
    keys_without = tuple(k for k in privs if not p.key_to_cert.get(k.handle))
    certs_without = tuple(c for c in certs if c.handle not in p.cert_to_key and not _is_authority(c))
    repairs: list[Repair] = []
    for c in certs:
        kh = p.cert_to_key.get(c.handle)
        if kh is None:
            continue
        key = listing.by_handle(kh)
        assert key is not None
        set_id = key.id if c.id != key.id else None
        set_label = key.label if key.label and c.label != key.label else None
        if set_id is None and set_label is None:
            continue
        blocked = None
        if set_id is not None:
            holders = [o for o in certs if o.id == key.id and o.handle != c.handle]
            if holders:
                blocked = (f"certificate {holders[0].label!r} already has the key's CKA_ID "
                           f"{key.id.hex()}; delete one of the two first")
        repairs.append(Repair(c, key, set_id, set_label, blocked))
    by_handle = {o.handle: o for o in listing.objects}
    dups = tuple(tuple(by_handle[h] for h in hs if h in by_handle)
                 for hs in p.key_to_cert.values() if len(hs) > 1)
    return DoctorReport(keys_without, certs_without, tuple(repairs), dups)


def apply_repairs(backend: Backend, slot_id: int, report: DoctorReport) -> tuple[ReadBack, ...]:
    """Apply the unblocked repairs; returns the read-back (label, then id as hex) per change."""
    listing = backend.list_objects(slot_id)
    todo = [r for r in report.repairs if r.blocked is None]
    current = _recheck(listing, tuple(r.cert for r in todo))
    out: list[ReadBack] = []
    for r, cur in zip(todo, current):
        obj = backend.pkcs11_object(slot_id, cur.handle)
        template: dict[Any, Any] = {}
        if r.set_id is not None:
            template[Attribute.ID] = r.set_id
        if r.set_label is not None:
            template[Attribute.LABEL] = r.set_label
        try:
            for attr, value in template.items():
                obj[attr] = value
        except Exception as exc:  # noqa: BLE001
            raise IkmError(f"Repairing {describe(cur)} failed: {from_exception(exc)}.",
                           "The token may not allow changing CKA_ID; delete the cert and receive it again.",
                           operation="Repairing the pairing") from None
    # Read back in a fresh session, by the new id.
    token = backend._token(slot_id)  # noqa: SLF001
    sess = token.open(rw=False, attribute_mapper=backend.mapper)
    try:
        for r, cur in zip(todo, current):
            want_id = r.set_id if r.set_id is not None else cur.id
            want_label = r.set_label if r.set_label is not None else cur.label
            found = [f for f in sess.get_objects({Attribute.ID: want_id}) if int(f.handle) == cur.handle]
            actual = f"{found[0][Attribute.LABEL]}|{bytes(found[0][Attribute.ID]).hex()}" if found else None
            out.append(ReadBack(cur, f"{want_label}|{want_id.hex()}", actual))
    finally:
        sess.close()
    return tuple(out)


# ----- public key export ------------------------------------------------------------------------
def export_public_key(backend: Backend, slot_id: int, label: str,
                      key_id: bytes | None = None) -> tuple[ObjectInfo, str]:
    """(key, SPKI PEM) from the public-key object; else from the key's paired certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from ikm_tui.core.x509.certfile import der_to_pem
    from ikm_tui.core.p11.keys import spki_of_public

    listing = backend.list_objects(slot_id)
    pubs = _select(listing, label, (ObjClass.PUBLIC_KEY,), key_id)
    if len(pubs) > 1:
        raise _ambiguous("public key", label, pubs, "Pick one with --id HEX.")
    if pubs:
        pub = pubs[0]
        return pub, der_to_pem(spki_of_public(backend.pkcs11_object(slot_id, pub.handle)), "PUBLIC KEY")
    privs = _select(listing, label, (ObjClass.PRIVATE_KEY,), key_id)
    if len(privs) > 1:
        raise _ambiguous("private key", label, privs, "Pick one with --id HEX.")
    if privs:
        for ch in listing.pairing.key_to_cert.get(privs[0].handle, []):
            c = listing.by_handle(ch)
            if c is not None and c.value:
                spki = x509.load_der_x509_certificate(c.value).public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                return privs[0], spki.decode("ascii")
        raise IkmError(f"The key {safe_text(label)!r} has no public-key object and no certificate on the token, "
                       "so its public key cannot be read.", "Receive its certificate first.",
                       operation="Exporting the public key")
    hint = "" if backend.is_logged_in(slot_id) else " (not logged in: private keys are hidden)"
    raise IkmError(f"No key labelled {safe_text(label)!r} on this token{hint}. Keys present: "
                   f"{safe_text(_labels_of(listing, (ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY)))}.",
                   "Check the label with `ikm-tui list --login`.", operation="Exporting the public key")
