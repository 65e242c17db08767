"""Certificate requests and self-signed certificates made on the token; pending requests kept there.

Every function here takes the Backend first and runs on the module's owner thread
(`service.run(create_request, slot, ...)` / `await service.arun(...)`). Results are frozen
dataclasses. A failed operation leaves the token as it was: a key pair generated for it is deleted.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pkcs11.exceptions as p11x
from asn1crypto import algos, core
from asn1crypto import csr as asn1_csr
from asn1crypto import x509 as asn1_x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from ikm_tui.core.x509 import csr as csrlib
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.x509.dn import format_dn, parse_dn
from ikm_tui.core.ops import request_files
from ikm_tui.core.errors import IkmError, from_exception
from ikm_tui.core.p11.keygen import KeyPair, KeyPurpose, find_keys, generate_protected_pair, public_info
from ikm_tui.core.p11.keys import KeySpec
from ikm_tui.core.model import Listing, ObjClass
from ikm_tui.core.p11.objects import CATEGORY_TOKEN_USER, certificate_template
from ikm_tui.core.x509.info import public_key_identity

# The receive side finds and deletes a pending request by exactly these two attributes:
# CKA_APPLICATION == REQUEST_APPLICATION and CKA_LABEL == the key's label.
REQUEST_APPLICATION = "ikm-tui request"

KEY_TYPES = ("rsa:2048", "rsa:3072", "rsa:4096", "ec:p256", "ec:p384", "ec:p521", "ed25519")
HASHES = ("sha256", "sha384", "sha512")

# Shown before an Ed25519 key is made; the CLI asks for --yes, the TUI for a confirmation.
ED25519_WARNING = (
    "Ed25519 keys break the OpenSSL pkcs11 engine (libp11 <= 0.4.12): once an Ed25519 private key is "
    "on this token, the engine fails to enumerate ANY key on it, so openssl/engine-based programs "
    "(and anything using `-engine pkcs11`) can no longer use the token's other keys either."
)

# A progress hook: called on the owner thread with (stage, text). Stages, in order: "check",
# "keygen", "sign", "verify", "store", "done". The UI must hop threads itself (post_message).
Progress = Callable[[str, str], None]


# ---- what the token can do ---------------------------------------------------------------------

@dataclass(frozen=True)
class HashChoice:
    """One hash for one key type: whether the token can sign with it, and through which mechanism."""

    name: str  # "sha256"...; "" for Ed25519, whose hash is part of the algorithm
    supported: bool
    mechanism: str = ""  # "CKM_SHA256_RSA_PKCS", "CKM_RSA_PKCS" (DigestInfo made here), "CKM_ECDSA", "CKM_EDDSA"
    reason: str = ""  # why not, when unsupported


@dataclass(frozen=True)
class KeyChoice:
    """One key type ("rsa:2048"...) on this token: can it be generated and signed with, and if not, why."""

    key_type: str
    supported: bool
    reason: str = ""
    hashes: tuple[HashChoice, ...] = ()
    warning: str = ""

    @property
    def usable_hashes(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hashes if h.supported and h.name)

    @property
    def default_hash(self) -> str | None:
        """The hash matched to the key's strength (P-384 -> sha384), else the first usable one."""
        usable = self.usable_hashes
        preferred = {"ec:p384": "sha384", "ec:p521": "sha512"}.get(self.key_type, "sha256")
        if preferred in usable:
            return preferred
        return usable[0] if usable else None


@dataclass(frozen=True)
class KeyCapabilities:
    """Key types (with hashes) the token offers, each with the reason when it cannot."""

    choices: tuple[KeyChoice, ...]

    @property
    def supported(self) -> tuple[str, ...]:
        return tuple(c.key_type for c in self.choices if c.supported)

    def choice(self, key_type: str) -> KeyChoice:
        for c in self.choices:
            if c.key_type == key_type:
                return c
        raise IkmError(f"Unknown key type {key_type!r}.", f"Use one of {', '.join(KEY_TYPES)}.")


