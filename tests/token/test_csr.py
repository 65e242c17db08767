"""PKCS#10 requests and self-signed certificates with software keys standing in for the token."""

from __future__ import annotations

import hashlib
import ipaddress
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import core, keys
from asn1crypto import csr as asn1_csr
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID

from ikm_tui.core.x509.csr import (
    Signer,
    build_csr,
    build_self_signed,
    ecdsa_raw_to_der,
    signing_plan,
    spki_from_token_attrs,
    token_signer,
    verify_csr,
    verify_self_signed,
)
from ikm_tui.core.x509.dn import parse_dn

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
_HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}


@dataclass(frozen=True)
class SoftKey:
    """A cryptography key posing as a token key: `mechanism_sign` behaves like C_Sign."""

    name: str
    key_type: str  # "rsa", "ec", "ed25519" as signing_plan takes it
    private: PrivateKey

    @property
    def spki(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    def mechanism_sign(self, mechanism: str) -> Callable[[bytes], bytes]:
        """What the token returns for `mechanism`: PKCS#1 v1.5, raw r||s for CKM_ECDSA, raw EdDSA."""
        key = self.private

        def sign(data: bytes) -> bytes:
            if isinstance(key, rsa.RSAPrivateKey):
                hash_name = mechanism.removeprefix("CKM_").split("_")[0].lower()
                return key.sign(data, padding.PKCS1v15(), _HASHES[hash_name])
            if isinstance(key, ec.EllipticCurvePrivateKey):
                assert mechanism == "CKM_ECDSA"  # the token gets a digest, never the message
                algo = {32: hashes.SHA256(), 48: hashes.SHA384(), 64: hashes.SHA512()}[len(data)]
                r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(utils.Prehashed(algo))))
                size = (key.curve.key_size + 7) // 8
                return r.to_bytes(size, "big") + s.to_bytes(size, "big")
            assert mechanism == "CKM_EDDSA"
            return key.sign(data)

        return sign

    def signer(self, hash_name: str | None) -> tuple[Signer, str]:
        plan = signing_plan(self.key_type, hash_name)
        return token_signer(plan, self.mechanism_sign(plan.mechanism)), plan.sig_alg


@pytest.fixture(scope="module")
def soft_keys() -> dict[str, SoftKey]:
    return {
        "rsa2048": SoftKey("rsa2048", "rsa", rsa.generate_private_key(65537, 2048)),
        "p256": SoftKey("p256", "ec", ec.generate_private_key(ec.SECP256R1())),
        "p384": SoftKey("p384", "ec", ec.generate_private_key(ec.SECP384R1())),
        "ed25519": SoftKey("ed25519", "ed25519", ed25519.Ed25519PrivateKey.generate()),
    }


KEY_AND_HASH = [
    ("rsa2048", "sha256"), ("rsa2048", "sha384"), ("rsa2048", "sha512"),
    ("p256", "sha256"), ("p256", "sha384"), ("p384", "sha384"), ("p384", "sha512"),
    ("ed25519", None),
]

SANS = ["DNS:mq.example.com", "DNS:*.mq.example.com", "IP:192.0.2.7", "IP:2001:db8::7",
        "email:colin@example.org", "URI:https://example.org/colin"]


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)


def openssl_req_verify(path: Path) -> bool:
    # `openssl req -verify` exits 0 even when the signature is bad: read what it says.
    out = _openssl("req", "-in", str(path), "-inform", "DER", "-verify", "-noout")
    text = out.stdout + out.stderr
    return "verify OK" in text and "verify failure" not in text


no_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def _request(k: SoftKey, hash_name: str | None, subject: str = "CN=colin,O=SSS,C=GB",
             **kw: object) -> bytes:
    sign, sig_alg = k.signer(hash_name)
    return build_csr(subject=parse_dn(subject), spki_der=k.spki, sign=sign, sig_alg=sig_alg, **kw)  # type: ignore[arg-type]


# ---- requests ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("key_name", "hash_name"), KEY_AND_HASH)
def test_request_verifies_with_cryptography(soft_keys: dict[str, SoftKey], key_name: str,
                                            hash_name: str | None) -> None:
    k = soft_keys[key_name]
    der = _request(k, hash_name, sans=SANS, key_usage=["digitalSignature"], eku=["serverAuth", "clientAuth"])
    req = x509.load_der_x509_csr(der)
    assert req.is_signature_valid
    verify_csr(der)
    assert req.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == k.spki
    if hash_name:
        assert req.signature_hash_algorithm is not None
        assert req.signature_hash_algorithm.name == hash_name


