"""Receive a CA-signed certificate onto the token, next to its private key.

Two steps, so a UI can show what will happen before anything is written:

    preview = service.run(preview_receive, slot_id, bundle.certs)       # reads only
    result = service.run(apply_receive, slot_id, preview, replace=..., with_chain=...)

Both run on the module's owner thread (`fn(backend, ...)`). The certificate is written with the
key's CKA_ID and the key's label, because Java SunPKCS11 and NSS pair key and cert by CKA_ID and
name the entry after the *cert's* label (tests/interop/test_interop_receive.py checks both with
keytool and certutil).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from ikm_tui.core import journal
from ikm_tui.core.conventions import REQUEST_APPLICATION
from ikm_tui.core.p11 import objects, softhsm
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.labels import label_problem
from ikm_tui.core.errors import AlreadyPresentError, IkmError, RefusedError, from_exception
from ikm_tui.core.ops.challenge import proves_pair
from ikm_tui.core.ops import request_files
from ikm_tui.core.ops.common import describe_key, require_login
from ikm_tui.core.p11.keys import key_id_for
from ikm_tui.core.ops.receive_gate import refuse_on_lint_errors
from ikm_tui.core.ops.receive_model import CertRef, ChainEntry, KeyRef, ReceivePreview, ReceiveResult
from ikm_tui.core.x509.lint import token_ca_certificates
from ikm_tui.core.model import CertFields, Listing, ObjClass, ObjectInfo
from ikm_tui.core.p11.objects import CATEGORY_AUTHORITY, CATEGORY_TOKEN_USER, write_certificate
from ikm_tui.core.sanitize import safe_text
from ikm_tui.core.x509.info import parse_certificate


def cert_ref(o: ObjectInfo) -> CertRef:
    return CertRef(der=o.value or b"", fields=o.cert or parse_certificate(o.value or b""), label=o.label,
                   id=o.id, handle=o.handle, category=o.cert_category)


def _file_cert(der: bytes) -> CertRef:
    return CertRef(der=der, fields=parse_certificate(der))


def cn_label(der: bytes) -> str:
    """A label for a CA cert: its subject CN, else the whole subject."""
    cert = x509.load_der_x509_certificate(der)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if cns and isinstance(cns[0].value, str) and cns[0].value.strip():
        return cns[0].value.strip()
    return cert.subject.rfc4514_string() or hashlib.sha1(der).hexdigest()[:16]  # noqa: S324


def _matching_keys(backend: Backend, slot_id: int, listing: Listing, der: bytes,
                   fields: CertFields) -> list[tuple[ObjectInfo, str]]:
    """Private keys whose public key is the cert's, with how we know."""
    if not fields.public_key_id:
        return []
    by_handle = {o.handle: o for o in listing.objects}
    out: list[tuple[ObjectInfo, str]] = []
    unknown: list[ObjectInfo] = []
    for k in listing.objects:
        if k.cls is not ObjClass.PRIVATE_KEY:
            continue
        if k.public_key_id:  # RSA: the private key exposes CKA_MODULUS
            if k.public_key_id == fields.public_key_id:
                out.append((k, "modulus"))
            continue
        pub_handle = listing.pairing.private_to_public.get(k.handle)
        pub = by_handle.get(pub_handle) if pub_handle is not None else None
        if pub is not None and pub.public_key_id:
            if pub.public_key_id == fields.public_key_id:
                out.append((k, "public-key object"))
            continue
        unknown.append(k)
    if not out:
        for k in unknown:
            if k.key_type and fields.key_type and k.key_type != fields.key_type:
                continue
            if proves_pair(backend, slot_id, k, der):
                out.append((k, "sign-and-verify challenge"))
    return out


def _no_match_error(listing: Listing, bundle_len: int) -> IkmError:
    keys = [describe_key(o) for o in listing.objects if o.cls is ObjClass.PRIVATE_KEY]
    present = "; ".join(keys) if keys else "none"
    what = "The certificate's" if bundle_len == 1 else f"None of the {bundle_len} certificates'"
    return IkmError(
        f"{what} public key matches no private key on this token, so nothing was written. "
        f"Private keys present: {present}.",
        "Check you chose the right token (--token) and the certificate issued for a request made "
        "on it; a certificate for a key held elsewhere cannot be used here.",
        operation="Receiving the certificate",
    )