def _mech_ok(mechs: dict[int, Any], mech: Mechanism, flag: str, bits: int | None) -> str:
    """'' when the token lists `mech` with `flag` for `bits`, else why not."""
    info = mechs.get(int(mech))
    name = f"CKM_{mech.name}"
    if info is None:
        return f"token has no {name}"
    # Empty flags mean C_GetMechanismInfo failed: trust the listing rather than hide the choice.
    if info.flags and flag not in info.flags:
        return f"token lists {name} without the {flag.replace('_', '-')} flag"
    if bits is not None and info.max_key and not (info.min_key <= bits <= info.max_key):
        return f"token's {name} takes {info.min_key}-{info.max_key} bits, not {bits}"
    return ""


def _rsa_choice(mechs: dict[int, Any], bits: int) -> KeyChoice:
    key_type = f"rsa:{bits}"
    why = _mech_ok(mechs, Mechanism.RSA_PKCS_KEY_PAIR_GEN, "generate_key_pair", bits)
    raw_why = _mech_ok(mechs, Mechanism.RSA_PKCS, "sign", bits)
    hashes = []
    for h in HASHES:
        combined = getattr(Mechanism, f"{h.upper()}_RSA_PKCS")
        if not _mech_ok(mechs, combined, "sign", bits):
            hashes.append(HashChoice(h, True, f"CKM_{combined.name}"))
        elif not raw_why:
            # Raw PKCS#1 v1.5 over a DigestInfo made here is the same signature.
            hashes.append(HashChoice(h, True, "CKM_RSA_PKCS"))
        else:
            hashes.append(HashChoice(h, False, reason=f"token has neither CKM_{combined.name} nor CKM_RSA_PKCS"))
    if not why and not any(h.supported for h in hashes):
        why = "token cannot sign with RSA (no CKM_SHA*_RSA_PKCS, no CKM_RSA_PKCS)"
    return KeyChoice(key_type, not why, why, tuple(hashes))


def _ec_choice(mechs: dict[int, Any], curve: str, bits: int) -> KeyChoice:
    key_type = f"ec:{curve}"
    why = _mech_ok(mechs, Mechanism.EC_KEY_PAIR_GEN, "generate_key_pair", bits)
    sign_why = _mech_ok(mechs, Mechanism.ECDSA, "sign", bits)
    # SoftHSM and most cards have no CKM_ECDSA_SHA*: every hash goes through raw CKM_ECDSA.
    hashes = tuple(HashChoice(h, not sign_why, "CKM_ECDSA" if not sign_why else "",
                              f"{sign_why} (ikm-tui hashes locally and signs the digest)" if sign_why else "")
                   for h in HASHES)
    if not why and sign_why:
        why = f"{sign_why}, so it cannot sign with the key"
    return KeyChoice(key_type, not why, why, hashes)


def _ed25519_choice(mechs: dict[int, Any]) -> KeyChoice:
    # Tokens report Ed25519 as 255 or 256 bits; only refuse a range that excludes both.
    why = _mech_ok(mechs, Mechanism.EC_EDWARDS_KEY_PAIR_GEN, "generate_key_pair", None)
    sign_why = _mech_ok(mechs, Mechanism.EDDSA, "sign", None)
    gen = mechs.get(int(Mechanism.EC_EDWARDS_KEY_PAIR_GEN))
    if not why and gen is not None and gen.max_key and not (gen.min_key <= 256 and gen.max_key >= 255):
        why = f"token's CKM_EC_EDWARDS_KEY_PAIR_GEN takes {gen.min_key}-{gen.max_key} bits, not 255/256"
    if not why and sign_why:
        why = f"{sign_why}, so it cannot sign with the key"
    hashes = (HashChoice("", not sign_why, "CKM_EDDSA" if not sign_why else "", sign_why),)
    return KeyChoice("ed25519", not why, why, hashes, ED25519_WARNING)