@pytest.mark.interop
@no_openssl
@pytest.mark.parametrize(("key_name", "hash_name"), KEY_AND_HASH)
def test_request_verifies_with_openssl(soft_keys: dict[str, SoftKey], key_name: str,
                                       hash_name: str | None, tmp_path: Path) -> None:
    path = tmp_path / "req.der"
    path.write_bytes(_request(soft_keys[key_name], hash_name, sans=SANS, eku=["clientAuth"]))
    assert openssl_req_verify(path)


@pytest.mark.interop
@no_openssl
def test_openssl_verify_check_catches_a_bad_signature(soft_keys: dict[str, SoftKey], tmp_path: Path) -> None:
    # Guards the helper itself: openssl exits 0 here, the text is what tells.
    der = bytearray(_request(soft_keys["p256"], "sha256"))
    der[der.index(b"colin")] ^= 0x20  # 'colin' -> 'Colin' in the signed part
    path = tmp_path / "bad.der"
    path.write_bytes(bytes(der))
    assert _openssl("req", "-in", str(path), "-inform", "DER", "-verify", "-noout").returncode == 0
    assert not openssl_req_verify(path)
    with pytest.raises(ValueError, match="does not verify"):
        verify_csr(bytes(der))


SYNTAXES = [
    # (as typed, RFC 4514 / `openssl -nameopt RFC2253` reading)
    ("CN=colin,O=SSS,C=GB", "CN=colin,O=SSS,C=GB"),
    ("cn=colin,ou=mq,o=SSS,c=GB", "CN=colin,OU=mq,O=SSS,C=GB"),
    ("/C=GB/O=HW/CN=colinpaice", "CN=colinpaice,O=HW,C=GB"),
    ("CN=colin,OU=first,OU=second,O=SSS", "CN=colin,OU=first,OU=second,O=SSS"),
    ("/O=SSS/OU=second/OU=first/CN=colin", "CN=colin,OU=first,OU=second,O=SSS"),
    (r"CN=Paice\, Colin,O=SSS", r"CN=Paice\, Colin,O=SSS"),
]


@pytest.mark.parametrize(("typed", "reading"), SYNTAXES)
def test_subject_order_round_trips_in_cryptography(soft_keys: dict[str, SoftKey], typed: str,
                                                   reading: str) -> None:
    req = x509.load_der_x509_csr(_request(soft_keys["p256"], "sha256", subject=typed))
    assert req.subject.rfc4514_string() == reading


@pytest.mark.interop
@no_openssl
@pytest.mark.parametrize(("typed", "reading"), SYNTAXES)
def test_subject_order_round_trips_in_openssl(soft_keys: dict[str, SoftKey], typed: str, reading: str,
                                              tmp_path: Path) -> None:
    path = tmp_path / "req.der"
    path.write_bytes(_request(soft_keys["rsa2048"], "sha256", subject=typed))
    out = _openssl("req", "-in", str(path), "-inform", "DER", "-subject", "-noout", "-nameopt", "RFC2253")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"subject={reading}"


def test_extensions_round_trip(soft_keys: dict[str, SoftKey]) -> None:
    der = _request(soft_keys["p384"], "sha384", sans=SANS, key_usage=["digitalSignature", "keyAgreement"],
                   eku=["serverAuth", "clientAuth", "1.3.6.1.4.1.99999.1"])
    exts = x509.load_der_x509_csr(der).extensions
    san = exts.get_extension_for_class(x509.SubjectAlternativeName)
    assert not san.critical
    assert list(san.value) == [
        x509.DNSName("mq.example.com"), x509.DNSName("*.mq.example.com"),
        x509.IPAddress(ipaddress.ip_address("192.0.2.7")), x509.IPAddress(ipaddress.ip_address("2001:db8::7")),
        x509.RFC822Name("colin@example.org"), x509.UniformResourceIdentifier("https://example.org/colin"),
    ]
    ku = exts.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.key_agreement
    assert not ku.value.key_encipherment
    eku = exts.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(eku.value) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH,
                               x509.ObjectIdentifier("1.3.6.1.4.1.99999.1")]
    # Exactly one attribute, the PKCS#9 extensionRequest.
    attrs = asn1_csr.CertificationRequest.load(der)["certification_request_info"]["attributes"]
    assert [a["type"].native for a in attrs] == ["extension_request"]


