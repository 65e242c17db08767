"""A generated corpus of TLS chains (root, intermediates, leaf) covering every lint family of issue 13.

Keys are made once per process (EC P-256 is cheap; one RSA-2048, one RSA-1024 for the weak-CA case,
one Ed25519) and reused by every chain. What cryptography's builder refuses (version 1, serials over
20 bytes) is made by editing the TBS with asn1crypto and signing it again.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import asn1crypto.x509 as ax  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# One instant for the whole corpus; the oracles and the linter are all asked about this moment.
AT = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
SERVER_HOST = "www.lint.example.test"
UNKNOWN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1.1")
SERVER, CLIENT = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE


@functools.cache
def key(name: str) -> Any:
    """Named test keys, made once: "ec-*" P-256, "rsa", "rsa1024", "ed25519"."""
    if name == "rsa":
        return rsa.generate_private_key(65537, 2048)
    if name == "rsa1024":
        return rsa.generate_private_key(65537, 1024)  # noqa: S505 - the weak-key families need one
    if name == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def ku(*bits: str) -> x509.KeyUsage:
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{n: n in bits for n in names})


def name(cn: str | None) -> x509.Name:
    if cn is None:
        return x509.Name([])
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ikm-tui corpus"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


@dataclass(frozen=True)
class Spec:
    """One certificate; the defaults make a clean CA (ca=True) or a clean TLS leaf."""

    cn: str | None
    key: str = "ec-leaf"
    ca: bool | None = False  # None: no basicConstraints
    bc_critical: bool = True
    path_length: int | None = None
    key_usage: x509.KeyUsage | None = None  # None with use_default_ku: the usual bits
    default_ku: bool = True
    eku: tuple[x509.ObjectIdentifier, ...] | None = None
    default_eku: bool = True
    san: tuple[x509.GeneralName, ...] | None = None
    default_san: bool = True
    san_critical: bool = False
    ski: bool = True
    ski_critical: bool = False
    aki: bool = True
    aki_critical: bool = False
    aki_key: str | None = None  # AKI names this key instead of the signer's
    extra: tuple[tuple[x509.ExtensionType, bool], ...] = ()
    days: tuple[int, int] = (-30, 300)  # validity relative to AT
    hash: str = "sha256"
    serial: int = 0x1234  # over 159 bits: patched in by asn1crypto
    version1: bool = False


def _hash(name: str) -> hashes.HashAlgorithm:
    return {"sha256": hashes.SHA256(), "sha1": hashes.SHA1(), "sha384": hashes.SHA384()}[name]


def _sign_raw(signer: Any, data: bytes, hash_name: str) -> bytes:
    if isinstance(signer, rsa.RSAPrivateKey):
        return signer.sign(data, padding.PKCS1v15(), _hash(hash_name))
    return signer.sign(data, ec.ECDSA(_hash(hash_name)))


def issue(spec: Spec, use: str, issuer: tuple[x509.Name, str] | None) -> x509.Certificate:
    """Build `spec`, signed by issuer (name, key name) or by itself."""
    k = key(spec.key)
    issuer_name, signer_name = issuer or (name(spec.cn), spec.key)
    signer = key(signer_name)
    b = (
        x509.CertificateBuilder()
        .subject_name(name(spec.cn))
        .issuer_name(issuer_name)
        .public_key(k.public_key())
        .serial_number(min(spec.serial, 2**159 - 1))
        .not_valid_before(AT + timedelta(days=spec.days[0]))
        .not_valid_after(AT + timedelta(days=spec.days[1]))
    )
    if spec.ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=spec.ca, path_length=spec.path_length), spec.bc_critical)
    usage = spec.key_usage
    if usage is None and spec.default_ku:
        usage = ku("key_cert_sign", "crl_sign") if spec.ca else ku("digital_signature")
    if usage is not None:
        b = b.add_extension(usage, critical=True)
    eku = (
        spec.eku
        if spec.eku is not None or not spec.default_eku or spec.ca
        else ((SERVER,) if use == "server" else (CLIENT,))
    )
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    san = (
        spec.san
        if spec.san is not None or not spec.default_san or spec.ca
        else ((x509.DNSName(SERVER_HOST),) if use == "server" else (x509.DNSName("client.lint.example.test"),))
    )
    if san is not None:
        b = b.add_extension(x509.SubjectAlternativeName(list(san)), spec.san_critical)
    if spec.ski:
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(k.public_key()), spec.ski_critical)
    if spec.aki:
        aki_pub = key(spec.aki_key or signer_name).public_key()
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(aki_pub), spec.aki_critical)
    for ext, critical in spec.extra:
        b = b.add_extension(ext, critical)
    # cryptography refuses to sign with SHA-1: sign with SHA-256, then _patch re-signs.
    algo = None if isinstance(signer, ed25519.Ed25519PrivateKey) else _hash(spec.hash.replace("sha1", "sha256"))
    cert = b.sign(signer, algo)  # type: ignore[arg-type]
    if spec.version1 or spec.serial >= 2**159 or spec.hash == "sha1":
        cert = _patch(cert, spec, signer)
    return cert


def _patch(cert: x509.Certificate, spec: Spec, signer: Any) -> x509.Certificate:
    """Version 1 or a long serial: edit the TBS with asn1crypto and sign it again."""
    c = ax.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    tbs = c["tbs_certificate"]
    if spec.version1:
        tbs["version"] = "v1"
        if not spec.extra:  # v1 with extensions is kept only when the spec asks for extras
            tbs["extensions"] = ax.Extensions([])
            del tbs["extensions"]
    if spec.serial >= 2**159:
        tbs["serial_number"] = spec.serial
    sig_alg = c["signature_algorithm"]
    if spec.hash == "sha1":
        kind = "rsa" if isinstance(signer, rsa.RSAPrivateKey) else "ecdsa"
        sig_alg = ax.SignedDigestAlgorithm({"algorithm": f"sha1_{kind}"})
        tbs["signature"] = sig_alg
    tbs_der = tbs.dump(force=True)
    out = ax.Certificate(
        {
            "tbs_certificate": ax.TbsCertificate.load(tbs_der),
            "signature_algorithm": sig_alg,
            "signature_value": _sign_raw(signer, tbs_der, spec.hash),
        }
    )
    return x509.load_der_x509_certificate(out.dump())


@dataclass(frozen=True)
class Chain:
    """A leaf, the CA certificates offered with it, and the root the client trusts."""

    id: str
    family: str
    use: str  # "server" or "client"
    leaf: bytes
    intermediates: tuple[bytes, ...]
    root: bytes | None  # None: the trust anchor is missing
    host: str | None = None  # the name/IP a server client dials
    trusted: tuple[bytes, ...] = ()  # extra trust anchors (e.g. a root that differs from the one offered)
    leaf_key: str = "ec-leaf"  # name for key(): the handshake test serves the leaf with it

    def pem(self, ders: Any) -> bytes:
        return b"".join(x509.load_der_x509_certificate(d).public_bytes(serialization.Encoding.PEM) for d in ders)


ROOT = Spec("Corpus Root CA", key="ec-root", ca=True)
INT = Spec("Corpus Issuing CA", key="ec-int", ca=True)


def _der(c: x509.Certificate) -> bytes:
    return c.public_bytes(serialization.Encoding.DER)


def make(
    cid: str,
    family: str,
    use: str,
    leaf: Spec | None = None,
    inter: Spec | None = INT,
    root: Spec = ROOT,
    *,
    host: str | None = SERVER_HOST,
    offer_root: bool = True,
    offer_int: bool = True,
) -> Chain:
    """root -> [inter] -> leaf, each signed by the one above; `inter=None` for a two-level chain."""
    leaf = leaf or Spec("leaf")
    r = issue(root, use, None)
    above = (r.subject, root.key)
    ints: list[bytes] = []
    if inter is not None:
        i = issue(inter, use, above)
        ints.append(_der(i))
        above = (i.subject, inter.key)
    lf = issue(leaf, use, above)
    return Chain(
        cid,
        family,
        use,
        _der(lf),
        tuple(ints) if offer_int else (),
        _der(r) if offer_root else None,
        host if use == "server" else None,
        leaf_key=leaf.key,
    )


def _both(cid: str, family: str, **kw: Any) -> Iterator[Chain]:
    for use in ("server", "client"):
        yield make(f"{cid}-{use}", family, use, **kw)


def _nc(
    permitted: list[x509.GeneralName] | None = None, excluded: list[x509.GeneralName] | None = None
) -> tuple[tuple[x509.ExtensionType, bool], ...]:
    return ((x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=excluded), True),)


def _dns(*names: str) -> tuple[x509.GeneralName, ...]:
    return tuple(x509.DNSName(n) for n in names)


def _ip(*ips: str) -> tuple[x509.GeneralName, ...]:
    return tuple(x509.IPAddress(ipaddress.ip_address(i)) for i in ips)


def _net(text: str) -> x509.GeneralName:
    return x509.IPAddress(ipaddress.ip_network(text))


def _families() -> Iterator[Chain]:
    L, unk = Spec("leaf"), ((x509.UnrecognizedExtension(UNKNOWN_OID, b"\x05\x00"), True),)
    # clean chains
    yield from _both("ok", "clean")
    yield from _both("ok-two-level", "clean", inter=None)
    yield from _both(
        "ok-rsa-leaf", "clean", leaf=Spec("leaf", key="rsa", key_usage=ku("digital_signature", "key_encipherment"))
    )
    yield from _both("ok-ed25519-leaf", "clean", leaf=Spec("leaf", key="ed25519"))
    yield from _both("ok-unknown-noncritical", "clean", leaf=replace(L, extra=((unk[0][0], False),)))
    yield from _both("ok-no-eku", "clean", leaf=replace(L, default_eku=False))
    yield from _both("ok-both-eku", "clean", leaf=replace(L, eku=(SERVER, CLIENT)))
    yield from _both("ok-v1-leaf", "v1-leaf", leaf=replace(L, cn=SERVER_HOST, version1=True))
    yield from _both("ed25519-int", "clean", inter=replace(INT, key="ed25519"))
    yield from _both("ok-serial-20-bytes", "serial", leaf=replace(L, serial=2**159 - 1))
    yield from _both("ok-rsa-ca", "clean", inter=replace(INT, key="rsa"))
    # unknown critical extensions
    yield from _both("unknown-critical-leaf", "unknown-critical", leaf=replace(L, extra=unk))
    yield from _both("unknown-critical-int", "unknown-critical", inter=replace(INT, extra=unk))
    yield from _both("unknown-critical-root", "unknown-critical", root=replace(ROOT, extra=unk))
    # name constraints
    ok_dns = _nc([x509.DNSName("lint.example.test")])
    yield from _both("nc-dns-ok", "name-constraints", inter=replace(INT, extra=ok_dns))
    yield from _both("nc-dns-violated", "name-constraints", inter=replace(INT, extra=_nc([x509.DNSName("other.test")])))
    yield from _both(
        "nc-dns-excluded",
        "name-constraints",
        inter=replace(INT, extra=_nc(excluded=[x509.DNSName("lint.example.test")])),
    )
    yield from _both(
        "nc-dns-violated-root", "name-constraints", root=replace(ROOT, extra=_nc([x509.DNSName("other.test")]))
    )
    ip_leaf = replace(L, san=_ip("10.1.2.3"))
    yield from _both(
        "nc-ip-ok",
        "name-constraints",
        leaf=ip_leaf,
        inter=replace(INT, extra=_nc([_net("10.0.0.0/8")])),
        host="10.1.2.3",
    )
    yield from _both(
        "nc-ip-violated",
        "name-constraints",
        leaf=ip_leaf,
        inter=replace(INT, extra=_nc([_net("192.168.0.0/16")])),
        host="10.1.2.3",
    )
    yield from _both(
        "nc-ip-excluded",
        "name-constraints",
        leaf=ip_leaf,
        inter=replace(INT, extra=_nc(excluded=[_net("10.0.0.0/8")])),
        host="10.1.2.3",
    )
    cn_leaf = Spec("evil.invalid", default_san=False)
    yield make("nc-cn-violated-client", "name-constraints", "client", leaf=cn_leaf, inter=replace(INT, extra=ok_dns))
    yield make(
        "nc-cn-ok-client",
        "name-constraints",
        "client",
        leaf=Spec("host.lint.example.test", default_san=False),
        inter=replace(INT, extra=ok_dns),
    )
    # extended key usage
    yield from _both("eku-any-only", "any-eku", leaf=replace(L, eku=(ANY_EKU,)))
    yield from _both("eku-any-plus-use", "any-eku", leaf=replace(L, eku=(ANY_EKU, SERVER, CLIENT)))
    yield make("eku-wrong-server", "eku-mismatch", "server", leaf=replace(L, eku=(CLIENT,)))
    yield make("eku-wrong-client", "eku-mismatch", "client", leaf=replace(L, eku=(SERVER,)))
    yield make("int-eku-excludes-server", "int-eku", "server", inter=replace(INT, eku=(CLIENT,)))
    yield make("int-eku-excludes-client", "int-eku", "client", inter=replace(INT, eku=(SERVER,)))
    yield from _both("int-eku-both", "int-eku", inter=replace(INT, eku=(SERVER, CLIENT)))
    yield make("root-eku-excludes-server", "int-eku", "server", root=replace(ROOT, eku=(CLIENT,)))
    yield make("int-eku-any", "int-eku", "server", inter=replace(INT, eku=(ANY_EKU,)))
    # key identifiers
    yield from _both("aki-critical-leaf", "aki-ski", leaf=replace(L, aki_critical=True))
    yield from _both("aki-critical-int", "aki-ski", inter=replace(INT, aki_critical=True))
    yield from _both("ski-critical-leaf", "aki-ski", leaf=replace(L, ski_critical=True))
    yield from _both("ski-critical-int", "aki-ski", inter=replace(INT, ski_critical=True))
    yield from _both("aki-mismatch-leaf", "aki-ski", leaf=replace(L, aki_key="ec-other"))
    yield from _both("aki-mismatch-int", "aki-ski", inter=replace(INT, aki_key="ec-other"))
    yield from _both("leaf-without-aki", "aki-ski", leaf=replace(L, aki=False))
    yield from _both("leaf-without-ski", "aki-ski", leaf=replace(L, ski=False))
    yield from _both("int-without-ski", "aki-ski", inter=replace(INT, ski=False))
    yield from _both("int-without-aki", "aki-ski", inter=replace(INT, aki=False))
    # keyUsage
    yield from _both("ku-crlsign-only", "key-usage", leaf=replace(L, key_usage=ku("crl_sign")))
    yield from _both("ku-no-bits", "key-usage", leaf=replace(L, key_usage=ku()))
    yield from _both(
        "ku-keyenc-ec", "key-usage-type", leaf=replace(L, key_usage=ku("digital_signature", "key_encipherment"))
    )
    yield from _both(
        "ku-keyenc-ed25519",
        "key-usage-type",
        leaf=Spec("leaf", key="ed25519", key_usage=ku("digital_signature", "key_encipherment")),
    )
    yield from _both(
        "ku-keyagreement-rsa",
        "key-usage-type",
        leaf=Spec("leaf", key="rsa", key_usage=ku("digital_signature", "key_agreement")),
    )
    yield from _both("ku-keyagreement-ec", "clean", leaf=replace(L, key_usage=ku("digital_signature", "key_agreement")))
    yield from _both(
        "keycertsign-without-ca", "ca-flags", leaf=replace(L, key_usage=ku("digital_signature", "key_cert_sign"))
    )
    yield from _both(
        "ca-without-keycertsign", "ca-flags", inter=replace(INT, key_usage=ku("crl_sign", "digital_signature"))
    )
    yield from _both("ca-without-ku", "ca-flags", inter=replace(INT, default_ku=False))
    yield from _both("ca-bc-not-critical", "ca-flags", inter=replace(INT, bc_critical=False))
    yield from _both("issuer-not-ca", "ca-flags", inter=replace(INT, ca=False))
    yield from _both("issuer-no-bc", "ca-flags", inter=replace(INT, ca=None))
    yield from _both("pathlen-exceeded", "ca-flags", root=replace(ROOT, path_length=0))
    yield from _both("pathlen-ok", "clean", inter=replace(INT, path_length=0))
    # names
    yield from _both("san-empty", "names", leaf=replace(L, san=()))
    yield from _both("subject-empty-san-noncritical", "names", leaf=replace(L, cn=None))
    yield from _both("subject-empty-san-critical", "names", leaf=replace(L, cn=None, san_critical=True))
    yield make("server-without-san", "names", "server", leaf=replace(L, cn=SERVER_HOST, default_san=False))
    yield make("client-without-san", "names", "client", leaf=replace(L, default_san=False))
    yield make("ip-as-dns", "ip-as-dns", "server", leaf=replace(L, san=_dns("10.1.2.3")), host="10.1.2.3")
    yield make("ip-as-ip", "ip-as-dns", "server", leaf=replace(L, san=_ip("10.1.2.3")), host="10.1.2.3")
    yield make("host-mismatch", "host", "server", leaf=replace(L, san=_dns("other.lint.example.test")))
    yield make("host-wildcard", "host", "server", leaf=replace(L, san=_dns("*.lint.example.test")))
    # serials
    yield from _both("serial-21-bytes-leaf", "serial", leaf=replace(L, serial=2**167 + 5))
    yield from _both("serial-21-bytes-int", "serial", inter=replace(INT, serial=2**167 + 7))
    # key sizes and algorithms
    yield from _both("weak-int-key", "weak-ca", inter=replace(INT, key="rsa1024"))
    yield from _both("weak-root-key", "weak-ca", root=replace(ROOT, key="rsa1024"))
    yield from _both("weak-leaf-key", "weak-ca", leaf=Spec("leaf", key="rsa1024"))
    yield from _both("sha1-root-self-signature", "sha1", root=replace(ROOT, hash="sha1"), inter=None)
    yield from _both("sha1-root-with-int", "sha1", root=replace(ROOT, hash="sha1"))
    yield from _both("sha1-leaf", "sha1", leaf=replace(L, hash="sha1"))
    yield from _both("sha1-int", "sha1", inter=replace(INT, hash="sha1"))
    yield from _both("sha384", "clean", leaf=replace(L, hash="sha384"))
    # versions
    yield from _both(
        "v1-leaf-with-extensions", "v1-leaf", leaf=replace(L, version1=True, extra=((x509.OCSPNoCheck(), False),))
    )
    yield from _both("v1-intermediate", "v1-leaf", inter=replace(INT, version1=True))
    # validity and building
    yield from _both("expired-leaf", "validity", leaf=replace(L, days=(-300, -1)))
    yield from _both("expired-int", "validity", inter=replace(INT, days=(-300, -1)))
    yield from _both("not-yet-valid-leaf", "validity", leaf=replace(L, days=(1, 300)))
    yield from _both("missing-int", "building", offer_int=False)
    yield from _both("missing-root", "building", offer_root=False)
    for use in ("server", "client"):
        own = _der(issue(replace(L, aki=False), use, None))
        yield Chain(f"self-signed-leaf-{use}", "building", use, own, (), own, SERVER_HOST if use == "server" else None)


def _wrong_key_chain() -> Iterator[Chain]:
    """An intermediate signed by a root of the same name but another key (re-created CA)."""
    for use in ("server", "client"):
        good = make("x", "x", use)
        impostor = issue(replace(ROOT, key="ec-other"), use, None)
        yield Chain(f"root-recreated-{use}", "building", use, good.leaf, good.intermediates, _der(impostor), good.host)


@functools.cache
def corpus() -> tuple[Chain, ...]:
    """Every chain, ids unique."""
    chains = (*_families(), *_wrong_key_chain())
    ids = [c.id for c in chains]
    assert len(ids) == len(set(ids)), "duplicate chain id"
    return chains