def _validity_warnings(fields: CertFields) -> list[str]:
    now = datetime.now(timezone.utc)
    out = []
    if fields.not_after and fields.not_after < now:
        out.append(f"the certificate expired on {fields.not_after:%Y-%m-%d}")
    if fields.not_before and fields.not_before > now:
        out.append(f"the certificate is not valid before {fields.not_before:%Y-%m-%d}")
    if fields.is_ca:
        out.append("the certificate is a CA certificate (basicConstraints CA:TRUE)")
    if fields.error:
        out.append(f"the certificate is {fields.error}")
    return out


def _request_matches(value: bytes | None, cert_der: bytes) -> bool:
    """Does the stored request carry the cert's public key? Unparsable requests count as a match."""
    if not value:
        return True
    try:
        csr = x509.load_der_x509_csr(value)
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        enc = serialization.Encoding.DER
        cert = x509.load_der_x509_certificate(cert_der)
        return bool(csr.public_key().public_bytes(enc, spki) == cert.public_key().public_bytes(enc, spki))
    except Exception:  # noqa: BLE001
        return True


# ----- the two steps ---------------------------------------------------------------------------
def _chain_entries(listing: Listing, certs: tuple[bytes, ...] | list[bytes],
                   leaf_der: bytes) -> list[ChainEntry]:
    """What becomes of each certificate of the file besides the leaf."""
    present = {o.value for o in listing.objects if o.cls is ObjClass.CERTIFICATE}
    chain: list[ChainEntry] = []
    for der in certs:
        if der == leaf_der:
            continue
        ref = _file_cert(der)
        if der in present:
            action = "present"
        elif not ref.fields.is_ca:
            action = "ignored (not a CA)"
        else:
            action = "store"
        chain.append(ChainEntry(ref, cn_label(der) if not ref.fields.error else "CA", action))
    return chain


def preview_receive(backend: Backend, slot_id: int, certs: tuple[bytes, ...] | list[bytes],
                    source_format: str = "", *, key_id: bytes | None = None) -> ReceivePreview:
    """Find the leaf and its private key; read only. `key_id` picks among several matching keys."""
    require_login(backend, slot_id, "Receiving a certificate")
    if not certs:
        raise IkmError("No certificate given.", "Give the certificate file the CA sent back.")
    listing = backend.list_objects(slot_id)
    matches: list[tuple[bytes, CertFields, list[tuple[ObjectInfo, str]]]] = []
    for der in certs:
        fields = parse_certificate(der)
        keys = _matching_keys(backend, slot_id, listing, der, fields)
        if key_id is not None:
            keys = [(k, how) for k, how in keys if k.id == key_id]
        if keys:
            matches.append((der, fields, keys))
    if not matches:
        raise _no_match_error(listing, len(certs))
    if len(matches) > 1:  # a certificate on the token as it is (its own CA, in the chain sent back) is no leaf
        present = {o.value for o in listing.objects if o.cls is ObjClass.CERTIFICATE}
        matches = [m for m in matches if m[0] not in present] or matches
    if len(matches) > 1:
        names = "; ".join(f"{m[1].subject} -> {describe_key(m[2][0][0])}" for m in matches)
        raise IkmError(f"Several certificates in the file match keys on this token: {names}.",
                       "Receive them one at a time (split the file).",
                       operation="Receiving the certificate")
    leaf_der, leaf_fields, keys = matches[0]
    if len(keys) > 1:
        names = "; ".join(describe_key(k) for k, _ in keys)
        raise IkmError(f"Several private keys hold this certificate's public key: {names}.",
                       "Pick one with --id HEX (its CKA_ID).", operation="Receiving the certificate")
    key, how = keys[0]
    warnings = _validity_warnings(leaf_fields)
    existing = [cert_ref(o) for o in _certs_of_key(listing, key)]
    label = _label_for(key, existing, leaf_der, warnings)
    if not key.id:
        warnings.append("the key has an empty CKA_ID: Java and NSS would not pair it with the certificate; "
                        "receive gives key, public key and certificate the SHA-1 of the public key "
                        "(CLI --assign-id) instead of copying the empty ID")

    chain = _chain_entries(listing, certs, leaf_der)
    requests = tuple(o for o in listing.objects
                     if o.cls is ObjClass.DATA and o.application == REQUEST_APPLICATION
                     and o.label == key.label and key.label and _request_matches(o.value, leaf_der))
    return ReceivePreview(
        source_format=source_format,
        leaf=_file_cert(leaf_der),
        key=KeyRef(key.label, key.id, key.key_type, key.handle,
                   listing.pairing.private_to_public.get(key.handle)),
        label=label,
        match=how,
        existing=tuple(existing),
        chain=tuple(chain),
        pending_requests=requests,
        warnings=tuple(warnings),
        token_ca_certs=tuple(token_ca_certificates(listing.objects)),
    )