def test_no_extensions_means_no_attributes(soft_keys: dict[str, SoftKey]) -> None:
    der = _request(soft_keys["ed25519"], None)
    info = asn1_csr.CertificationRequest.load(der)["certification_request_info"]
    assert len(info["attributes"]) == 0
    assert len(x509.load_der_x509_csr(der).extensions) == 0


def test_san_is_critical_when_the_subject_is_empty(soft_keys: dict[str, SoftKey]) -> None:
    k = soft_keys["p256"]
    sign, sig_alg = k.signer("sha256")
    empty = asn1_x509.Name(name="", value=asn1_x509.RDNSequence([]))
    der = build_csr(subject=empty, spki_der=k.spki, sign=sign, sig_alg=sig_alg, sans=["DNS:a.example.com"])
    assert x509.load_der_x509_csr(der).extensions.get_extension_for_class(x509.SubjectAlternativeName).critical


def test_algorithm_parameters(soft_keys: dict[str, SoftKey]) -> None:
    # RFC 4055: NULL for RSA PKCS#1 v1.5; RFC 5758 / RFC 8410: absent for ECDSA and Ed25519.
    rsa_alg = asn1_csr.CertificationRequest.load(_request(soft_keys["rsa2048"], "sha256"))["signature_algorithm"]
    assert rsa_alg.dump().endswith(b"\x05\x00")
    for name, hash_name in [("p256", "sha256"), ("ed25519", None)]:
        alg = asn1_csr.CertificationRequest.load(_request(soft_keys[name], hash_name))["signature_algorithm"]
        assert alg["parameters"].native is None and not alg.dump().endswith(b"\x05\x00")


# ---- what goes wrong --------------------------------------------------------------------------

def test_wrong_key_signature_is_refused(soft_keys: dict[str, SoftKey]) -> None:
    other = SoftKey("other", "ec", ec.generate_private_key(ec.SECP256R1()))
    sign, sig_alg = other.signer("sha256")
    with pytest.raises(ValueError, match="does not verify"):
        build_csr(subject=parse_dn("CN=x"), spki_der=soft_keys["p256"].spki, sign=sign, sig_alg=sig_alg)


def test_raw_ecdsa_signature_is_refused_with_a_hint(soft_keys: dict[str, SoftKey]) -> None:
    k = soft_keys["p256"]
    raw = k.mechanism_sign("CKM_ECDSA")
    with pytest.raises(ValueError, match="DER-encoded"):
        build_csr(subject=parse_dn("CN=x"), spki_der=k.spki, sig_alg="sha256_ecdsa",
                  sign=lambda tbs: raw(hashlib.sha256(tbs).digest()))


def test_hash_mismatch_is_refused(soft_keys: dict[str, SoftKey]) -> None:
    k = soft_keys["rsa2048"]
    sign, _ = k.signer("sha256")
    with pytest.raises(ValueError, match="does not verify"):
        build_csr(subject=parse_dn("CN=x"), spki_der=k.spki, sign=sign, sig_alg="sha384_rsa")