def capabilities_from_mechanisms(mechanisms: Sequence[Any]) -> KeyCapabilities:
    """KeyCapabilities from a mechanism list (model.MechanismInfo): pure, for tests and the UI."""
    mechs = {int(m.code): m for m in mechanisms}
    choices = [_rsa_choice(mechs, b) for b in (2048, 3072, 4096)]
    choices += [_ec_choice(mechs, c, b) for c, b in (("p256", 256), ("p384", 384), ("p521", 521))]
    choices.append(_ed25519_choice(mechs))
    return KeyCapabilities(tuple(choices))


def capabilities(backend: Backend, slot_id: int) -> KeyCapabilities:
    """Which key types and hashes this token can generate and sign with, from its mechanism list."""
    return capabilities_from_mechanisms(backend.mechanisms(slot_id))


# ---- results -----------------------------------------------------------------------------------

def _pem(der: bytes, kind: str) -> str:
    import base64
    import textwrap

    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"


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
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def pem(self) -> str:
        return _pem(self.der, "CERTIFICATE REQUEST")


@dataclass(frozen=True)
class SelfSignedResult:
    """A key pair and its self-signed certificate, both on the token under one label and CKA_ID."""

    label: str
    key_id: bytes
    key_type: str
    hash: str | None
    der: bytes
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def pem(self) -> str:
        return _pem(self.der, "CERTIFICATE")


@dataclass(frozen=True)
class PendingRequest:
    """A stored request, parsed; `has_key` is None when private keys are not visible (no login)."""

    label: str
    der: bytes
    where: str  # "token" or "file"
    path: str | None = None
    subject: str = ""
    sans: tuple[str, ...] = ()
    key_usage: tuple[str, ...] = ()
    eku: tuple[str, ...] = ()
    key_type: str = ""
    signature_algorithm: str = ""
    signature_valid: bool = False
    key_id: bytes = b""  # the matching key's CKA_ID, else SHA-1 of the request's public value
    has_key: bool | None = None
    error: str = ""

    @property
    def pem(self) -> str:
        return _pem(self.der, "CERTIFICATE REQUEST")


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
        return parse_dn(subject)
    except (ValueError, TypeError) as exc:
        raise IkmError(f"Bad subject DN: {exc}",
                       "Write it as CN=host,O=Org (RFC 4514), cn=host,o=Org (runmqakm) or "
                       "/O=Org/CN=host (openssl -subj).") from None


def _need_login(backend: Backend, slot_id: int, what: str) -> None:
    if not backend.is_logged_in(slot_id):
        raise IkmError(f"{what} needs a login with the user PIN.",
                       "Log in (TUI key `l`; CLI: --login, --pin-file FILE or IKM_PIN) and retry.",
                       "CKR_USER_NOT_LOGGED_IN", 0x101)


def _step(progress: Progress | None, stage: str, text: str) -> None:
    if progress is not None:
        try:
            progress(stage, text)
        except Exception:  # noqa: BLE001 - a broken progress display must not fail a keygen
            pass


def _signer(pair_private: Any, kind: str, choice: HashChoice) -> tuple[csrlib.Signer, str]:
    """A csr.Signer on the token for this key kind and hash, and the X.509 signature algorithm."""
    plan = csrlib.signing_plan(kind, choice.name or None)
    if choice.mechanism == "CKM_RSA_PKCS" and plan.mechanism != "CKM_RSA_PKCS":
        hash_name = choice.name

        def sign_raw(tbs: bytes) -> bytes:
            digest_info = algos.DigestInfo({
                "digest_algorithm": {"algorithm": hash_name, "parameters": core.Null()},
                "digest": hashlib.new(hash_name, tbs).digest(),
            })
            return bytes(pair_private.sign(digest_info.dump(), mechanism=Mechanism.RSA_PKCS))

        return csrlib.token_signer(plan._replace(mechanism="CKM_RSA_PKCS"), sign_raw), plan.sig_alg
    mech = Mechanism[plan.mechanism.removeprefix("CKM_")]

    def sign(data: bytes) -> bytes:
        return bytes(pair_private.sign(data, mechanism=mech))

    return csrlib.token_signer(plan, sign), plan.sig_alg


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
    choice = capabilities(backend, slot_id).choice(key_type)
    if not choice.supported:
        supported = capabilities(backend, slot_id).supported
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


