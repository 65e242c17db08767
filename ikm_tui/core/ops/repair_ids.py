"""Doctor repairs for what other tools leave behind: empty or split CKA_IDs, missing public keys, shared IDs.

Java SunPKCS11, NSS and the OpenSSL engine pair a key and its certificate by CKA_ID (core/seen_by.py),
so a pair that `pkcs11-tool` made without `--id` is invisible to them although the public keys match.
Each repair is planned first (a frozen dataclass naming every object and the value it will get),
applied only when the caller confirms, read back in a fresh session, and never destroys an object:
IDs are set with C_SetAttributeValue, a missing public-key object is created from the certificate.
A group of writes (private key, public key, certificates) is rolled back if one of them fails.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ikm_tui.core import journal
from ikm_tui.core.errors import IkmError, RefusedError, from_exception
from ikm_tui.core.model import Listing, ObjClass, ObjectInfo
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.p11 import objects
from ikm_tui.core.p11.keyspec import key_id_for
from ikm_tui.core.sanitize import safe_text

_OP = "Repairing CKA_IDs"


def _name(o: ObjectInfo) -> str:
    kind = {ObjClass.PRIVATE_KEY: "private key", ObjClass.PUBLIC_KEY: "public key",
            ObjClass.CERTIFICATE: "certificate"}.get(o.cls, o.cls.value)
    return f"{kind} {o.label!r} (id {o.id.hex() or 'empty'})"


@dataclass(frozen=True)
class IdRepair:
    """Give every object of one key pair the same CKA_ID."""

    objects: tuple[ObjectInfo, ...]  # only those whose CKA_ID changes
    new_id: bytes
    problem: str
    blocked: str | None = None

    def describe(self) -> str:
        text = (f"set CKA_ID {self.new_id.hex()} on " + ", ".join(_name(o) for o in self.objects))
        if self.blocked:
            text += f"  [not applied: {self.blocked}]"
        return safe_text(text)


@dataclass(frozen=True)
class PublicKeyRepair:
    """Recreate the public-key object of a private key from its certificate."""

    key: ObjectInfo
    cert: ObjectInfo

    def describe(self) -> str:
        return safe_text(f"create the public-key object for {_name(self.key)} from {_name(self.cert)} "
                         f"(label {self.cert.label!r}, id {self.cert.id.hex()})")


@dataclass(frozen=True)
class IdReport:
    id_repairs: tuple[IdRepair, ...]
    public_keys: tuple[PublicKeyRepair, ...]  # keys without a public-key object (NSS before login)
    shared_ids: tuple[tuple[ObjectInfo, ...], ...]  # private keys of different public keys, one CKA_ID
    challenge_failed: tuple[tuple[ObjectInfo, ObjectInfo], ...]  # (cert, key) same ID, key does not sign for it
    challenge_passed: tuple[tuple[ObjectInfo, ObjectInfo], ...]

    @property
    def healthy(self) -> bool:
        return not (self.id_repairs or self.shared_ids or self.challenge_failed)


def public_value(listing: Listing, key: ObjectInfo) -> bytes | None:
    """RSA modulus or raw EC point of a private key: its own, its public-key object's, or its cert's."""
    p = listing.pairing
    ident = key.public_key_id
    if not ident and key.handle in p.private_to_public:
        pub = listing.by_handle(p.private_to_public[key.handle])
        ident = pub.public_key_id if pub is not None else None
    if not ident:
        for ch in p.key_to_cert.get(key.handle, []):
            c = listing.by_handle(ch)
            if c is not None and c.public_key_id and ch not in p.by_id_only:
                ident = c.public_key_id
    if not ident:
        return None
    return bytes.fromhex(ident if len(ident) % 2 == 0 else "0" + ident)


def _group_repair(listing: Listing, key: ObjectInfo, used: dict[bytes, set[int]]) -> IdRepair | None:
    """Key with an empty CKA_ID (and its public key and certs), or a public key under another ID."""
    p = listing.pairing
    pub = listing.by_handle(p.private_to_public[key.handle]) if key.handle in p.private_to_public else None
    certs = [c for h in p.key_to_cert.get(key.handle, []) if (c := listing.by_handle(h)) is not None]
    if key.id:
        if pub is None or pub.id == key.id:
            return None
        return IdRepair((pub,), key.id, f"the public key of {_name(key)} has CKA_ID {pub.id.hex() or 'empty'}: "
                        "NSS finds the pair through it before login")
    if not certs:
        return None  # no cert to pair with: nothing a tool would show either way
    value = public_value(listing, key)
    if value is None:
        return None
    new_id = key_id_for(value)
    group = [o for o in (key, pub, *certs) if o is not None]
    members = {o.handle for o in group}
    clash = used.get(new_id, set()) - members
    blocked = f"another object already has CKA_ID {new_id.hex()}" if clash else None
    problem = (f"{_name(key)} and its certificate {certs[0].label!r} have an empty CKA_ID: Java keytool "
               "does not list the pair and NSS shows the certificate without u,u,u")
    return IdRepair(tuple(o for o in group if o.id != new_id), new_id, problem, blocked)


def plan(listing: Listing, *, with_public_keys: bool = False) -> tuple[IdReport, tuple[PublicKeyRepair, ...]]:
    """Everything this module would change on the listing, and every key lacking a public-key object.

    Nothing is written. Public-key objects are only planned on request: Java's own entries have
    none, and Java does not need one.
    """
    p = listing.pairing
    used: dict[bytes, set[int]] = defaultdict(set)
    for o in listing.objects:
        if o.id:
            used[o.id].add(o.handle)
    privs = [o for o in listing.objects if o.cls is ObjClass.PRIVATE_KEY]
    repairs = [r for k in privs if (r := _group_repair(listing, k, used)) is not None]
    publics: list[PublicKeyRepair] = []
    for k in privs:
        if k.handle in p.private_to_public or not k.id:
            continue
        certs = [c for h in p.key_to_cert.get(k.handle, []) if (c := listing.by_handle(h)) and c.id == k.id]
        if certs and certs[0].value:
            publics.append(PublicKeyRepair(k, certs[0]))
    shared = _shared_ids(listing, privs)
    for ks in shared:
        repairs += [r for k in ks[1:] if (r := _move_off(listing, k, used)) is not None]
    return IdReport(tuple(repairs), tuple(publics) if with_public_keys else (), shared, (), ()), tuple(publics)


def _shared_ids(listing: Listing, privs: list[ObjectInfo]) -> tuple[tuple[ObjectInfo, ...], ...]:
    """Private keys of different public keys under one CKA_ID; the one its certificate matches first."""
    by_id: dict[bytes, list[ObjectInfo]] = defaultdict(list)
    for k in privs:
        if k.id:
            by_id[k.id].append(k)
    out = []
    for ks in by_id.values():
        if len({v for k in ks if (v := public_value(listing, k)) is not None}) > 1:
            has_cert = [k for k in ks if any((c := listing.by_handle(h)) is not None and c.id == k.id
                                             for h in listing.pairing.key_to_cert.get(k.handle, []))]
            out.append(tuple(has_cert + [k for k in ks if k not in has_cert]))
    return tuple(out)


def _move_off(listing: Listing, key: ObjectInfo, used: dict[bytes, set[int]]) -> IdRepair | None:
    """A key that shares its CKA_ID with another key's gets its own (SHA-1 of its public key)."""
    value = public_value(listing, key)
    if value is None:
        return None
    p = listing.pairing
    pub = listing.by_handle(p.private_to_public[key.handle]) if key.handle in p.private_to_public else None
    certs = [c for h in p.key_to_cert.get(key.handle, []) if (c := listing.by_handle(h)) is not None
             and h not in p.by_id_only]
    group = [o for o in (key, pub, *certs) if o is not None]
    new_id = key_id_for(value)
    clash = used.get(new_id, set()) - {o.handle for o in group}
    return IdRepair(tuple(o for o in group if o.id != new_id), new_id,
                    f"{_name(key)} shares its CKA_ID with another private key: Java lists one of them only",
                    f"another object already has CKA_ID {new_id.hex()}" if clash else None)