def _label_for(key: ObjectInfo, existing: list[CertRef], leaf_der: bytes, warnings: list[str]) -> str:
    """The new cert's label: the key's; else the existing cert's (Java alias); else the CN (warned)."""
    if key.label:
        return key.label
    if existing and existing[0].label:
        # Java keytool leaves the key unlabelled: the alias is the cert's label, and every
        # configuration naming the alias breaks if the new cert is labelled otherwise.
        return existing[0].label
    label = cn_label(leaf_der)
    warnings.append(f"the key has no label; the certificate will be labelled {label!r} "
                    "(rename the pair with `cert rename` to give the key the same label)")
    return label


def _certs_of_key(listing: Listing, key: ObjectInfo) -> list[ObjectInfo]:
    """Certs the key has: same *non-empty* CKA_ID (else --replace took every empty-ID cert), or public key."""
    return [o for o in listing.objects if o.cls is ObjClass.CERTIFICATE
            and ((key.id and o.id == key.id) or listing.pairing.cert_to_key.get(o.handle) == key.handle)]


def apply_receive(backend: Backend, slot_id: int, preview: ReceivePreview, *, replace: bool = False,
                  with_chain: bool = False, assign_id: bool = False, force: bool = False,
                  now: datetime | None = None) -> ReceiveResult:
    """Write what the preview showed. The token is re-read first: if it changed, nothing is written.

    A certificate with a lint ERROR (clients will reject it) is refused unless `force`; `now` is
    the instant lint judges validity at (the preview's clock). Order: new cert first, then the old
    ones go, so an interruption leaves two certs (fixable) and never a key without its cert.
    """
    refuse_on_lint_errors(preview, force=force, now=now)
    require_login(backend, slot_id, "Receiving a certificate")
    listing = backend.list_objects(slot_id)
    key = listing.by_handle(preview.key.handle)
    if key is None or key.cls is not ObjClass.PRIVATE_KEY or key.id != preview.key.id:
        raise IkmError("The private key shown in the preview is no longer on the token; nothing was written.",
                       "Run the receive again.", operation="Receiving the certificate")
    existing = _certs_of_key(listing, key)
    if existing and not replace:
        names = "; ".join(f"{o.label!r} id={o.id.hex()} subject={o.cert.subject if o.cert else '?'}"
                          for o in existing)
        raise IkmError(
            f"The key {key.label!r} already has a certificate on the token ({names}); nothing was written.",
            "Use --replace (CLI) or confirm the replacement to swap it for the new one.",
            operation="Receiving the certificate")
    from ikm_tui.core.ops.repair_ids import id_for_receive

    key_id = id_for_receive(backend, slot_id, key, assign_id)
    current = {o.handle for o in listing.objects}
    journal.intend("receive", [journal.create_step(ObjClass.CERTIFICATE, preview.label, key_id, preview.leaf.der,
                                                   category=CATEGORY_TOKEN_USER)]
                   + [journal.destroy_step(o) for o in existing]
                   + [journal.destroy_step(r) for r in preview.pending_requests if r.handle in current], listing,
                   softhsm.object_files(backend.module_path, listing.token.serial))
    try:
        handle = write_certificate(backend, slot_id, preview.leaf.der, preview.label, key_id,
                                   CATEGORY_TOKEN_USER)
    except Exception as exc:  # noqa: BLE001
        raise from_exception(exc, "Writing the certificate") from None
    written = CertRef(preview.leaf.der, preview.leaf.fields, preview.label, key_id, handle, CATEGORY_TOKEN_USER)
    removed: list[CertRef] = []
    for o in existing:
        try:
            objects.destroy(backend, slot_id, o.handle)
        except Exception as exc:  # noqa: BLE001
            raise IkmError(
                f"The new certificate was written, but the old one {o.label!r} could not be removed "
                f"({from_exception(exc)}). The key now has two certificates.",
                f"Delete the old one: `ikm-tui cert delete {safe_text(o.label)} --id {o.id.hex()} --yes` "
                "(check the serial it prints).", operation="Replacing the certificate") from None
        removed.append(cert_ref(o))

    requests_removed, notes = _remove_fulfilled(backend, slot_id, listing, preview)
    chain_written: list[CertRef] = []
    chain_skipped: list[CertRef] = []
    if with_chain:
        chain_written, chain_skipped = _write_chain(backend, slot_id, listing, preview)
    return ReceiveResult(written, tuple(removed), tuple(chain_written), tuple(chain_skipped),
                         tuple(requests_removed), tuple(notes))


