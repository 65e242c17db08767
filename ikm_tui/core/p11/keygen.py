"""Key pairs generated on the token with their protection read back and checked; owner thread only."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pkcs11.exceptions as p11x
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, Object, ObjectClass, Session
from pkcs11.constants import DEFAULT
from pkcs11.util.ec import encode_named_curve_parameters

from ikm_tui.core.p11.attributes import unwrap_ec_point
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.x509.spki import spki_from_token_attrs
from ikm_tui.core.errors import IkmError, from_exception
from ikm_tui.core.p11.keyspec import CURVE_OIDS, ED25519_OID, KeySpec, key_id_for

_OP = "Generating the key pair"


@dataclass(frozen=True)
class KeyPurpose:
    """Which private-key operations the pair may do, derived from the requested key usage."""

    decrypt: bool = False
    unwrap: bool = False
    derive: bool = False

    @classmethod
    def from_key_usage(cls, key_usage: Iterable[str]) -> KeyPurpose:
        """keyEncipherment -> decrypt+unwrap, dataEncipherment -> decrypt, keyAgreement -> derive."""
        names = {u.strip().lower().replace("_", "").replace("-", "") for u in key_usage}
        return cls(
            decrypt=bool(names & {"keyencipherment", "dataencipherment"}),
            unwrap="keyencipherment" in names,
            derive="keyagreement" in names,
        )


@dataclass(frozen=True)
class GeneratedKey:
    """What the UI and CLI learn about a new pair: plain values, no handles that could go stale."""

    label: str
    key_id: bytes
    key_type: str  # "rsa:2048", "ec:p256", "ed25519"
    spki: bytes  # SubjectPublicKeyInfo DER
    # What the operator should know about how the pair was made (a template the module refused).
    notes: tuple[str, ...] = ()


class KeyPair:
    """The live pair on the owner thread; `destroy()` undoes the generation."""

    def __init__(self, public: Object, private: Object, info: GeneratedKey) -> None:
        self.public = public
        self.private = private
        self.info = info

    def destroy(self) -> list[str]:
        """Delete both halves; returns what could not be deleted (empty when all went)."""
        left: list[str] = []
        for name, obj in (("private key", self.private), ("public key", self.public)):
            try:
                obj.destroy()
            except p11x.PKCS11Error as exc:
                left.append(f"{name} ({type(exc).__name__})")
        return left


def find_keys(sess: Session, *, label: str | None = None, key_id: bytes | None = None) -> list[Object]:
    """Private/public keys and certificates carrying that label or that CKA_ID."""
    found: list[Object] = []
    for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY, ObjectClass.CERTIFICATE):
        template: dict[Attribute, Any] = {Attribute.CLASS: cls}
        if label is not None:
            template[Attribute.LABEL] = label
        if key_id is not None:
            template[Attribute.ID] = key_id
        # list(): an unconsumed search holds the session (CKR_OPERATION_ACTIVE).
        found.extend(list(sess.get_objects(template)))
    return found


def refuse_duplicates(sess: Session, label: str, key_id: bytes | None) -> None:
    """IkmError when a key or certificate already has this label or CKA_ID."""
    refuse_taken(bool(find_keys(sess, label=label)), key_id is not None and bool(find_keys(sess, key_id=key_id)),
                 label, key_id)


def refuse_taken(label_taken: bool, id_taken: bool, label: str, key_id: bytes | None) -> None:
    """The duplicate refusal, for a caller that already knows (from a listing) what is taken."""
    if label_taken:
        raise IkmError(
            f"A key or certificate labelled {label!r} already exists on the token.",
            "Choose another label, or delete the old one first (`ikm-tui list --login` shows them).",
            operation=_OP,
        )
    if id_taken and key_id is not None:
        raise IkmError(
            f"A key or certificate with ID {key_id.hex()} already exists on the token.",
            "Choose another --id, or leave it out to use the SHA-1 of the public key.",
            operation=_OP,
        )


def _templates(purpose: KeyPurpose) -> tuple[MechanismFlag, dict[Attribute, Any], dict[Attribute, Any]]:
    # The key always signs: it must at least sign its own request. Everything else is off unless
    # the key usage asks for it, so a signing key cannot be turned into a decryption oracle.
    caps = MechanismFlag.SIGN | MechanismFlag.VERIFY
    if purpose.decrypt:
        caps |= MechanismFlag.DECRYPT | MechanismFlag.ENCRYPT
    if purpose.unwrap:
        caps |= MechanismFlag.UNWRAP | MechanismFlag.WRAP
    if purpose.derive:
        caps |= MechanismFlag.DERIVE
    private = {Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
               Attribute.EXTRACTABLE: False}
    public = {Attribute.TOKEN: True, Attribute.PRIVATE: False}
    return caps, public, private


def _check_protection(priv: Object, purpose: KeyPurpose, notes: list[str] | None = None) -> list[str]:
    """What the token did not honour, read back from the private key.

    With `notes` (the module chose the usages itself), usages other than signing that differ
    from the request are reported there instead of counting as problems.
    """
    wanted = [Attribute.TOKEN, Attribute.PRIVATE, Attribute.SENSITIVE, Attribute.EXTRACTABLE,
              Attribute.ALWAYS_SENSITIVE, Attribute.NEVER_EXTRACTABLE, Attribute.SIGN,
              Attribute.DECRYPT, Attribute.UNWRAP, Attribute.DERIVE]
    got = priv.get_attributes(wanted)  # drops unreadable attributes; a missing one counts as "not honoured"
    problems = []
    for attr, expected in ((Attribute.TOKEN, True), (Attribute.PRIVATE, True), (Attribute.SENSITIVE, True),
                           (Attribute.EXTRACTABLE, False), (Attribute.ALWAYS_SENSITIVE, True),
                           (Attribute.NEVER_EXTRACTABLE, True), (Attribute.SIGN, True),
                           (Attribute.DECRYPT, purpose.decrypt), (Attribute.UNWRAP, purpose.unwrap),
                           (Attribute.DERIVE, purpose.derive)):
        value = got.get(attr)
        if notes is not None and attr in (Attribute.DECRYPT, Attribute.UNWRAP, Attribute.DERIVE):
            if value is not None and bool(value) != expected:
                notes.append(f"CKA_{attr.name}={bool(value)}")
            continue
        if value is None or bool(value) != expected:
            problems.append(f"CKA_{attr.name}={'unreadable' if value is None else bool(value)} "
                            f"(asked {expected})")
    return problems


# With these the template leaves the usage booleans to the module (python-pkcs11 drops DEFAULT).
_MODULE_USAGE_PUBLIC = {Attribute.ENCRYPT: DEFAULT, Attribute.WRAP: DEFAULT, Attribute.VERIFY: DEFAULT}
_MODULE_USAGE_PRIVATE = {Attribute.DECRYPT: DEFAULT, Attribute.UNWRAP: DEFAULT, Attribute.SIGN: DEFAULT,
                         Attribute.DERIVE: DEFAULT}


def _generate(sess: Session, spec: KeySpec, label: str, temp_id: bytes,
              purpose: KeyPurpose, module_usage: bool = False, store: bool = True) -> tuple[Object, Object]:
    """`module_usage`: leave CKA_SIGN/DECRYPT/... out, for modules that refuse our choice."""
    caps, public, private = _templates(purpose)
    if module_usage:
        public, private = {**public, **_MODULE_USAGE_PUBLIC}, {**private, **_MODULE_USAGE_PRIVATE}
    if not store:
        public, private = {**public, Attribute.TOKEN: False}, {**private, Attribute.TOKEN: False}
    if spec.kind == "rsa":
        return sess.generate_keypair(
            KeyType.RSA, spec.bits, id=temp_id, label=label, store=store, capabilities=caps,
            public_template={**public, Attribute.PUBLIC_EXPONENT: b"\x01\x00\x01"},
            private_template=private)
    if spec.kind == "ec":
        params = encode_named_curve_parameters(CURVE_OIDS[spec.curve or "p256"])
        kt, mech = KeyType.EC, Mechanism.EC_KEY_PAIR_GEN
    elif spec.kind == "ed25519":
        params = encode_named_curve_parameters(ED25519_OID)
        kt, mech = KeyType.EC_EDWARDS, Mechanism.EC_EDWARDS_KEY_PAIR_GEN
    else:
        raise ValueError(f"unsupported key kind {spec.kind!r}")
    return sess.generate_keypair(
        kt, id=temp_id, label=label, store=store, capabilities=caps, mechanism=mech,
        public_template={**public, Attribute.EC_PARAMS: params}, private_template=private)


def public_info(pub: Object) -> tuple[bytes, bytes]:
    """(SubjectPublicKeyInfo DER, public value for the CKA_ID: RSA modulus or raw EC point)."""
    kt = pub[Attribute.KEY_TYPE]
    if kt == KeyType.RSA:
        attrs = pub.get_attributes([Attribute.MODULUS, Attribute.PUBLIC_EXPONENT])
        modulus = bytes(attrs[Attribute.MODULUS])
        return spki_from_token_attrs("rsa", modulus, bytes(attrs[Attribute.PUBLIC_EXPONENT])), modulus
    attrs = pub.get_attributes([Attribute.EC_PARAMS, Attribute.EC_POINT])
    point = bytes(attrs[Attribute.EC_POINT])
    name = "ec" if kt == KeyType.EC else "ed25519"
    spki = spki_from_token_attrs(name, ec_params=bytes(attrs[Attribute.EC_PARAMS]), ec_point=point)
    return spki, unwrap_ec_point(point)


def generate_protected_pair(backend: Backend, slot_id: int, spec: KeySpec, label: str,
                            key_id: bytes | None = None, purpose: KeyPurpose = KeyPurpose()) -> KeyPair:
    """Generate a token-resident, private, sensitive, never-extractable pair and prove it.

    CKA_ID is `key_id`, or SHA-1 of the modulus / EC point. On any failure after the token
    made the pair, the pair is deleted and IkmError raised: the token is left as it was.
    """
    if not label:
        raise IkmError("A key needs a label.", "Give --label NAME.", operation=_OP)
    sess = backend.session(slot_id)
    refuse_duplicates(sess, label, key_id)
    # A random placeholder: the real ID (a hash of the public key) is only known afterwards, and a
    # fixed placeholder could collide with the leftover of an interrupted earlier run.
    temp_id = key_id or b"ikm-tui-pending-" + secrets.token_bytes(8)
    pub, priv, notes = generate_adapting(backend, slot_id, spec, label, temp_id, purpose)
    pair = KeyPair(pub, priv, GeneratedKey(label, temp_id, str(spec), b""))
    try:
        usage: list[str] | None = [] if notes else None
        problems = _check_protection(priv, purpose, usage)
        if usage:
            notes.append("Read back, the key also allows: " + ", ".join(usage) + ".")
        elif notes:
            notes.append("Read back, the key allows what was asked.")
        if problems:
            raise IkmError(
                "The token did not honour the protection ikm-tui asked for: " + ", ".join(problems) + ".",
                "The new key pair was deleted. This token cannot hold keys the way ikm-tui requires; "
                "check its policy or use another token.",
                operation=_OP,
            )
        spki, public_value = public_info(pub)
        final_id = key_id or key_id_for(public_value)
        if key_id is None:
            if find_keys(sess, key_id=final_id):
                raise IkmError(f"A key or certificate with ID {final_id.hex()} already exists on the token.",
                               "That is the same public key; nothing was added.", operation=_OP)
            pub[Attribute.ID] = final_id
            priv[Attribute.ID] = final_id
        pair.info = GeneratedKey(label, final_id, str(spec), spki, tuple(notes))
        return pair
    except BaseException as exc:
        left = pair.destroy()
        if not isinstance(exc, Exception):
            raise
        err = from_exception(exc, _OP)
        if left:
            err = IkmError(err.cause, f"{err.next_step} Could not delete the new {', '.join(left)}: "
                           f"delete label {label!r} by hand.".strip(), err.ckr_name, err.ckr_code, _OP)
        raise err from None


# Codes with which a module refuses a template attribute (tpm2-pkcs11 says CKR_GENERAL_ERROR
# when our usage booleans contradict what the TPM key will allow; see core/p11/quirks.py).
_TEMPLATE_REFUSED = (p11x.AttributeValueInvalid, p11x.TemplateInconsistent, p11x.GeneralError,
                     p11x.AttributeTypeInvalid, p11x.FunctionFailed)


def generate_adapting(backend: Backend, slot_id: int, spec: KeySpec, label: str, temp_id: bytes,
                      purpose: KeyPurpose) -> tuple[Any, Any, list[str]]:
    """(public, private, notes): our template, or once more with the usages left to the module.

    The retry happens only for codes that mean "this template attribute": the key's usage is
    then read back (`_check_protection`) and reported, never assumed.
    """
    sess = backend.session(slot_id)
    try:
        pub, priv = _generate(sess, spec, label, temp_id, purpose)
        return pub, priv, []
    except _TEMPLATE_REFUSED as exc:
        first = from_exception(exc, _OP)
    except p11x.PKCS11Error as exc:
        raise _keygen_error(backend, slot_id, spec, from_exception(exc, _OP), None) from None
    try:
        pub, priv = _generate(sess, spec, label, temp_id, purpose, module_usage=True)
    except p11x.PKCS11Error as exc:
        raise _keygen_error(backend, slot_id, spec, from_exception(exc, _OP), first) from None
    note = (f"The token refused the usage attributes ikm-tui asked for (CKA_SIGN/CKA_DECRYPT/"
            f"CKA_UNWRAP/CKA_DERIVE, {first.ckr_name}); the key was made with the usages the token "
            "chose, read back below.")
    return pub, priv, [note]


def _keygen_error(backend: Backend, slot_id: int, spec: KeySpec, err: IkmError,
                  first: IkmError | None) -> IkmError:
    """The error to show: the curve only when the token's mechanism info (or a P-256 key with the
    same template) shows the curve is the cause; otherwise the CKR code(s) the module gave."""
    tried = f" (first {first.ckr_name} with ikm-tui's usage template, then {err.ckr_name} with the " \
            "token's own)" if first is not None else ""
    if spec.kind == "ec" and _curve_unsupported(backend, slot_id, spec):
        return IkmError(f"The token could not generate a key on curve {spec.curve} ({err.cause.rstrip('.')}){tried}.",
                        "The token does not support this curve: pick one it lists (its Mechanisms tab, "
                        "or `ikm-tui certreq capabilities`); ec:p256 is the most widely supported.",
                        err.ckr_name, err.ckr_code, _OP)
    return IkmError(f"The token refused to generate the {spec} key pair: {err.cause.rstrip('.')}{tried}.",
                    err.next_step + " `--trace FILE` shows the template sent with C_GenerateKeyPair.",
                    err.ckr_name, err.ckr_code, _OP)


def _curve_unsupported(backend: Backend, slot_id: int, spec: KeySpec) -> bool:
    mechs = {m.code: m for m in backend.mechanisms(slot_id)}
    gen = mechs.get(int(Mechanism.EC_KEY_PAIR_GEN))
    if gen is None:
        return False  # no EC key generation at all: the curve is not the point
    if gen.max_key and spec.bits is not None and not (gen.min_key <= spec.bits <= gen.max_key):
        return True
    if spec.curve == "p256":
        return False
    # The mechanism info names no curves: a session-only P-256 pair with the same template tells
    # whether it is the curve (it is destroyed at once; it never reaches the token's storage).
    try:
        pub, priv = _generate(backend.session(slot_id), KeySpec("ec", 256, "p256"), "ikm-tui-probe",
                              b"ikm-tui-probe", KeyPurpose(), module_usage=True, store=False)
    except p11x.PKCS11Error:
        return False
    for obj in (priv, pub):
        try:
            obj.destroy()
        except p11x.PKCS11Error:
            pass
    return True