def diagnose_ids(backend: Backend, slot_id: int, *, with_public_keys: bool = False) -> tuple[IdReport, int]:
    """Plan, plus a sign-and-verify challenge for every pair made by CKA_ID alone (Java EC keys).

    Returns the report and how many keys lack a public-key object (reported even when not planned).
    """
    from ikm_tui.core.ops.common import require_login
    from ikm_tui.core.ops.challenge import proves_pair

    require_login(backend, slot_id, "The pairing doctor")
    listing = backend.list_objects(slot_id)
    report, publics = plan(listing, with_public_keys=with_public_keys)
    passed: list[tuple[ObjectInfo, ObjectInfo]] = []
    failed: list[tuple[ObjectInfo, ObjectInfo]] = []
    for ch, kh in listing.pairing.by_id_only.items():
        cert, key = listing.by_handle(ch), listing.by_handle(kh)
        if cert is None or key is None:
            continue
        (passed if proves_pair(backend, slot_id, key, cert.value or b"") else failed).append((cert, key))
    return IdReport(report.id_repairs, report.public_keys, report.shared_ids, tuple(failed), tuple(passed)), \
        len(publics)


def _recheck(listing: Listing, objs: tuple[ObjectInfo, ...]) -> None:
    for o in objs:
        cur = listing.by_handle(o.handle)
        if cur is None or cur.cls is not o.cls or cur.id != o.id or cur.label != o.label:
            raise IkmError(f"The token changed since the plan was made ({_name(o)} is gone or different); "
                           "nothing was changed.", "Run the doctor again and check what it prints.",
                           operation=_OP)


