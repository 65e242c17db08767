"""What Java SunPKCS11, NSS and the OpenSSL engine will make of the keys and certificates of a listing.

These clients pair a certificate with its key by CKA_ID, never by public key, so a pair that is
cryptographically right can still be invisible to them. Rules, each measured on SoftHSM2 with
`keytool -list` (OpenJDK 17), `certutil -L -h all` (NSS 3.87) and libp11 0.4.12 (see
tests/interop/test_pairing_matrix.py, which checks every prediction against the tools):

- Java: a certificate is a PrivateKeyEntry when a private key has the same *non-empty* CKA_ID;
  one entry per key ID (with several such certs Java picks one). The alias is the certificate's
  label, or `label/issuer/serial` when another certificate carries the same label. A certificate
  without a key is a TrustedCertEntry only with CKA_TRUSTED; otherwise Java does not list it.
- NSS: nickname `token:label` (`(NULL)` without a label); flags `u,u,u` when a private key with the
  same non-empty CKA_ID exists; before login, when a *public-key object* with that CKA_ID exists.
- Java, tpm2-pkcs11: a certificate written without an ID (`pkcs11-tool --write-object` without
  --id) has no CKA_ID attribute at all; SunPKCS11's keystore load reads CKA_ID of every certificate,
  gets CKR_ATTRIBUTE_TYPE_INVALID and fails ("load failed"): keytool lists nothing on that token.
- OpenSSL engine: finds a private key by URI; the key's own label (cert labels do not count) or,
  failing a unique label, its CKA_ID. Any Ed25519 private key makes it fail to enumerate keys.

No pkcs11 import: this works on the model objects of a listing only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ikm_tui.core.model import Listing, ObjClass, ObjectInfo
from ikm_tui.core.uri import object_uri

PRIVATE_KEY_ENTRY = "PrivateKeyEntry"
TRUSTED_CERT_ENTRY = "TrustedCertEntry"
USER_FLAGS = "u,u,u"
NO_FLAGS = ",,"


@dataclass(frozen=True)
class JavaView:
    """`keytool -list` on SunPKCS11: entry is PrivateKeyEntry / TrustedCertEntry / '' (not listed)."""

    entry: str
    alias: str | None
    why: str
    known: bool = True  # False before login: Java logs in first and sees keys we cannot
    exact: bool = True  # False: Java picks one of several certs of this key ID, which one is not known


@dataclass(frozen=True)
class NssView:
    """`certutil -L -h all`: the nickname and trust flags of a certificate."""

    nickname: str
    flags: str  # "u,u,u" or ",,"
    why: str


@dataclass(frozen=True)
class EngineView:
    """The OpenSSL pkcs11 engine: the URI that selects the private key, if one does."""

    finds: bool
    key_uri: str | None
    why: str


@dataclass(frozen=True)
class SeenBy:
    """Three verdicts for one certificate or private key, and whether they agree with the public key."""

    java: JavaView
    nss: NssView | None  # certificates, and keys through their certificate
    openssl: EngineView | None
    crypto: str  # how the public key pairs it: "modulus" | "public key" | "same CKA_ID only" | "none"
    crypto_partner: int | None  # handle of the cert/key that holds the same public key
    tools_partner: int | None  # handle of the cert/key the tools pair it with (by CKA_ID)

    @property
    def agree(self) -> bool:
        """Do the tools pair it with what the public key says (or both with nothing)?"""
        return self.crypto_partner == self.tools_partner

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "java": {"entry": self.java.entry or None, "alias": self.java.alias, "known": self.java.known,
                     "exact": self.java.exact, "why": self.java.why},
            "crypto": self.crypto, "agree": self.agree,
        }
        # Present as null when that client has no view of the object (the --json contract).
        out["nss"] = None if self.nss is None else {"nickname": self.nss.nickname, "flags": self.nss.flags,
                                                    "why": self.nss.why}
        out["openssl"] = None if self.openssl is None else {"finds": self.openssl.finds,
                                                            "key_uri": self.openssl.key_uri, "why": self.openssl.why}
        return out


def tool_markers(objects: Sequence[ObjectInfo], keys_visible: bool) -> dict[int, str]:
    """runmqakm markers as the tools see the pairs: '-' personal, '!' signer, '#' secret key.

    Before login (keys not visible) a certificate counts as personal when a public-key object has
    its CKA_ID: that is how NSS decides then, and the private key is there behind the PIN.
    """
    priv_ids = {o.id for o in objects if o.cls is ObjClass.PRIVATE_KEY and o.id}
    pub_ids = {o.id for o in objects if o.cls is ObjClass.PUBLIC_KEY and o.id}
    cert_ids = {o.id for o in objects if o.cls is ObjClass.CERTIFICATE and o.id}
    key_ids = priv_ids if keys_visible else priv_ids | pub_ids
    out: dict[int, str] = {}
    for o in objects:
        if o.cls is ObjClass.CERTIFICATE:
            out[o.handle] = "-" if o.id and o.id in key_ids else "!"
        elif o.cls is ObjClass.SECRET_KEY:
            out[o.handle] = "#"
        elif o.cls is ObjClass.PRIVATE_KEY:
            out[o.handle] = "-" if o.id and o.id in cert_ids else ""
        else:
            out[o.handle] = ""
    return out


def _java_alias(cert: ObjectInfo, label_count: Counter[str]) -> str:
    if label_count[cert.label] <= 1:
        return cert.label
    # SunPKCS11 disambiguates shared labels with the issuer (canonical form) and decimal serial.
    issuer = cert.cert.issuer.lower() if cert.cert else ""
    serial = cert.cert.serial if cert.cert else ""
    try:
        serial = str(int(serial, 16))
    except ValueError:
        pass
    return f"{cert.label}/{issuer}/{serial}"


class _Index:
    """The maps every verdict needs, built once per listing."""

    def __init__(self, listing: Listing) -> None:
        objs = listing.objects
        self.listing = listing
        self.keys_visible = listing.logged_in or not listing.token.login_required
        self.privs_by_id: dict[bytes, list[ObjectInfo]] = defaultdict(list)
        self.pubs_by_id: dict[bytes, list[ObjectInfo]] = defaultdict(list)
        self.certs_by_id: dict[bytes, list[ObjectInfo]] = defaultdict(list)
        for o in objs:
            target = {ObjClass.PRIVATE_KEY: self.privs_by_id, ObjClass.PUBLIC_KEY: self.pubs_by_id,
                      ObjClass.CERTIFICATE: self.certs_by_id}.get(o.cls)
            if target is not None and o.id:
                target[o.id].append(o)
        self.cert_labels = Counter(o.label for o in objs if o.cls is ObjClass.CERTIFICATE)
        self.priv_labels = Counter(o.label for o in objs if o.cls is ObjClass.PRIVATE_KEY)
        self.priv_ids = Counter(o.id for o in objs if o.cls is ObjClass.PRIVATE_KEY)
        self.java_fails = any(o.cls is ObjClass.CERTIFICATE and o.id_absent for o in objs)
        self.ed25519 = any(o.cls is ObjClass.PRIVATE_KEY and o.key_type in ("ed25519", "ed448") for o in objs)


_JAVA_LOAD_FAILS = JavaView("", None, "a certificate on this token has no CKA_ID attribute at all: Java's "
                            "keystore load fails (CKR_ATTRIBUTE_TYPE_INVALID) and lists nothing; give it an ID")


def _java_for_cert(ix: _Index, cert: ObjectInfo) -> JavaView:
    if ix.java_fails:
        return _JAVA_LOAD_FAILS
    keys = ix.privs_by_id.get(cert.id, []) if cert.id else []
    siblings = ix.certs_by_id.get(cert.id, []) if cert.id else []
    alias = _java_alias(cert, ix.cert_labels)
    if keys:
        exact = len(siblings) <= 1
        why = f"private key with the same CKA_ID {cert.id.hex()}"
        if not exact:
            why += f"; {len(siblings)} certificates share that CKA_ID and Java lists only one of them"
        return JavaView(PRIVATE_KEY_ENTRY, alias, why, exact=exact)
    if cert.trusted:
        return JavaView(TRUSTED_CERT_ENTRY, alias, "no private key, but CKA_TRUSTED is set")
    if not ix.keys_visible:
        if cert.id and ix.pubs_by_id.get(cert.id):
            return JavaView(PRIVATE_KEY_ENTRY, alias, "a public-key object has its CKA_ID; the private key "
                            "is hidden until login", known=False)
        return JavaView("", None, "private keys are hidden until login", known=False)
    if not cert.id:
        return JavaView("", None, "empty CKA_ID: Java pairs by CKA_ID only and drops it")
    return JavaView("", None, f"no private key has CKA_ID {cert.id.hex()} and it is not trusted "
                    "(CKA_TRUSTED): not listed")


def _nss_for_cert(ix: _Index, cert: ObjectInfo) -> NssView:
    nick = f"{ix.listing.token.label}:{cert.label}" if cert.label else "(NULL)"
    if not cert.id:
        return NssView(nick, NO_FLAGS, "empty CKA_ID: NSS finds no key for it")
    if ix.keys_visible:
        if ix.privs_by_id.get(cert.id):
            return NssView(nick, USER_FLAGS, "private key with the same CKA_ID")
        return NssView(nick, NO_FLAGS, f"no private key with CKA_ID {cert.id.hex()}")
    if ix.pubs_by_id.get(cert.id):
        return NssView(nick, USER_FLAGS, "before login NSS uses the public-key object with the same CKA_ID")
    return NssView(nick, NO_FLAGS, "before login NSS looks for a public-key object with the same CKA_ID; "
                   "there is none")


def _engine_for_key(ix: _Index, key: ObjectInfo | None) -> EngineView:
    if key is None:
        if not ix.keys_visible:
            return EngineView(False, None, "private keys are hidden until login")
        return EngineView(False, None, "no private key for it on this token")
    if ix.ed25519:
        return EngineView(False, None, "an Ed25519 private key on the token makes libp11 fail to list keys")
    t = ix.listing.token
    if key.label and ix.priv_labels[key.label] == 1:
        return EngineView(True, object_uri(t.label, "", "private_key", key.label, b""),
                          "the private key's label is unique")
    if key.id and ix.priv_ids[key.id] == 1:
        why = "no unique label on the private key; its CKA_ID selects it"
        return EngineView(True, object_uri(t.label, "", "private_key", "", key.id), why)
    return EngineView(False, None, "neither the private key's label nor its CKA_ID is unique (or set)")


def _crypto(listing: Listing, cert: ObjectInfo, keys_visible: bool = True) -> tuple[str, int | None]:
    p = listing.pairing
    key = p.cert_to_key.get(cert.handle)
    if key is not None:
        if cert.handle in p.by_id_only:
            return "same CKA_ID only", key
        k = listing.by_handle(key)
        return ("modulus" if k is not None and k.public_key_id else "public key"), key
    pub = None if keys_visible else p.cert_to_public.get(cert.handle)
    if pub is not None:
        return "public key", pub
    return "none", None


def _for_cert(ix: _Index, cert: ObjectInfo) -> SeenBy:
    listing = ix.listing
    crypto, partner = _crypto(listing, cert, ix.keys_visible)
    same_id = ix.privs_by_id.get(cert.id, []) if cert.id else []
    if not same_id and not ix.keys_visible and cert.id:
        same_id = ix.pubs_by_id.get(cert.id, [])
    tools_partner = same_id[0].handle if same_id else None
    if partner is not None and any(o.handle == partner for o in same_id):
        tools_partner = partner
    key = listing.by_handle(partner) if partner is not None else None
    if key is not None and key.cls is not ObjClass.PRIVATE_KEY:
        key = None
    return SeenBy(_java_for_cert(ix, cert), _nss_for_cert(ix, cert), _engine_for_key(ix, key), crypto,
                  partner, tools_partner)


def _for_key(ix: _Index, key: ObjectInfo, by_cert: dict[int, SeenBy]) -> SeenBy:
    listing = ix.listing
    certs = ix.certs_by_id.get(key.id, []) if key.id else []
    crypto_certs = listing.pairing.key_to_cert.get(key.handle, [])
    partner = crypto_certs[0] if crypto_certs else None
    tools_partner = certs[0].handle if certs else None
    if partner is not None and any(c.handle == partner for c in certs):
        tools_partner = partner
    if tools_partner is not None:
        cv = by_cert[tools_partner]
        java, nss = cv.java, cv.nss
    elif ix.java_fails:
        java, nss = _JAVA_LOAD_FAILS, None
    elif not key.id:
        java, nss = JavaView("", None, "empty CKA_ID: Java drops a key without a certificate of its ID"), None
    else:
        java = JavaView("", None, f"no certificate has CKA_ID {key.id.hex()}: Java drops the key")
        nss = None
    crypto = "none"
    if partner is not None:
        crypto = _crypto(listing, listing.by_handle(partner))[0]  # type: ignore[arg-type]
    return SeenBy(java, nss, _engine_for_key(ix, key), crypto, partner, tools_partner)


def seen_by(listing: Listing) -> dict[int, SeenBy]:
    """Verdicts for every certificate and private key of the listing, by handle (cached on it)."""
    cached = listing.__dict__.get("_seen_by")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    ix = _Index(listing)
    out: dict[int, SeenBy] = {}
    for o in listing.objects:
        if o.cls is ObjClass.CERTIFICATE:
            out[o.handle] = _for_cert(ix, o)
    for o in listing.objects:
        if o.cls is ObjClass.PRIVATE_KEY:
            out[o.handle] = _for_key(ix, o, out)
    object.__setattr__(listing, "_seen_by", out)  # the listing is frozen; this is a derived index
    return out


def seen_by_lines(listing: Listing, obj: ObjectInfo, views: dict[int, SeenBy] | None = None) -> list[str]:
    """The three verdicts in words, for the details pane and `list`."""
    v = (views if views is not None else seen_by(listing)).get(obj.handle)
    if v is None:
        return []
    j = v.java
    # The reason is shown when a tool does not see the pair; a plain "seen" needs none.
    if j.entry:
        java = f"Java: {j.entry} {j.alias!r}" + ("" if j.exact else f" (or another cert: {j.why})")
        java += "" if j.known else " after login"
    else:
        java = f"Java: not listed ({j.why})"
    lines = [java]
    if v.nss is not None:
        nss = f"NSS: {v.nss.nickname!r} {v.nss.flags}"
        lines.append(nss if v.nss.flags == USER_FLAGS else f"{nss} ({v.nss.why})")
    if v.openssl is not None:
        e = v.openssl
        lines.append(f"OpenSSL engine: {e.key_uri}" if e.finds else f"OpenSSL engine: no key ({e.why})")
    if not v.agree and (why := _disagreement(listing, v)):
        lines.append(why)
    return lines


def _disagreement(listing: Listing, v: SeenBy) -> str:
    crypto = listing.by_handle(v.crypto_partner) if v.crypto_partner is not None else None
    tools = listing.by_handle(v.tools_partner) if v.tools_partner is not None else None
    if crypto is not None and tools is None:
        return (f"TOOLS DIFFER: its public key matches {crypto.cls.value.replace('_', ' ')} {crypto.label!r} "
                f"(id {crypto.id.hex() or 'empty'}), but Java and NSS pair by CKA_ID and do not see the pair; "
                "`ikm-tui cert doctor` plans the repair")
    if crypto is None and tools is not None:
        return (f"TOOLS DIFFER: Java and NSS pair it by CKA_ID with {tools.cls.value.replace('_', ' ')} "
                f"{tools.label!r}, whose public key is not its own")
    if crypto is not None and tools is not None:
        return (f"TOOLS DIFFER: its public key matches {crypto.label!r} (id {crypto.id.hex() or 'empty'}), "
                f"but Java and NSS pair it with {tools.label!r} (same CKA_ID)")
    return ""
