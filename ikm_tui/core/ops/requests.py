"""Certificate requests and self-signed certificates made on the token (create, re-sign).

Every function here takes the Backend first and runs on the module's owner thread
(`service.run(create_request, slot, ...)` / `await service.arun(...)`). Results are frozen
dataclasses. A failed operation leaves the token as it was: a key pair generated for it is deleted.
What the token can make is in ops/capabilities.py; stored requests in ops/pending.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from asn1crypto import algos, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization

from ikm_tui.core import journal
from ikm_tui.core.conventions import REQUEST_APPLICATION
from ikm_tui.core.x509.pem import encode as pem_encode
from ikm_tui.core.labels import bad_character, label_problem
from ikm_tui.core.errors import IkmError, from_exception, RefusedError
# Looked up through its module at call time, so a replacement (a test giving the token fewer
# mechanisms) is seen here and by the UI alike.
from ikm_tui.core.ops import capabilities as caps
from ikm_tui.core.ops import pending
from ikm_tui.core.ops.capabilities import ED25519_WARNING, HASHES, KEY_TYPES, HashChoice, KeyChoice
from ikm_tui.core.ops.common import require_login
from ikm_tui.core.ops.pending import PendingRequest
from ikm_tui.core.model import ObjClass
from ikm_tui.core.p11 import objects
from ikm_tui.core.p11.objects import TokenObject
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.p11.keygen import KeyPair, KeyPurpose, generate_protected_pair, public_info
from ikm_tui.core.p11.keys import KeySpec, key_kind, sign
from ikm_tui.core.p11.objects import CATEGORY_TOKEN_USER
from ikm_tui.core.x509 import csr as csrlib
from ikm_tui.core.x509.dn import parse_dn

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

def _spec(spec: KeySpec | str) -> KeySpec:
    if isinstance(spec, KeySpec):
        return spec
    try:
        return KeySpec.parse(spec)
    except ValueError as exc:
        raise IkmError(str(exc).capitalize() + ".", f"Use one of {', '.join(KEY_TYPES)}.") from None


def _subject(subject: str | asn1_x509.Name) -> asn1_x509.Name:
    if isinstance(subject, asn1_x509.Name):
        return subject
    try:
        name = parse_dn(subject)
    except (ValueError, TypeError) as exc:
        raise IkmError(f"Bad subject DN: {exc}",
                       "Write it as CN=host,O=Org (RFC 4514), cn=host,o=Org (runmqakm) or "
                       "/O=Org/CN=host (openssl -subj).") from None
    # Also what RFC 4514 hex escapes (CN=\1b) decode to: a DN we write holds printable text only.
    values = [v for v in name.native.values() for v in (v if isinstance(v, list) else [v])]
    if (ch := bad_character(subject) or next(filter(None, map(bad_character, map(str, values))), None)):
        raise IkmError(f"Bad subject DN: it holds a control or invisible character (U+{ord(ch):04X}).",
                       "Write the subject in printable characters.")
    return name


def check_new_label(label: str) -> None:
    """IkmError before anything is made when `label` is no label to write (core/labels.py)."""
    if problem := label_problem(label):
        raise IkmError(problem, "Give a label of printable characters (at most 255).")


def _step(progress: Progress | None, stage: str, text: str) -> None:
    if progress is not None:
        try:
            progress(stage, text)
        except Exception:  # noqa: BLE001 - a broken progress display must not fail a keygen
            pass


def _signer(pair_private: TokenObject, kind: str, choice: HashChoice) -> tuple[csrlib.Signer, str]:
    """A csr.Signer on the token for this key kind and hash, and the X.509 signature algorithm."""
    plan = csrlib.signing_plan(kind, choice.name or None)
    if choice.mechanism == "CKM_RSA_PKCS" and plan.mechanism != "CKM_RSA_PKCS":
        hash_name = choice.name

        def sign_raw(tbs: bytes) -> bytes:
            digest_info = algos.DigestInfo({
                "digest_algorithm": {"algorithm": hash_name, "parameters": core.Null()},
                "digest": hashlib.new(hash_name, tbs).digest(),
            })
            return sign(pair_private, digest_info.dump(), "CKM_RSA_PKCS")

        return csrlib.token_signer(plan._replace(mechanism="CKM_RSA_PKCS"), sign_raw), plan.sig_alg
    mechanism = plan.mechanism

    def sign_on_token(data: bytes) -> bytes:
        return sign(pair_private, data, mechanism)

    return csrlib.token_signer(plan, sign_on_token), plan.sig_alg


def _pick_hash(choice: KeyChoice, hash_name: str | None) -> HashChoice:
    if choice.key_type == "ed25519":
        if hash_name:
            raise IkmError("Ed25519 has no hash to choose (SHA-512 is part of the algorithm).",
                           "Leave out --hash for ed25519.")
        return choice.hashes[0]
    name = (hash_name or choice.default_hash or "sha256").strip().lower().replace("-", "")
    for h in choice.hashes:
        if h.name == name:
            if not h.supported:
                raise IkmError(f"This token cannot sign {choice.key_type} with {name}: {h.reason}.",
                               f"Use one of: {', '.join(choice.usable_hashes) or 'none'}.")
            return h
    raise IkmError(f"Unknown hash {hash_name!r}.", f"Use one of {', '.join(HASHES)}.")


def _check_choice(backend: Backend, slot_id: int, spec: KeySpec) -> KeyChoice:
    key_type = str(spec)
    if key_type not in KEY_TYPES:
        raise IkmError(f"Key type {key_type} is not offered.", f"Use one of {', '.join(KEY_TYPES)}.")
    choice = caps.capabilities(backend, slot_id).choice(key_type)
    if not choice.supported:
        supported = caps.capabilities(backend, slot_id).supported
        raise IkmError(f"This token cannot make {key_type} keys: {choice.reason}.",
                       f"Pick one it supports: {', '.join(supported) or 'none'}.",
                       "CKR_MECHANISM_INVALID", 0x70)
    return choice


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
    spec = _spec(spec)
    check_new_label(label)
    _step(progress, "check", "Checking the token and the request")
    require_login(backend, slot_id, "Creating a key pair")
    choice = _check_choice(backend, slot_id, spec)
    hash_choice = _pick_hash(choice, hash)
    name = _subject(subject)
    _check_inputs(spec, name, sans, key_usage, eku)
    if pending.token_copies(backend, slot_id, label) or pending.request_file(backend, slot_id, label).exists():
        raise RefusedError(f"A pending request labelled {label!r} already exists.",
                       "Choose another label, or `ikm-tui certreq delete` the old request first.")

    _step(progress, "keygen", f"Generating {spec} on the token")
    # Under the token lock no other key, certificate or request has this label, so the journal can
    # find what this run made by label (the pair starts under a temporary CKA_ID).
    journal.intend("certreq create", _create_steps(label, key_id, None))
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


def _sign_new_request(pair: KeyPair, spec: KeySpec, hash_choice: HashChoice, name: asn1_x509.Name,
                      sans: Sequence[str], key_usage: Sequence[str], eku: Sequence[str],
                      progress: Progress | None) -> bytes:
    """The DER request signed on the token by the new pair, verified against its public key."""
    _step(progress, "sign", f"Signing the request on the token ({hash_choice.mechanism})")
    signer, sig_alg = _signer(pair.private, spec.kind, hash_choice)
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
    spec = _spec(spec)
    check_new_label(label)
    _step(progress, "check", "Checking the token and the certificate")
    require_login(backend, slot_id, "Creating a key pair")
    choice = _check_choice(backend, slot_id, spec)
    hash_choice = _pick_hash(choice, hash)
    name = _subject(subject)
    _check_inputs(spec, name, sans, key_usage, eku)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise IkmError(f"--days must be a whole number of at least 1, not {days!r}.", "Give e.g. --days 365.")
    _step(progress, "keygen", f"Generating {spec} on the token")
    pair = generate_protected_pair(backend, slot_id, spec, label, key_id, KeyPurpose.from_key_usage(key_usage))
    cert_obj: TokenObject | None = None
    try:
        _step(progress, "sign", f"Signing the certificate on the token ({hash_choice.mechanism})")
        signer, sig_alg = _signer(pair.private, spec.kind, hash_choice)
        try:
            der = csrlib.build_self_signed(subject=name, spki_der=pair.info.spki, sign=signer, sig_alg=sig_alg,
                                           days=days, sans=list(sans), key_usage=list(key_usage),
                                           eku=list(eku), is_ca=is_ca)
        except ValueError as exc:
            raise IkmError(f"The certificate could not be made: {exc}.", "The key pair was deleted.") from None
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
    hash_choice = _pick_hash(choice, hash)
    name = _subject(subject)
    _check_inputs(KeySpec.parse(key_type), name, sans, key_usage, eku)
    _step(progress, "sign", f"Signing the request on the token ({hash_choice.mechanism})")
    signer, sig_alg = _signer(priv, kind, hash_choice)
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
    where, path, warnings, _undo = pending.store_request(backend, slot_id, label, der, store)
    for obj in old_objects:
        objects.destroy_object(obj)
    if where == "token" and old_file.exists():
        old_file.unlink()
    return where, path, warnings
