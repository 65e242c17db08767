"""Which certificate belongs to which key: by public key, not by label or remembered serials."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ikm_tui.core.model import ObjClass, ObjectInfo, Pairing


def pair_objects(objects: Sequence[ObjectInfo]) -> Pairing:
    """Pair in one pass with maps.

    - private <-> public key: same CKA_ID and key type (the PKCS#11 convention).
    - cert -> private key: same public key. RSA private keys expose the modulus; EC private keys
      expose no point, so they are reached through their public-key object (same CKA_ID).
    - A cert whose public key matches but whose CKA_ID differs is paired *and* flagged:
      Java and NSS pair by CKA_ID, so they will not see it.
    - markers follow runmqakm: '-' personal (cert with its private key), '!' signer, '#' secret key.
    """
    by_handle = {o.handle: o for o in objects}
    privs = [o for o in objects if o.cls is ObjClass.PRIVATE_KEY]
    pubs = [o for o in objects if o.cls is ObjClass.PUBLIC_KEY]
    certs = [o for o in objects if o.cls is ObjClass.CERTIFICATE]

    priv_by_id: dict[bytes, list[ObjectInfo]] = defaultdict(list)
    for k in privs:
        priv_by_id[k.id].append(k)

    private_to_public: dict[int, int] = {}
    public_to_private: dict[int, int] = {}
    # public key identity -> private key handles
    priv_by_pub: dict[str, list[int]] = defaultdict(list)
    for k in privs:
        if k.public_key_id:
            priv_by_pub[k.public_key_id].append(k.handle)
    for pub in pubs:
        match = None
        for cand in priv_by_id.get(pub.id, []):
            if cand.handle in private_to_public:
                continue
            if cand.key_type and pub.key_type and cand.key_type != pub.key_type:
                continue
            if cand.public_key_id and pub.public_key_id and cand.public_key_id != pub.public_key_id:
                continue
            match = cand
            break
        if match is None and pub.public_key_id and pub.public_key_id in priv_by_pub:
            # Same public key but different CKA_ID: still the pair, just mislabelled.
            for h in priv_by_pub[pub.public_key_id]:
                if h not in private_to_public:
                    match = by_handle[h]
                    break
        if match is not None:
            private_to_public[match.handle] = pub.handle
            public_to_private[pub.handle] = match.handle
            # EC private keys carry no point: index them under their public key's point.
            if pub.public_key_id and match.handle not in priv_by_pub[pub.public_key_id]:
                priv_by_pub[pub.public_key_id].append(match.handle)

    cert_to_key: dict[int, int] = {}
    key_to_cert: dict[int, list[int]] = defaultdict(list)
    id_mismatch: dict[int, int] = {}
    for cert in certs:
        if not cert.public_key_id:
            continue
        cands = priv_by_pub.get(cert.public_key_id, [])
        if not cands:
            continue
        # Prefer the key with the same CKA_ID when several hold the same public key.
        same_id = [h for h in cands if by_handle[h].id == cert.id]
        key = same_id[0] if same_id else cands[0]
        cert_to_key[cert.handle] = key
        key_to_cert[key].append(cert.handle)
        if by_handle[key].id != cert.id:
            id_mismatch[cert.handle] = key

    markers: dict[int, str] = {}
    for o in objects:
        if o.cls is ObjClass.CERTIFICATE:
            markers[o.handle] = "-" if o.handle in cert_to_key else "!"
        elif o.cls is ObjClass.SECRET_KEY:
            markers[o.handle] = "#"
        elif o.cls is ObjClass.PRIVATE_KEY:
            markers[o.handle] = "-" if o.handle in key_to_cert else ""
        else:
            markers[o.handle] = ""
    return Pairing(
        cert_to_key=cert_to_key,
        key_to_cert=dict(key_to_cert),
        private_to_public=private_to_public,
        public_to_private=public_to_private,
        id_mismatch=id_mismatch,
        markers=markers,
    )


def private_key_for(listing: Any, cert_handle: int) -> ObjectInfo:
    """The private key paired with a certificate, or an IkmError saying why there is none.

    No PKCS#11 call fails here (the search simply finds nothing), so the error carries no CKR.
    """
    from ikm_tui.core.errors import IkmError

    cert = listing.by_handle(cert_handle)
    if cert is None or cert.cls is not ObjClass.CERTIFICATE:
        raise IkmError("That object is not a certificate of this listing.", "Refresh and select it again.")
    key = listing.pairing.cert_to_key.get(cert_handle)
    if key is not None:
        found: ObjectInfo | None = listing.by_handle(key)
        if found is not None:
            return found
    if not listing.logged_in:
        raise IkmError(
            f"No private key for certificate {cert.label!r} is visible: private keys are hidden "
            "until you log in.", "Log in (key `l`, or --login) and look again.")
    raise IkmError(
        f"Certificate {cert.label!r} (CKA_ID {cert.id.hex() or 'empty'}) has no private key on this "
        "token: no private key holds its public key.",
        "It is a CA or peer certificate (marker '!'), or its key is on another token; Java and NSS "
        "will not offer it for signing. Receive it onto the token that made the request.")
