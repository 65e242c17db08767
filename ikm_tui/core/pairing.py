"""Which certificate belongs to which key: by public key, not by label or remembered serials."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ikm_tui.core.model import ObjClass, ObjectInfo, Pairing
from ikm_tui.core.seen_by import tool_markers


def pair_objects(objects: Sequence[ObjectInfo], logged_in: bool | None = None) -> Pairing:
    """Pair in one pass with maps.

    - private <-> public key: same CKA_ID and key type (the PKCS#11 convention).
    - cert -> private key: same public key. RSA private keys expose the modulus; EC private keys
      expose no point, so they are reached through their public-key object (same CKA_ID).
    - A cert whose public key matches but whose CKA_ID differs is paired *and* flagged:
      Java and NSS pair by CKA_ID, so they will not see it.
    - A private key that shows no public key at all (Java keytool's EC keys: no CKA_EC_POINT, no
      public-key object) pairs with the cert of the same non-empty CKA_ID, recorded in `by_id_only`:
      not verified until a sign-and-verify challenge (the doctor runs one).
    - Before login the private keys are hidden: a cert is matched to its public-key object
      (`cert_to_public`), which is what NSS relies on then.
    - markers follow runmqakm: '-' personal (cert with its private key), '!' signer, '#' secret key;
      '-' means the *tools* (Java, NSS) see the pair, by CKA_ID (see core/seen_by.py).
      `logged_in` None: logged in when any private key is visible.
    """
    by_handle = {o.handle: o for o in objects}
    privs = [o for o in objects if o.cls is ObjClass.PRIVATE_KEY]
    pubs = [o for o in objects if o.cls is ObjClass.PUBLIC_KEY]
    certs = [o for o in objects if o.cls is ObjClass.CERTIFICATE]

    private_to_public, public_to_private, priv_by_pub = _pair_keys(privs, pubs, by_handle)
    cert_to_key, key_to_cert, id_mismatch = _pair_certs(certs, priv_by_pub, by_handle)
    by_id_only = _pair_by_id_only(certs, privs, private_to_public, by_handle, cert_to_key, key_to_cert)
    cert_to_public = _cert_to_public(certs, pubs)
    if logged_in is None:
        logged_in = bool(privs)
    return Pairing(
        cert_to_key=cert_to_key,
        key_to_cert=dict(key_to_cert),
        private_to_public=private_to_public,
        public_to_private=public_to_private,
        id_mismatch=id_mismatch,
        markers=tool_markers(objects, logged_in),
        by_id_only=by_id_only,
        cert_to_public=cert_to_public,
    )


def _pair_keys(privs: list[ObjectInfo], pubs: list[ObjectInfo], by_handle: dict[int, ObjectInfo],
               ) -> tuple[dict[int, int], dict[int, int], dict[str, list[int]]]:
    """private <-> public key handles, and public key identity -> private key handles."""
    priv_by_id: dict[bytes, list[ObjectInfo]] = defaultdict(list)
    for k in privs:
        priv_by_id[k.id].append(k)

    private_to_public: dict[int, int] = {}
    public_to_private: dict[int, int] = {}
    priv_by_pub: dict[str, list[int]] = defaultdict(list)
    for k in privs:
        if k.public_key_id:
            priv_by_pub[k.public_key_id].append(k.handle)
    for pub in pubs:
        match = _public_match(pub, priv_by_id.get(pub.id, []), private_to_public)
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
    return private_to_public, public_to_private, priv_by_pub


def _public_match(pub: ObjectInfo, same_id: list[ObjectInfo], taken: dict[int, int]) -> ObjectInfo | None:
    """The first free private key of the public key's CKA_ID whose type and value do not contradict it."""
    for cand in same_id:
        if cand.handle in taken:
            continue
        if cand.key_type and pub.key_type and cand.key_type != pub.key_type:
            continue
        if cand.public_key_id and pub.public_key_id and cand.public_key_id != pub.public_key_id:
            continue
        return cand
    return None


def _pair_certs(certs: list[ObjectInfo], priv_by_pub: dict[str, list[int]], by_handle: dict[int, ObjectInfo],
                ) -> tuple[dict[int, int], dict[int, list[int]], dict[int, int]]:
    """cert -> private key by public key; key -> certs; certs whose CKA_ID differs from their key's."""
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
    return cert_to_key, key_to_cert, id_mismatch


def _pair_by_id_only(certs: list[ObjectInfo], privs: list[ObjectInfo], private_to_public: dict[int, int],
                     by_handle: dict[int, ObjectInfo], cert_to_key: dict[int, int],
                     key_to_cert: dict[int, list[int]]) -> dict[int, int]:
    """Certs left unpaired -> the private key of the same CKA_ID whose public key is unknown.

    Such a key cannot be compared by value; leaving it "without certificate" made the doctor
    call a Java EC entry broken that Java lists as a PrivateKeyEntry.
    """
    out: dict[int, int] = {}
    blind: dict[bytes, list[ObjectInfo]] = defaultdict(list)  # by CKA_ID: keys showing no public key
    for k in privs:
        if k.id and not k.public_key_id:
            blind[k.id].append(k)
    for cert in certs:
        if cert.handle in cert_to_key or not cert.id:
            continue
        for k in blind.get(cert.id, []):
            pub = by_handle.get(private_to_public.get(k.handle, -1))
            if pub is not None and pub.public_key_id:
                continue  # its public key is known, and it is not the cert's
            if cert.key_type and k.key_type and cert.key_type != k.key_type:
                continue
            cert_to_key[cert.handle] = k.handle
            key_to_cert[k.handle].append(cert.handle)
            out[cert.handle] = k.handle
            break
    return out


def _cert_to_public(certs: list[ObjectInfo], pubs: list[ObjectInfo]) -> dict[int, int]:
    """Cert -> public-key object holding its public key (same CKA_ID preferred)."""
    by_value: dict[str, list[ObjectInfo]] = defaultdict(list)
    for pub in pubs:
        if pub.public_key_id:
            by_value[pub.public_key_id].append(pub)
    out: dict[int, int] = {}
    for cert in certs:
        cands = by_value.get(cert.public_key_id or "", [])
        if cands:
            same = [p for p in cands if p.id == cert.id]
            out[cert.handle] = (same or cands)[0].handle
    return out


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