@pytest.mark.parametrize(("key_name", "sig_alg", "needle"), [
    ("rsa2048", "sha256_ecdsa", "needs an EC key"),
    ("p256", "sha256_rsa", "needs an RSA key"),
    ("p256", "ed25519", "needs an ED25519 key"),
    ("ed25519", "sha256_ecdsa", "needs an EC key"),
    ("p256", "sha1_ecdsa", "unknown signature algorithm"),
])
def test_sig_alg_must_match_the_key(soft_keys: dict[str, SoftKey], key_name: str, sig_alg: str,
                                    needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        build_csr(subject=parse_dn("CN=x"), spki_der=soft_keys[key_name].spki, sign=lambda b: b"",
                  sig_alg=sig_alg)


@pytest.mark.parametrize(("key_name", "hash_name", "kw", "needle"), [
    ("p256", "sha256", {"key_usage": ["keyEncipherment"]}, "not possible with an EC key"),
    ("ed25519", None, {"key_usage": ["keyAgreement"]}, "not possible with an ED25519 key"),
    ("rsa2048", "sha256", {"key_usage": ["keyAgreement"]}, "not possible with an RSA key"),
    ("p256", "sha256", {"key_usage": ["encipherOnly"]}, "together with keyAgreement"),
    ("p256", "sha256", {"key_usage": ["signEverything"]}, "unknown key usage"),
    ("p256", "sha256", {"eku": ["webServer"]}, "unknown extended key usage"),
    ("p256", "sha256", {"sans": ["DNS:bad_name"]}, "bad SAN"),
])
def test_bad_extension_input(soft_keys: dict[str, SoftKey], key_name: str, hash_name: str | None,
                             kw: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        _request(soft_keys[key_name], hash_name, **kw)


def test_key_usage_spellings(soft_keys: dict[str, SoftKey]) -> None:
    der = _request(soft_keys["rsa2048"], "sha256",
                   key_usage=["digital_signature", "Content-Commitment", "keyencipherment"])
    ku = x509.load_der_x509_csr(der).extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.content_commitment and ku.key_encipherment


def test_input_types(soft_keys: dict[str, SoftKey]) -> None:
    k = soft_keys["p256"]
    with pytest.raises(TypeError):
        build_csr(subject="CN=x", spki_der=k.spki, sign=lambda b: b"", sig_alg="sha256_ecdsa")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="SubjectPublicKeyInfo"):
        build_csr(subject=parse_dn("CN=x"), spki_der=b"\x30\x00", sign=lambda b: b"", sig_alg="sha256_ecdsa")
    with pytest.raises(TypeError, match="not bytes"):
        build_csr(subject=parse_dn("CN=x"), spki_der=k.spki, sign=lambda b: "sig",  # type: ignore[arg-type,return-value]
                  sig_alg="sha256_ecdsa")


@pytest.mark.parametrize("field", ["sans", "key_usage", "eku"])
def test_a_bare_string_is_not_a_list(soft_keys: dict[str, SoftKey], field: str) -> None:
    with pytest.raises(TypeError, match="not one string"):
        _request(soft_keys["p256"], "sha256", **{field: "DNS:a.example.com"})


def test_verify_csr_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="not a usable PKCS#10 request"):
        verify_csr(b"\x30\x03\x02\x01\x00")


# ---- signing plan and signer adapters ---------------------------------------------------------

def test_signing_plan_table() -> None:
    assert signing_plan("rsa", "sha256") == ("CKM_SHA256_RSA_PKCS", "sha256_rsa", False)
    assert signing_plan("RSA", "SHA-512") == ("CKM_SHA512_RSA_PKCS", "sha512_rsa", False)
    assert signing_plan("ec", "sha384") == ("CKM_ECDSA", "sha384_ecdsa", True)
    assert signing_plan("ed25519", None) == ("CKM_EDDSA", "ed25519", False)
    assert signing_plan("ed25519", "") == ("CKM_EDDSA", "ed25519", False)
    mech, sig_alg, local = signing_plan("ec", "sha256")
    assert (mech, sig_alg, local) == ("CKM_ECDSA", "sha256_ecdsa", True)