def apply_id_repair(backend: Backend, slot_id: int, repair: IdRepair) -> dict[int, bytes | None]:
    """Set the new CKA_ID on every object of the repair; on any failure put the old ones back.

    Returns handle -> CKA_ID read back in a fresh session.
    """
    if repair.blocked:
        raise IkmError(f"Not applied: {repair.blocked}.", "Resolve that first.", operation=_OP)
    _recheck(backend.list_objects(slot_id), repair.objects)
    journal.intend("repair", [journal.set_step(o, key_id=repair.new_id) for o in repair.objects])
    done: list[ObjectInfo] = []
    for o in repair.objects:
        try:
            objects.set_id(backend, slot_id, o.handle, repair.new_id)
        except Exception as exc:  # noqa: BLE001 - roll back, then report what the token said
            undone = _roll_back(backend, slot_id, done)
            raise IkmError(f"Setting CKA_ID {repair.new_id.hex()} on {_name(o)} failed: {from_exception(exc)}. "
                           f"{undone}", "The token may not allow changing CKA_ID (CKR_ATTRIBUTE_READ_ONLY); "
                           "nothing else was changed.", operation=_OP) from None
        done.append(o)
    return objects.fresh_ids(backend, slot_id, {o.handle for o in repair.objects})


def _roll_back(backend: Backend, slot_id: int, done: list[ObjectInfo]) -> str:
    failed = []
    for o in reversed(done):
        try:
            objects.set_id(backend, slot_id, o.handle, o.id)
        except Exception:  # noqa: BLE001 - say which could not be put back
            failed.append(_name(o))
    if failed:
        return "Could NOT restore the old CKA_ID of: " + "; ".join(failed) + "."
    return f"The {len(done)} object(s) already changed were set back." if done else "Nothing was changed."


def apply_public_key(backend: Backend, slot_id: int, repair: PublicKeyRepair) -> int:
    """Create the public-key object from the certificate's public key; returns its handle."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    _recheck(backend.list_objects(slot_id), (repair.key, repair.cert))
    spki = x509.load_der_x509_certificate(repair.cert.value or b"").public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    journal.intend("doctor", [journal.create_step(ObjClass.PUBLIC_KEY, repair.cert.label, repair.key.id)])
    try:
        return objects.create_public_key(backend, slot_id, spki, repair.key.id, repair.cert.label)
    except ValueError as exc:
        raise IkmError(f"Cannot recreate this public key: {exc}.", "Nothing was created.", operation=_OP) from None
    except Exception as exc:  # noqa: BLE001 - what the module said, with its CKR code
        raise from_exception(exc, "Creating the public-key object") from None


def assign_key_id(backend: Backend, slot_id: int, key_handle: int) -> bytes:
    """For receive: give a key with an empty CKA_ID (and its public key) the SHA-1 of its public key."""
    listing = backend.list_objects(slot_id)
    key = listing.by_handle(key_handle)
    if key is None or key.cls is not ObjClass.PRIVATE_KEY:
        raise IkmError("The private key is no longer on the token.", "Run the receive again.", operation=_OP)
    value = public_value(listing, key)
    if value is None:
        raise IkmError(f"The public key of {_name(key)} is not readable, so no CKA_ID can be derived.",
                       "Set one with `pkcs11-tool --set-id`.", operation=_OP)
    new_id = key_id_for(value)
    p = listing.pairing
    pub = listing.by_handle(p.private_to_public[key.handle]) if key.handle in p.private_to_public else None
    objs = tuple(o for o in (key, pub) if o is not None and o.id != new_id)
    if objs:
        apply_id_repair(backend, slot_id, IdRepair(objs, new_id, "receive: empty CKA_ID"))
    return new_id


def id_for_receive(backend: Backend, slot_id: int, key: ObjectInfo, assign_id: bool) -> bytes:
    """The CKA_ID the received cert gets: the key's; an empty one is replaced, never copied."""
    if key.id:
        return key.id
    if not assign_id:
        raise RefusedError(f"The key {key.label!r} has an empty CKA_ID; a certificate written with it would be "
                       "invisible to Java keytool and NSS. Nothing was written.",
                       "Let receive give key and certificate one ID (the SHA-1 of the public key): "
                       "--assign-id (CLI), or tick 'assign a CKA_ID' (TUI).",
                       operation="Receiving the certificate")
    return assign_key_id(backend, slot_id, key.handle)
