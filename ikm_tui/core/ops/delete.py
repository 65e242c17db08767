"""Delete a certificate, a key pair or the selected object, as plan + apply (see ops/plans.py).

All functions take (backend, slot_id, ...) and run on the owner thread via `service.run`.
"""

from __future__ import annotations

from ikm_tui.core import journal
from ikm_tui.core.errors import IkmError, from_exception, NotFoundError
from ikm_tui.core.model import ObjClass, ObjectInfo
from ikm_tui.core.ops.common import require_login
from ikm_tui.core.ops.plans import KINDS, Plan, ambiguous, describe, labels_of, one_certificate, recheck, select
from ikm_tui.core.p11 import objects
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.sanitize import safe_text


def plan_delete_cert(backend: Backend, slot_id: int, label: str, key_id: bytes | None = None,
                     sha256: str | None = None) -> Plan:
    listing = backend.list_objects(slot_id)
    cert = one_certificate(listing, label, key_id, sha256, "Deleting the certificate")
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
    privs = select(listing, label, (ObjClass.PRIVATE_KEY,), key_id)
    if not privs:
        pubs = select(listing, label, (ObjClass.PUBLIC_KEY,), key_id)
        if not pubs:
            raise NotFoundError(f"No key labelled {safe_text(label)!r}"
                           + (f" with id {key_id.hex()}" if key_id is not None else "") + " on this token. "
                           "Keys present: "
                           f"{safe_text(labels_of(listing, (ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY)))}.",
                           "Check the label with `ikm-tui list --login`.", operation="Deleting the key")
        if len(pubs) > 1:
            raise ambiguous("public key", label, pubs, "Pick one with --id HEX.")
        return Plan("delete", (pubs[0],), warnings=("this is a public key without its private key",))
    if len(privs) > 1:
        raise ambiguous("private key", label, privs, "Pick one with --id HEX.")
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
        warnings.append(f"{len(others)} other {KINDS.get(obj.cls, obj.cls.value)}(s) labelled {obj.label!r} "
                        "are NOT deleted: " + "; ".join(describe(o) for o in others))
    return Plan("delete", tuple(objs), warnings=tuple(safe_text(w) for w in warnings))


def apply_delete(backend: Backend, slot_id: int, plan: Plan) -> tuple[ObjectInfo, ...]:
    listing = backend.list_objects(slot_id)
    current = recheck(listing, plan.objects)
    journal.intend("delete", [journal.destroy_step(o) for o in current], listing)
    done: list[ObjectInfo] = []
    for o in current:
        try:
            objects.destroy(backend, slot_id, o.handle)
        except Exception as exc:  # noqa: BLE001
            gone = ", ".join(describe(d) for d in done) or "nothing"
            raise IkmError(f"Deleting {describe(o)} failed: {from_exception(exc)}. Deleted so far: {gone}.",
                           "Refresh and check the token.", operation="Deleting") from None
        done.append(o)
    return tuple(done)