@pytest.mark.parametrize(("key_type", "hash_name", "needle"), [
    ("ed25519", "sha256", "fixed hash"),
    ("dsa", "sha256", "unsupported key type"),
    ("rsa", "sha1", "unsupported hash"),
    ("ec", None, "unsupported hash"),
])
def test_signing_plan_refuses(key_type: str, hash_name: str | None, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        signing_plan(key_type, hash_name)


def test_plan_mechanisms_exist_in_python_pkcs11() -> None:
    pkcs11 = pytest.importorskip("pkcs11")
    for key_type, hash_name in [("rsa", "sha256"), ("rsa", "sha384"), ("rsa", "sha512"), ("ec", "sha256"),
                                ("ed25519", None)]:
        name = signing_plan(key_type, hash_name).mechanism
        assert pkcs11.Mechanism[name.removeprefix("CKM_")]


def test_token_signer_hashes_locally_only_for_ecdsa(soft_keys: dict[str, SoftKey]) -> None:
    seen: list[bytes] = []

    def record(result: bytes) -> Callable[[bytes], bytes]:
        def sign(data: bytes) -> bytes:
            seen.append(data)
            return result
        return sign

    token_signer(signing_plan("rsa", "sha256"), record(b"s"))(b"tbs")
    token_signer(signing_plan("ec", "sha384"), record(b"\x01" * 96))(b"tbs")
    token_signer(signing_plan("ed25519", None), record(b"s"))(b"tbs")
    assert seen == [b"tbs", hashlib.sha384(b"tbs").digest(), b"tbs"]


def test_ecdsa_raw_to_der_matches_python_pkcs11() -> None:
    util_ec = pytest.importorskip("pkcs11.util.ec")
    raw = bytes(range(1, 33)) + b"\x80" + bytes(31)  # s has its top bit set: needs a 0x00 pad
    assert ecdsa_raw_to_der(raw) == util_ec.encode_ecdsa_signature(raw)
    with pytest.raises(ValueError, match="even"):
        ecdsa_raw_to_der(b"\x01\x02\x03")


# ---- SubjectPublicKeyInfo from token attributes -----------------------------------------------

def _named(curve: str) -> bytes:
    return bytes(keys.ECDomainParameters(name="named", value=curve).dump())


def test_spki_rsa_from_modulus_and_exponent(soft_keys: dict[str, SoftKey]) -> None:
    k = soft_keys["rsa2048"]
    assert isinstance(k.private, rsa.RSAPrivateKey)
    nums = k.private.public_key().public_numbers()
    n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
    e = nums.e.to_bytes(3, "big")
    assert spki_from_token_attrs("rsa", modulus=n, public_exponent=e) == k.spki
    assert spki_from_token_attrs("rsa", modulus=nums.n, public_exponent=nums.e) == k.spki
    with pytest.raises(ValueError, match="CKA_PUBLIC_EXPONENT"):
        spki_from_token_attrs("rsa", modulus=n)


@pytest.mark.parametrize(("curve", "name"), [(ec.SECP256R1(), "secp256r1"), (ec.SECP384R1(), "secp384r1"),
                                             (ec.SECP521R1(), "secp521r1")])
def test_spki_ec_point_wrapped_or_raw(curve: ec.EllipticCurve, name: str) -> None:
    pub = ec.generate_private_key(curve).public_key()
    want = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    point = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    wrapped = bytes(core.OctetString(point).dump())  # what SoftHSM returns for CKA_EC_POINT
    assert spki_from_token_attrs("ec", ec_params=_named(name), ec_point=wrapped) == want
    assert spki_from_token_attrs("ec", ec_params=_named(name), ec_point=point) == want


@pytest.mark.parametrize("params", [bytes.fromhex("06032b6570"), b"\x13\x0cedwards25519"])
def test_spki_ed25519(params: bytes, soft_keys: dict[str, SoftKey]) -> None:
    k = soft_keys["ed25519"]
    raw = k.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    for point in (raw, bytes(core.OctetString(raw).dump())):
        assert spki_from_token_attrs("ed25519", ec_params=params, ec_point=point) == k.spki
        assert spki_from_token_attrs("ec_edwards", ec_params=params, ec_point=point) == k.spki


def test_spki_errors() -> None:
    p256 = _named("secp256r1")
    good = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    off_curve = good[:-1] + bytes([good[-1] ^ 1])
    cases: list[tuple[dict[str, object], str]] = [
        ({"key_type": "ec", "ec_params": p256, "ec_point": off_curve}, "not a point on secp256r1"),
        ({"key_type": "ec", "ec_params": p256, "ec_point": good[:40]}, "neither a point"),
        ({"key_type": "ec", "ec_params": p256}, "needs CKA_EC_PARAMS and CKA_EC_POINT"),
        ({"key_type": "ec", "ec_params": b"\x05\x00", "ec_point": good}, "only named curves"),
        ({"key_type": "ec", "ec_params": b"\x06\x03\x2a\x03\x04", "ec_point": good}, "unsupported curve OID"),
        ({"key_type": "ec", "ec_params": b"junk", "ec_point": good}, "not DER ECParameters"),
        ({"key_type": "ec", "ec_params": bytes.fromhex("06032b6570"), "ec_point": bytes(32)}, "key type is EC"),
        ({"key_type": "ed25519", "ec_params": bytes.fromhex("06032b6571"), "ec_point": bytes(57)}, "only Ed25519"),
        ({"key_type": "dsa"}, "unsupported key type"),
        ({"key_type": "rsa", "modulus": b"", "public_exponent": b"\x01\x00\x01"}, "CKA_MODULUS"),
        ({"key_type": "rsa", "modulus": b"\x03", "public_exponent": b"\x01\x00\x01"}, "RSA public key"),
    ]
    for kw, needle in cases:
        with pytest.raises(ValueError, match=needle):
            spki_from_token_attrs(**kw)  # type: ignore[arg-type]


# ---- self-signed certificates -----------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=timezone.utc)


def _cert(k: SoftKey, hash_name: str | None, **kw: object) -> bytes:
    sign, sig_alg = k.signer(hash_name)
    args: dict[str, object] = {"subject": parse_dn("CN=colin,OU=a,OU=b,O=SSS,C=GB"), "days": 365, "now": NOW}
    args.update(kw)
    return build_self_signed(spki_der=k.spki, sign=sign, sig_alg=sig_alg, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(("key_name", "hash_name"), KEY_AND_HASH)
def test_self_signed_fields(soft_keys: dict[str, SoftKey], key_name: str, hash_name: str | None) -> None:
    k = soft_keys[key_name]
    cert = x509.load_der_x509_certificate(_cert(k, hash_name, sans=["DNS:mq.example.com"], eku=["serverAuth"]))
    cert.verify_directly_issued_by(cert)
    assert cert.version == x509.Version.v3
    assert cert.subject == cert.issuer
    assert cert.subject.rfc4514_string() == "CN=colin,OU=a,OU=b,O=SSS,C=GB"
    assert 0 < cert.serial_number and cert.serial_number.bit_length() == 159
    assert cert.not_valid_before_utc == NOW.replace(microsecond=0)
    assert cert.not_valid_after_utc == NOW.replace(microsecond=0) + timedelta(days=365)
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert ski.value == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())  # type: ignore[arg-type]
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.value.digest
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    assert list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == [
        x509.DNSName("mq.example.com")]


def test_self_signed_ca(soft_keys: dict[str, SoftKey]) -> None:
    cert = x509.load_der_x509_certificate(_cert(soft_keys["p256"], "sha256", is_ca=True))
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature


@pytest.mark.parametrize(("kw", "exc", "needle"), [
    ({"is_ca": True, "key_usage": ["digitalSignature"]}, ValueError, "needs keyCertSign"),
    ({"key_usage": ["keyCertSign"]}, ValueError, "needs a CA certificate"),
    ({"days": 0}, ValueError, "at least 1"),
    ({"days": 10**7}, ValueError, "year 9999"),
    ({"days": "365"}, TypeError, "days must be an int"),
    ({"serial": 0}, ValueError, "positive"),
    ({"serial": 1 << 159}, ValueError, "20 octets"),
    ({"now": datetime(2026, 1, 1)}, ValueError, "timezone-aware"),
])
def test_self_signed_refuses(soft_keys: dict[str, SoftKey], kw: dict[str, object], exc: type[Exception],
                             needle: str) -> None:
    with pytest.raises(exc, match=needle):
        _cert(soft_keys["p256"], "sha256", **kw)


def test_self_signed_serial_and_time_encodings(soft_keys: dict[str, SoftKey]) -> None:
    der = _cert(soft_keys["p256"], "sha256", serial=12345, now=datetime(2049, 6, 1, tzinfo=timezone.utc))
    tbs = asn1_x509.Certificate.load(der)["tbs_certificate"]
    assert tbs["serial_number"].native == 12345
    # RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
    assert tbs["validity"]["not_before"].name == "utc_time"
    assert tbs["validity"]["not_after"].name == "general_time"
    verify_self_signed(der)


def test_verify_self_signed_catches_tampering(soft_keys: dict[str, SoftKey]) -> None:
    der = bytearray(_cert(soft_keys["rsa2048"], "sha256"))
    der[der.index(b"colin")] ^= 0x20
    with pytest.raises(ValueError):
        verify_self_signed(bytes(der))


@pytest.mark.interop
@no_openssl
@pytest.mark.parametrize(("key_name", "hash_name"), KEY_AND_HASH)
@pytest.mark.parametrize("is_ca", [False, True])
def test_self_signed_passes_openssl_strict_verify(soft_keys: dict[str, SoftKey], key_name: str,
                                                  hash_name: str | None, is_ca: bool, tmp_path: Path) -> None:
    der = _cert(soft_keys[key_name], hash_name, is_ca=is_ca, now=datetime.now(timezone.utc))
    pem = tmp_path / "c.pem"
    pem.write_text(x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode())
    out = _openssl("verify", "-x509_strict", "-CAfile", str(pem), str(pem))
    assert out.stdout.strip() == f"{pem}: OK", out.stderr
    subject = _openssl("x509", "-in", str(pem), "-noout", "-subject", "-nameopt", "RFC2253")
    assert subject.stdout.strip() == "subject=CN=colin,OU=a,OU=b,O=SSS,C=GB"