def _kind_of(pub: Any) -> str:
    kt = pub[Attribute.KEY_TYPE]
    return {KeyType.RSA: "rsa", KeyType.EC: "ec", KeyType.EC_EDWARDS: "ed25519"}.get(kt, str(kt))


def requests_dir(serial: str) -> Path:
    """Where requests go for a token that refuses data objects: XDG_DATA_HOME/ikm-tui/requests/<serial>/."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "ikm-tui" / "requests" / quote(serial, safe="")


def _request_file(backend: Backend, slot_id: int, label: str) -> Path:
    # One folder per token, not per serial (core/ops/request_files.py says why).
    return request_files.file_for(backend.token_info(slot_id), label)


def _token_requests(sess: Any, label: str | None = None) -> list[Any]:
    template: dict[Attribute, Any] = {Attribute.CLASS: ObjectClass.DATA, Attribute.APPLICATION: REQUEST_APPLICATION}
    if label is not None:
        template[Attribute.LABEL] = label
    return list(sess.get_objects(template))


# Errors that mean "this token will not keep a data object like that" (so a file is the honest
# fallback), as opposed to a session or device failure that must stop the operation.
_REFUSED_DATA_OBJECT = (p11x.TemplateInconsistent, p11x.TemplateIncomplete, p11x.AttributeTypeInvalid,
                        p11x.AttributeValueInvalid, p11x.FunctionNotSupported, p11x.DeviceMemory,
                        p11x.AttributeReadOnly, p11x.FunctionFailed, p11x.GeneralError)


def _write_token_request(sess: Any, label: str, der: bytes) -> Any:
    return sess.create_object({
        Attribute.CLASS: ObjectClass.DATA,
        # Without TOKEN=True python-pkcs11 makes a session object that vanishes on close.
        Attribute.TOKEN: True,
        # A request holds nothing secret, and other tools (and a not-logged-in listing) should see it.
        Attribute.PRIVATE: False,
        Attribute.APPLICATION: REQUEST_APPLICATION,
        Attribute.LABEL: label,
        Attribute.VALUE: der,
    })


def _store(backend: Backend, slot_id: int, label: str, der: bytes,
           store: str) -> tuple[str, str | None, list[str], Callable[[], None]]:
    """Save a request; returns (where, path, warnings, undo)."""
    warnings: list[str] = []
    if store in ("auto", "token"):
        try:
            obj = _write_token_request(backend.session(slot_id), label, der)
            return "token", None, warnings, obj.destroy
        except _REFUSED_DATA_OBJECT as exc:
            if store == "token":
                raise
            err = from_exception(exc)
            warnings.append(f"The token refused to store the request as a data object ({err.ckr_name or err.cause}); "
                            "it was saved in a file instead and will not travel with the token.")
    path = _request_file(backend, slot_id, label)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_pem(der, "CERTIFICATE REQUEST"), encoding="ascii")
    if store == "file":
        warnings.append(f"The request was saved in {path}, not on the token.")
    return "file", str(path), warnings, lambda: path.unlink(missing_ok=True)


def _remove_stored(backend: Backend, slot_id: int, label: str) -> int:
    """Delete every stored copy of the request for `label`; returns how many went."""
    n = 0
    for obj in _token_requests(backend.session(slot_id), label):
        obj.destroy()
        n += 1
    path = _request_file(backend, slot_id, label)
    if path.exists():
        path.unlink()
        n += 1
    return n


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
    timings: dict[str, float] = {}
    spec = _spec(spec)
    _step(progress, "check", "Checking the token and the request")
    _need_login(backend, slot_id, "Creating a key pair")
    choice = _check_choice(backend, slot_id, spec)
    hash_choice = _pick_hash(choice, hash)
    name = _subject(subject)
    _check_inputs(spec, name, sans, key_usage, eku)
    sess = backend.session(slot_id)
    if _token_requests(sess, label) or _request_file(backend, slot_id, label).exists():
        raise IkmError(f"A pending request labelled {label!r} already exists.",
                       "Choose another label, or `ikm-tui certreq delete` the old request first.")

    _step(progress, "keygen", f"Generating {spec} on the token")
    t0 = time.monotonic()
    pair = generate_protected_pair(backend, slot_id, spec, label, key_id, KeyPurpose.from_key_usage(key_usage))
    timings["keygen"] = (time.monotonic() - t0) * 1000.0
    undo_store: Callable[[], None] | None = None
    try:
        _step(progress, "sign", f"Signing the request on the token ({hash_choice.mechanism})")
        t0 = time.monotonic()
        signer, sig_alg = _signer(pair.private, spec.kind, hash_choice)
        try:
            der = csrlib.build_csr(subject=name, spki_der=pair.info.spki, sign=signer, sig_alg=sig_alg,
                                   sans=list(sans), key_usage=list(key_usage), eku=list(eku))
        except ValueError as exc:
            raise IkmError(f"The request did not verify: {exc}.",
                           "The key pair was deleted. Report this with the trace (`--trace FILE`).") from None
        timings["sign"] = (time.monotonic() - t0) * 1000.0
        _step(progress, "verify", "Verifying the request")
        _verify_matches(der, pair.info.spki)
        _step(progress, "store", "Saving the request")
        t0 = time.monotonic()
        where, path, warnings, undo_store = _store(backend, slot_id, label, der, store)
        timings["store"] = (time.monotonic() - t0) * 1000.0
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
                         tuple(warnings), timings)


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
    timings: dict[str, float] = {}
    spec = _spec(spec)
    _step(progress, "check", "Checking the token and the certificate")
    _need_login(backend, slot_id, "Creating a key pair")
    choice = _check_choice(backend, slot_id, spec)
    hash_choice = _pick_hash(choice, hash)
    name = _subject(subject)
    _check_inputs(spec, name, sans, key_usage, eku)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise IkmError(f"--days must be a whole number of at least 1, not {days!r}.", "Give e.g. --days 365.")
    _step(progress, "keygen", f"Generating {spec} on the token")
    t0 = time.monotonic()
    pair = generate_protected_pair(backend, slot_id, spec, label, key_id, KeyPurpose.from_key_usage(key_usage))
    timings["keygen"] = (time.monotonic() - t0) * 1000.0
    cert_obj: Any = None
    try:
        _step(progress, "sign", f"Signing the certificate on the token ({hash_choice.mechanism})")
        t0 = time.monotonic()
        signer, sig_alg = _signer(pair.private, spec.kind, hash_choice)
        try:
            der = csrlib.build_self_signed(subject=name, spki_der=pair.info.spki, sign=signer, sig_alg=sig_alg,
                                           days=days, sans=list(sans), key_usage=list(key_usage),
                                           eku=list(eku), is_ca=is_ca)
        except ValueError as exc:
            raise IkmError(f"The certificate could not be made: {exc}.", "The key pair was deleted.") from None
        timings["sign"] = (time.monotonic() - t0) * 1000.0
        _step(progress, "store", "Writing the certificate to the token")
        t0 = time.monotonic()
        template = certificate_template(der, label, pair.info.key_id, CATEGORY_TOKEN_USER)
        cert_obj = backend.session(slot_id).create_object(template)
        timings["store"] = (time.monotonic() - t0) * 1000.0
    except BaseException as exc:
        if cert_obj is not None:
            try:
                cert_obj.destroy()
            except p11x.PKCS11Error:
                pass
        pair.destroy()
        if not isinstance(exc, Exception):
            raise
        raise from_exception(exc, "Creating the self-signed certificate") from None
    _step(progress, "done", "Certificate created")
    return SelfSignedResult(label, pair.info.key_id, str(spec), hash_choice.name or None, der, timings)


# ---- pending requests --------------------------------------------------------------------------

_KU_NAMES = {"digital_signature": "digitalSignature", "content_commitment": "nonRepudiation",
             "key_encipherment": "keyEncipherment", "data_encipherment": "dataEncipherment",
             "key_agreement": "keyAgreement", "key_cert_sign": "keyCertSign", "crl_sign": "cRLSign",
             "encipher_only": "encipherOnly", "decipher_only": "decipherOnly"}
_EKU_NAMES = {"1.3.6.1.5.5.7.3.1": "serverAuth", "1.3.6.1.5.5.7.3.2": "clientAuth",
              "1.3.6.1.5.5.7.3.3": "codeSigning", "1.3.6.1.5.5.7.3.4": "emailProtection",
              "1.3.6.1.5.5.7.3.8": "timeStamping", "1.3.6.1.5.5.7.3.9": "OCSPSigning",
              "2.5.29.37.0": "anyExtendedKeyUsage"}


def _san_text(gn: Any) -> str:
    if isinstance(gn, cx509.DNSName):
        return f"DNS:{gn.value}"
    if isinstance(gn, cx509.IPAddress):
        return f"IP:{gn.value}"
    if isinstance(gn, cx509.RFC822Name):
        return f"email:{gn.value}"
    if isinstance(gn, cx509.UniformResourceIdentifier):
        return f"URI:{gn.value}"
    return type(gn).__name__


def _key_identity(pub: Any) -> tuple[str, bytes]:
    """("rsa:2048"/"ec:p256"/"ed25519", public value: modulus or raw point) of a cryptography key."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(pub, rsa.RSAPublicKey):
        n = pub.public_numbers().n
        return f"rsa:{pub.key_size}", n.to_bytes((n.bit_length() + 7) // 8, "big")
    if isinstance(pub, ec.EllipticCurvePublicKey):
        curve = {"secp256r1": "p256", "secp384r1": "p384", "secp521r1": "p521"}.get(pub.curve.name, pub.curve.name)
        return f"ec:{curve}", pub.public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return "ed25519", pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return type(pub).__name__, b""


def parse_request(label: str, der: bytes, where: str, path: str | None = None) -> PendingRequest:
    """A PendingRequest from stored DER; a request that does not parse comes back with `error`."""
    try:
        req = cx509.load_der_x509_csr(der)
        info = asn1_csr.CertificationRequest.load(der)["certification_request_info"]
        subject = format_dn(info["subject"])
        sans: tuple[str, ...] = ()
        ku: tuple[str, ...] = ()
        eku: tuple[str, ...] = ()
        for ext in req.extensions:
            if isinstance(ext.value, cx509.SubjectAlternativeName):
                sans = tuple(_san_text(g) for g in ext.value)
            elif isinstance(ext.value, cx509.KeyUsage):
                v = ext.value
                # cryptography raises on encipher_only/decipher_only unless keyAgreement is set.
                ku = tuple(name for attr, name in _KU_NAMES.items()
                           if (v.key_agreement or attr not in ("encipher_only", "decipher_only"))
                           and getattr(v, attr))
            elif isinstance(ext.value, cx509.ExtendedKeyUsage):
                eku = tuple(_EKU_NAMES.get(o.dotted_string, o.dotted_string) for o in ext.value)
        key_type, public_value = _key_identity(req.public_key())
        sig = asn1_csr.CertificationRequest.load(der)["signature_algorithm"]["algorithm"].native
        return PendingRequest(label, der, where, path, subject, sans, ku, eku, key_type, str(sig),
                              bool(req.is_signature_valid),
                              hashlib.sha1(public_value).digest() if public_value else b"")  # noqa: S324
    except Exception as exc:  # noqa: BLE001 - a damaged request is listed, not fatal
        return PendingRequest(label, der, where, path, error=f"unparsed ({exc})")


def _with_key(listing: Listing, req: PendingRequest) -> PendingRequest:
    """Fill key_id/has_key from the listing: the public key with this label and the same key."""
    if req.error:
        return req
    from dataclasses import replace

    ident = public_key_identity(cx509.load_der_x509_csr(req.der).public_key())[3]
    key_id = next((o.id for o in listing.objects
                   if o.cls is ObjClass.PUBLIC_KEY and o.label == req.label and o.public_key_id == ident),
                  req.key_id)
    # Private keys are invisible before login: then "unknown", not "missing".
    has_key = (any(o.cls is ObjClass.PRIVATE_KEY and o.id == key_id for o in listing.objects)
               if listing.logged_in else None)
    return replace(req, key_id=key_id, has_key=has_key)


def requests_in_listing(listing: Listing) -> tuple[PendingRequest, ...]:
    """Pending requests of a listed token, with no further token calls: its request data objects
    (the listing already read their values), then files kept for it, by label."""
    out = [parse_request(o.label, o.value or b"", "token") for o in listing.objects
           if o.cls is ObjClass.DATA and o.application == REQUEST_APPLICATION]
    folder = request_files.folder_for(listing.token)
    shared = not request_files.unique_folder(listing.token)
    if folder.is_dir():
        for path in sorted(folder.glob("*.csr.pem")):
            label = unquote(path.name.removesuffix(".csr.pem"))
            try:
                der = cx509.load_pem_x509_csr(path.read_bytes()).public_bytes(serialization.Encoding.DER)
            except (ValueError, OSError) as exc:
                if not shared:
                    out.append(PendingRequest(label, b"", "file", str(path), error=f"unreadable ({exc})"))
                continue
            if shared and not request_files.key_on_token(
                    listing, public_key_identity(cx509.load_der_x509_csr(der).public_key())[3]):
                continue  # a token with the same label elsewhere: its request, not ours
            out.append(parse_request(label, der, "file", str(path)))
    out = [_with_key(listing, r) for r in out]
    out.sort(key=lambda r: (r.label, r.where))
    return tuple(out)


def list_requests(backend: Backend, slot_id: int) -> tuple[PendingRequest, ...]:
    """Pending requests of this token (one listing; see requests_in_listing)."""
    return requests_in_listing(backend.list_objects(slot_id))


def request_details(backend: Backend, slot_id: int, label: str) -> PendingRequest:
    """The pending request stored under `label` (IkmError if none)."""
    for req in list_requests(backend, slot_id):
        if req.label == label:
            return req
    raise IkmError(f"No pending request labelled {label!r} on this token.",
                   "`ikm-tui certreq list` shows the pending requests.")


def extract(backend: Backend, slot_id: int, label: str) -> str:
    """The PEM text of the pending request `label`."""
    return request_details(backend, slot_id, label).pem


def delete(backend: Backend, slot_id: int, label: str, *, with_key: bool = False) -> tuple[str, ...]:
    """Delete the pending request (and, with `with_key`, its key pair); returns what was deleted.

    The key pair is only deleted when no certificate shares its CKA_ID: a received certificate
    would be left without its key.
    """
    req = request_details(backend, slot_id, label)
    done: list[str] = []
    if with_key:
        _need_login(backend, slot_id, "Deleting a key pair")
        sess = backend.session(slot_id)
        keys = [o for o in find_keys(sess, key_id=req.key_id)]
        certs = [o for o in keys if o.object_class == ObjectClass.CERTIFICATE]
        if certs:
            raise IkmError(f"A certificate shares the key of request {label!r} (ID {req.key_id.hex()}).",
                           "Delete only the request (leave out --with-key); the key belongs to that certificate.")
        for obj in keys:
            obj.destroy()
            done.append("private key" if obj.object_class == ObjectClass.PRIVATE_KEY else "public key")
    n = _remove_stored(backend, slot_id, label)
    done.insert(0, "request" if n == 1 else f"{n} copies of the request")
    return tuple(done)


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
    _need_login(backend, slot_id, "Signing a request")
    sess = backend.session(slot_id)
    _step(progress, "check", "Finding the key")
    publics = list(sess.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: label}))
    if not publics:
        raise IkmError(f"No public-key object labelled {label!r} on the token.",
                       "A request needs the key's public half; keys without one (or with another label) "
                       "cannot be re-requested here.")
    pub = publics[0]
    key_id = bytes(pub[Attribute.ID])
    privs = list(sess.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: key_id}))
    if len(publics) != 1 or len(privs) != 1:
        raise IkmError(f"Label {label!r} does not name exactly one key pair "
                       f"({len(publics)} public, {len(privs)} private with ID {key_id.hex()}).",
                       "Give the keys unique labels and IDs first (`ikm-tui list --login`).")
    old: PendingRequest | None = None
    try:
        old = request_details(backend, slot_id, label)
    except IkmError:
        old = None
    if subject is None:
        if old is None or old.error:
            raise IkmError(f"No pending request for {label!r} to take the subject from.", "Give --subject DN.")
        subject = old.subject
    sans = list(sans) if sans is not None else list(old.sans if old else ())
    key_usage = list(key_usage) if key_usage is not None else list(old.key_usage if old else ())
    eku = list(eku) if eku is not None else list(old.eku if old else ())
    spki, _ = public_info(pub)
    kind = _kind_of(pub)
    key_type, _ = _key_identity(serialization.load_der_public_key(spki))
    choice = capabilities(backend, slot_id).choice(key_type) if key_type in KEY_TYPES else None
    if choice is None:
        raise IkmError(f"ikm-tui cannot sign requests with a {key_type} key.", f"Supported: {', '.join(KEY_TYPES)}.")
    if hash is None and old is not None and not old.error and kind != "ed25519":
        hash = old.signature_algorithm.split("_")[0] if old.signature_algorithm.split("_")[0] in HASHES else None
    hash_choice = _pick_hash(choice, hash)
    name = _subject(subject)
    _check_inputs(KeySpec.parse(key_type), name, sans, key_usage, eku)
    _step(progress, "sign", f"Signing the request on the token ({hash_choice.mechanism})")
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    signer, sig_alg = _signer(privs[0], kind, hash_choice)
    try:
        der = csrlib.build_csr(subject=name, spki_der=spki, sign=signer, sig_alg=sig_alg, sans=sans,
                               key_usage=key_usage, eku=eku)
    except ValueError as exc:
        raise IkmError(f"The request did not verify: {exc}.", "Nothing was changed on the token.") from None
    timings["sign"] = (time.monotonic() - t0) * 1000.0
    _step(progress, "verify", "Verifying the request")
    _verify_matches(der, spki)
    _step(progress, "store", "Replacing the pending request")
    # Store the new copy first and only then drop the old ones: a failure leaves the old request.
    old_objects = _token_requests(sess, label)
    old_file = _request_file(backend, slot_id, label)
    where, path, warnings, _undo = _store(backend, slot_id, label, der, store)
    for obj in old_objects:
        obj.destroy()
    if where == "token" and old_file.exists():
        old_file.unlink()
    _step(progress, "done", "Request created")
    return RequestResult(label, key_id, key_type, hash_choice.name or None, der, where, path, tuple(warnings), timings)