def _remove_fulfilled(backend: Backend, slot_id: int, listing: Listing,
                      preview: ReceivePreview) -> tuple[list[ObjectInfo], list[str]]:
    """Delete the pending requests the new certificate answers: (removed, notes on failures)."""
    requests_removed: list[ObjectInfo] = []
    notes: list[str] = []
    current = {o.handle for o in listing.objects}
    for req in preview.pending_requests:
        if req.handle not in current:
            continue
        try:
            objects.destroy(backend, slot_id, req.handle)
            requests_removed.append(req)
        except Exception as exc:  # noqa: BLE001 - the cert is in; a stale request is only clutter
            notes.append(f"the pending request {req.label!r} could not be removed: {from_exception(exc)}")
    # A request the token could not hold is kept in a file: it is fulfilled too.
    notes += request_files.remove_fulfilled_note(listing.token, preview.key.label, preview.leaf.der)
    return requests_removed, notes


def _write_chain(backend: Backend, slot_id: int, listing: Listing,
                 preview: ReceivePreview) -> tuple[list[CertRef], list[CertRef]]:
    """Store the file's CA certificates the token lacks: (written, skipped)."""
    chain_written: list[CertRef] = []
    chain_skipped: list[CertRef] = []
    present = {o.value for o in listing.objects if o.cls is ObjClass.CERTIFICATE}
    present.add(preview.leaf.der)
    for entry in preview.chain:
        if entry.action != "store" or entry.cert.der in present:
            chain_skipped.append(entry.cert)
            continue
        ca_id = _ca_id(entry.cert)
        h = write_certificate(backend, slot_id, entry.cert.der, entry.label, ca_id, CATEGORY_AUTHORITY)
        present.add(entry.cert.der)
        chain_written.append(CertRef(entry.cert.der, entry.cert.fields, entry.label, ca_id, h,
                                     CATEGORY_AUTHORITY))
    return chain_written, chain_skipped


def _ca_id(ref: CertRef) -> bytes:
    """CKA_ID for an authority cert: SHA-1 of its public key, the NSS/OpenSC convention.

    If the CA's own key were on this token, it would then pair with it as it should.
    """
    ident = ref.fields.public_key_id
    if ident:
        return key_id_for(bytes.fromhex(ident if len(ident) % 2 == 0 else "0" + ident))
    return hashlib.sha1(ref.der).digest()  # noqa: S324 - an identifier


def add_authority_cert(backend: Backend, slot_id: int, der: bytes, label: str) -> CertRef:
    """Store a CA/signer cert (category authority). Refuses a DER already on the token."""
    if problem := label_problem(label):
        raise IkmError(problem, "Give a label of printable characters.", operation="Adding the certificate")
    fields = parse_certificate(der)
    if fields.error and not fields.subject:
        raise IkmError(f"The certificate does not parse ({fields.error}).", "Check the file.")
    listing = backend.list_objects(slot_id)
    for o in listing.objects:
        if o.cls is ObjClass.CERTIFICATE and o.value == der:
            raise AlreadyPresentError(f"This certificate is already on the token as {o.label!r} (id {o.id.hex()}); "
                           "nothing was written.", "Nothing to do.", operation="Adding the certificate")
    clash = [o for o in listing.objects if o.label == label
             and o.cls in (ObjClass.CERTIFICATE, ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY)]
    if clash:
        names = "; ".join(f"{o.cls.value} id={o.id.hex() or '-'}" for o in clash)
        raise RefusedError(f"The label {label!r} is already used on this token ({names}); nothing was written.",
                       "Choose another label: Java aliases, NSS nicknames and OpenSSL URIs need it unique.",
                       operation="Adding the certificate")
    ref = CertRef(der, fields)
    ca_id = _ca_id(ref)
    h = write_certificate(backend, slot_id, der, label, ca_id, CATEGORY_AUTHORITY)
    return CertRef(der, fields, label, ca_id, h, CATEGORY_AUTHORITY)


def receive(backend: Backend, slot_id: int, certs: tuple[bytes, ...], *, replace: bool = False,
            with_chain: bool = False, assign_id: bool = False,
            force: bool = False) -> tuple[ReceivePreview, ReceiveResult]:
    """Both steps at once, for scripts."""
    preview = preview_receive(backend, slot_id, certs)
    return preview, apply_receive(backend, slot_id, preview, replace=replace, with_chain=with_chain,
                                  assign_id=assign_id, force=force)

