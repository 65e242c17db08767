"""Certificate requests and self-signed certificates made on the token (create, re-sign).

Every function here takes the Backend first and runs on the module's owner thread
(`service.run(create_request, slot, ...)` / `await service.arun(...)`). Results are frozen
dataclasses. A failed operation leaves the token as it was: a key pair generated for it is deleted.
What the token can make is in ops/capabilities.py; stored requests in ops/pending.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization

from ikm_tui.core import journal
from ikm_tui.core.conventions import REQUEST_APPLICATION
from ikm_tui.core.x509.pem import encode as pem_encode
from ikm_tui.core.errors import IkmError, from_exception, RefusedError
# Looked up through its module at call time, so a replacement (a test giving the token fewer
# mechanisms) is seen here and by the UI alike.
from ikm_tui.core.ops import capabilities as caps
from ikm_tui.core.ops import pending
from ikm_tui.core.ops.capabilities import ED25519_WARNING, HASHES, KEY_TYPES, HashChoice
from ikm_tui.core.ops.common import require_login
from ikm_tui.core.ops.pending import PendingRequest
from ikm_tui.core.ops.token_signing import check_choice, check_new_label, key_signer, key_spec, pick_hash, subject_name
from ikm_tui.core.model import ObjClass
from ikm_tui.core.p11 import objects, softhsm
from ikm_tui.core.p11.objects import TokenObject
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.p11.keygen import KeyPair, KeyPurpose, generate_protected_pair, public_info, refuse_taken
from ikm_tui.core.p11.keys import KeySpec, key_kind
from ikm_tui.core.p11.objects import CATEGORY_TOKEN_USER
from ikm_tui.core.x509 import csr as csrlib

# A progress hook: called on the owner thread with (stage, text). Stages, in order: "check",
# "keygen", "sign", "verify", "store", "done". The UI must hop threads itself (post_message).
Progress = Callable[[str, str], None]


@dataclass(frozen=True)
class RequestResult:
    """A request made (or remade) on the token."""

    label: str
    key_id: bytes
    key_type: str
    hash: str | None
    der: bytes
    where: str  # "token" (a data object) or "file" (the token refused data objects)
    path: str | None = None  # the file, when where == "file"
    warnings: tuple[str, ...] = ()

    @property
    def pem(self) -> str:
        return pem_encode(self.der, "CERTIFICATE REQUEST")


@dataclass(frozen=True)
class SelfSignedResult:
    """A key pair and its self-signed certificate, both on the token under one label and CKA_ID."""

    label: str
    key_id: bytes
    key_type: str
    hash: str | None
    der: bytes

    @property
    def pem(self) -> str:
        return pem_encode(self.der, "CERTIFICATE")


# ---- helpers -----------------------------------------------------------------------------------

def _step(progress: Progress | None, stage: str, text: str) -> None:
    if progress is not None:
        try:
            progress(stage, text)
        except Exception:  # noqa: BLE001 - a broken progress display must not fail a keygen
            pass


def _check_inputs(spec: KeySpec, subject: asn1_x509.Name, sans: Sequence[str], key_usage: Sequence[str],
                  eku: Sequence[str]) -> None:
    try:
        csrlib.check_extensions(subject=subject, key_alg=spec.kind, sans=list(sans),
                                key_usage=list(key_usage), eku=list(eku))
    except (ValueError, TypeError) as exc:
        raise IkmError(f"{str(exc)[:1].upper()}{str(exc)[1:]}.", "Fix the SAN / key usage / EKU and retry.") from None


# ---- create ------------------------------------------------------------------------------------

def create_request(
    backend: Backend,
    slot_id: int,
    spec: KeySpec | str,
    label: str,
    subject: str | asn1_x509.Name,
    sans: Sequence[str] = (),
    key_usage: Sequence[str] = (),
    eku: Sequence[str] = (),
    hash: str | None = None,  # noqa: A002 - the CLI's --hash, by name
    key_id: bytes | None = None,
    *,
    progress: Progress | None = None,
    store: str = "auto",
) -> RequestResult:
    """Generate a key pair on the token, sign a PKCS#10 request with it there, verify and keep it.

    `store`: "auto" (a data object, else a file under the user data dir), "token" or "file".
    On any failure after key generation the pair is deleted again.
    """
    spec = key_spec(spec)
    check_new_label(label)
    _step(progress, "check", "Checking the token and the request")
    require_login(backend, slot_id, "Creating a key pair")
    choice = check_choice(backend, slot_id, spec)
    hash_choice = pick_hash(choice, hash)
    name = subject_name(subject)
    _check_inputs(spec, name, sans, key_usage, eku)
    if pending.token_copies(backend, slot_id, label) or pending.request_file(backend, slot_id, label).exists():
        raise RefusedError(f"A pending request labelled {label!r} already exists.",
                       "Choose another label, or `ikm-tui certreq delete` the old request first.")

    _step(progress, "keygen", f"Generating {spec} on the token")
    # Under the token lock no other key, certificate or request has this label, so the journal can
    # find what this run made by label (the pair starts under a temporary CKA_ID).
    intend_keygen(backend, slot_id, "certreq create", _create_steps(label, key_id, None))
    pair = generate_protected_pair(backend, slot_id, spec, label, key_id, KeyPurpose.from_key_usage(key_usage))
    undo_store: Callable[[], None] | None = None
    try:
        der = _sign_new_request(pair, spec, hash_choice, name, sans, key_usage, eku, progress)
        journal.intend("certreq create", _create_steps(label, pair.info.key_id, der))
        _step(progress, "store", "Saving the request")
        where, path, warnings, undo_store = pending.store_request(backend, slot_id, label, der, store)
    except BaseException as exc:
        _rollback(pair, undo_store)
        if not isinstance(exc, Exception):
            raise
        raise from_exception(exc, "Creating the request") from None
    warnings[:0] = pair.info.notes  # a template the token refused, and the usages it chose
    if spec.kind == "ed25519":
        warnings.append(ED25519_WARNING)
    _step(progress, "done", "Request created")
    return RequestResult(label, pair.info.key_id, str(spec), hash_choice.name or None, der, where, path,
                         tuple(warnings))


def _create_steps(label: str, key_id: bytes | None, der: bytes | None) -> list[journal.Step]:
    return [journal.create_step(ObjClass.PRIVATE_KEY, label, key_id, key="private"),
            journal.create_step(ObjClass.PUBLIC_KEY, label, key_id, key="public"),
            journal.create_step(ObjClass.DATA, label, None, der, app=REQUEST_APPLICATION, key="request")]


def intend_keygen(backend: Backend, slot_id: int, op: str, steps: list[journal.Step]) -> None:
    """The first intent of an operation that generates a key pair, with the token as it was
    (its hollow objects, SoftHSM's object files): a pair a killed C_GenerateKeyPair left
    half-written is then known as this run's, and finish/undo delete it."""
    if journal.current() is None:
        return  # no journal (library use): the listing is not needed
    listing = backend.list_objects(slot_id)
    # Refused here, before the intent is written, as key generation would refuse it: an intent
    # naming a label another key already has would let `journal undo` take that key for this run's.
    label, key_id = steps[0]["label"], steps[0]["id"]
    kinds = (ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY, ObjClass.CERTIFICATE)
    mine = [o for o in listing.objects if o.cls in kinds]
    refuse_taken(any(o.label == label for o in mine), key_id is not None and any(o.id.hex() == key_id for o in mine),
                 label, bytes.fromhex(key_id) if key_id is not None else None)
    journal.intend(op, steps, listing, softhsm.object_files(backend.module_path, listing.token.serial))


def cert_create_steps(label: str, key_id: bytes | None, der: bytes | None, category: int) -> list[journal.Step]:
    """A key pair and its certificate under one label (cert create, ca create): `der` None
    until signed (a run killed before that can only be undone)."""
    return [journal.create_step(ObjClass.PRIVATE_KEY, label, key_id, key="private"),
            journal.create_step(ObjClass.PUBLIC_KEY, label, key_id, key="public"),
            journal.create_step(ObjClass.CERTIFICATE, label, key_id if der is not None else None, der,
                                category=category, key="certificate")]


def _sign_new_request(pair: KeyPair, spec: KeySpec, hash_choice: HashChoice, name: asn1_x509.Name,
                      sans: Sequence[str], key_usage: Sequence[str], eku: Sequence[str],
                      progress: Progress | None) -> bytes:
    """The DER request signed on the token by the new pair, verified against its public key."""
    _step(progress, "sign", f"Signing the request on the token ({hash_choice.mechanism})")
    signer, sig_alg = key_signer(pair.private, spec.kind, hash_choice)
    try:
        der = csrlib.build_csr(subject=name, spki_der=pair.info.spki, sign=signer, sig_alg=sig_alg,
                               sans=list(sans), key_usage=list(key_usage), eku=list(eku))
    except ValueError as exc:
        raise IkmError(f"The request did not verify: {exc}.",
                       "The key pair was deleted. Report this with the trace (`--trace FILE`).") from None
    _step(progress, "verify", "Verifying the request")
    _verify_matches(der, pair.info.spki)
    return der


def _rollback(pair: KeyPair, undo_store: Callable[[], None] | None) -> None:
    if undo_store is not None:
        try:
            undo_store()
        except Exception:  # noqa: BLE001 - keep undoing; the key pair matters more
            pass
    pair.destroy()


def _verify_matches(der: bytes, spki: bytes) -> None:
    """cryptography's own check: valid signature, and the request carries the token's public key."""
    req = cx509.load_der_x509_csr(der)
    if not req.is_signature_valid:
        raise IkmError("The request's signature does not verify.", "Report this with the trace (`--trace FILE`).")
    got = req.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if got != spki:
        raise IkmError("The request carries a public key other than the token's.", "Report this as a bug.")


def create_self_signed(
    backend: Backend,
    slot_id: int,
    spec: KeySpec | str,
    label: str,
    subject: str | asn1_x509.Name,
    sans: Sequence[str] = (),
    key_usage: Sequence[str] = (),
    eku: Sequence[str] = (),
    hash: str | None = None,  # noqa: A002
    days: int = 365,
    key_id: bytes | None = None,
    *,
    is_ca: bool = False,
    progress: Progress | None = None,
) -> SelfSignedResult:
    """runmqakm `-cert -create`: a key pair and a self-signed certificate with the key's ID and label."""
    spec = key_spec(spec)
    check_new_label(label)
    _step(progress, "check", "Checking the token and the certificate")
    require_login(backend, slot_id, "Creating a key pair")
    choice = check_choice(backend, slot_id, spec)
    hash_choice = pick_hash(choice, hash)
    name = subject_name(subject)
    _check_inputs(spec, name, sans, key_usage, eku)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise IkmError(f"--days must be a whole number of at least 1, not {days!r}.", "Give e.g. --days 365.")
    _step(progress, "keygen", f"Generating {spec} on the token")
    # As certreq create: the intent first (the pair starts under a temporary CKA_ID, so it is
    # found by label), then again with the final ID and the certificate, which finish can write.
    intend_keygen(backend, slot_id, "cert create", cert_create_steps(label, key_id, None, CATEGORY_TOKEN_USER))
    pair = generate_protected_pair(backend, slot_id, spec, label, key_id, KeyPurpose.from_key_usage(key_usage))
    cert_obj: TokenObject | None = None
    try:
        _step(progress, "sign", f"Signing the certificate on the token ({hash_choice.mechanism})")
        signer, sig_alg = key_signer(pair.private, spec.kind, hash_choice)
        try:
            der = csrlib.build_self_signed(subject=name, spki_der=pair.info.spki, sign=signer, sig_alg=sig_alg,
                                           days=days, sans=list(sans), key_usage=list(key_usage),
                                           eku=list(eku), is_ca=is_ca)
        except ValueError as exc:
            raise IkmError(f"The certificate could not be made: {exc}.", "The key pair was deleted.") from None
        journal.intend("cert create", cert_create_steps(label, pair.info.key_id, der, CATEGORY_TOKEN_USER))
        _step(progress, "store", "Writing the certificate to the token")
        cert_obj = objects.create_certificate(backend, slot_id, der, label, pair.info.key_id, CATEGORY_TOKEN_USER)
    except BaseException as exc:
        if cert_obj is not None:
            objects.destroy_quietly(cert_obj)
        pair.destroy()
        if not isinstance(exc, Exception):
            raise
        raise from_exception(exc, "Creating the self-signed certificate") from None
    _step(progress, "done", "Certificate created")
    return SelfSignedResult(label, pair.info.key_id, str(spec), hash_choice.name or None, der)


# ---- re-sign -----------------------------------------------------------------------------------

def recreate(
    backend: Backend,
    slot_id: int,
    label: str,
    subject: str | asn1_x509.Name | None = None,
    sans: Sequence[str] | None = None,
    key_usage: Sequence[str] | None = None,
    eku: Sequence[str] | None = None,
    hash: str | None = None,  # noqa: A002
    *,
    progress: Progress | None = None,
    store: str = "auto",
) -> RequestResult:
    """A new request for the existing key `label`, signed again; replaces any pending one.

    Unset fields come from the pending request, if there is one. Needs the key's public-key object.
    """
    require_login(backend, slot_id, "Signing a request")
    _step(progress, "check", "Finding the key")
    pub, priv, key_id = _key_pair_by_label(backend, slot_id, label)
    old = _pending_for(backend, slot_id, label)
    if subject is None:
        if old is None or old.error:
            raise IkmError(f"No pending request for {label!r} to take the subject from.", "Give --subject DN.")
        subject = old.subject
    sans = list(sans) if sans is not None else list(old.sans if old else ())
    key_usage = list(key_usage) if key_usage is not None else list(old.key_usage if old else ())
    eku = list(eku) if eku is not None else list(old.eku if old else ())
    spki, _ = public_info(pub)
    kind = key_kind(pub)
    key_type, _ = pending.key_identity(serialization.load_der_public_key(spki))
    choice = caps.capabilities(backend, slot_id).choice(key_type) if key_type in KEY_TYPES else None
    if choice is None:
        raise IkmError(f"ikm-tui cannot sign requests with a {key_type} key.", f"Supported: {', '.join(KEY_TYPES)}.")
    if hash is None and old is not None and not old.error and kind != "ed25519":
        old_hash = old.signature_algorithm.split("_")[0]
        hash = old_hash if old_hash in HASHES else None  # noqa: A001 - the parameter, by name
    hash_choice = pick_hash(choice, hash)
    name = subject_name(subject)
    _check_inputs(KeySpec.parse(key_type), name, sans, key_usage, eku)
    _step(progress, "sign", f"Signing the request on the token ({hash_choice.mechanism})")
    signer, sig_alg = key_signer(priv, kind, hash_choice)
    try:
        der = csrlib.build_csr(subject=name, spki_der=spki, sign=signer, sig_alg=sig_alg, sans=sans,
                               key_usage=key_usage, eku=eku)
    except ValueError as exc:
        raise IkmError(f"The request did not verify: {exc}.", "Nothing was changed on the token.") from None
    _step(progress, "verify", "Verifying the request")
    _verify_matches(der, spki)
    _step(progress, "store", "Replacing the pending request")
    where, path, warnings = _replace_stored(backend, slot_id, label, der, store)
    _step(progress, "done", "Request created")
    return RequestResult(label, key_id, key_type, hash_choice.name or None, der, where, path, tuple(warnings))


def _key_pair_by_label(backend: Backend, slot_id: int, label: str) -> tuple[TokenObject, TokenObject, bytes]:
    """(public key, private key, CKA_ID) of the one pair whose public-key object has this label."""
    publics = objects.find_objects(backend, slot_id, ObjClass.PUBLIC_KEY, label=label)
    if not publics:
        raise IkmError(f"No public-key object labelled {label!r} on the token.",
                       "A request needs the key's public half; keys without one (or with another label) "
                       "cannot be re-requested here.")
    pub = publics[0]
    key_id = objects.object_id(pub)
    privs = objects.find_objects(backend, slot_id, ObjClass.PRIVATE_KEY, key_id=key_id)
    if len(publics) != 1 or len(privs) != 1:
        raise IkmError(f"Label {label!r} does not name exactly one key pair "
                       f"({len(publics)} public, {len(privs)} private with ID {key_id.hex()}).",
                       "Give the keys unique labels and IDs first (`ikm-tui list --login`).")
    return pub, privs[0], key_id


def _pending_for(backend: Backend, slot_id: int, label: str) -> PendingRequest | None:
    try:
        return pending.request_details(backend, slot_id, label)
    except IkmError:
        return None


def _replace_stored(backend: Backend, slot_id: int, label: str, der: bytes,
                    store: str) -> tuple[str, str | None, list[str]]:
    """Store the new copy first and only then drop the old ones: a failure leaves the old request."""
    old_objects = pending.token_copies(backend, slot_id, label)
    old_file = pending.request_file(backend, slot_id, label)
    listing = backend.list_objects(slot_id)
    # An old copy with the very same bytes (RSA PKCS#1 v1.5 signs deterministically) cannot be
    # told from the new one: it is not named, and either of the two left is the request.
    old_copies = [o for o in listing.objects if o.cls is ObjClass.DATA and o.label == label
                  and o.application == REQUEST_APPLICATION and o.value != der]
    journal.intend("certreq recreate", [journal.create_step(ObjClass.DATA, label, None, der,
                                                            app=REQUEST_APPLICATION, key="request")]
                   + [journal.destroy_step(o) for o in old_copies], listing,
                   softhsm.object_files(backend.module_path, listing.token.serial))
    where, path, warnings, _undo = pending.store_request(backend, slot_id, label, der, store)
    for obj in old_objects:
        objects.destroy_object(obj)
    if where == "token" and old_file.exists():
        old_file.unlink()
    return where, path, warnings
