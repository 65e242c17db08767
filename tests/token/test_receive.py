"""`cert receive` and the receive core on a real SoftHSM token (no external clients needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7

from ikm_tui.core.x509.certfile import parse_cert_data, read_cert_file
from ikm_tui.core.errors import IkmError
from ikm_tui.core.p11.keys import KeySpec, generate_keypair
from ikm_tui.core.model import ObjClass
from ikm_tui.core.ops.receive import apply_receive, preview_receive
from tests.support.helpers import SoftCA
from tests.interop.test_interop_receive import certs_with_id, object_count, objects, run_cli

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


def key_and_cert(tok: Any, label: str, spec: str = "rsa:2048", ca: SoftCA | None = None,
                 serial: int = 100) -> tuple[bytes, x509.Certificate, SoftCA]:
    tok.login()
    res = tok.service.run(generate_keypair, tok.slot_id, KeySpec.parse(spec), label)
    ca = ca or SoftCA()
    cert = ca.issue(serialization.load_der_public_key(res["spki"]), f"{label}.example.com", serial=serial)
    return bytes(res["id"]), cert, ca


def write(tmp: Path, name: str, data: bytes) -> str:
    p = tmp / name
    p.write_bytes(data)
    return str(p)


def test_not_our_key_refused_token_unchanged(token: Any, tmp_path: Path) -> None:
    key_and_cert(token, "mine")
    stranger = SoftCA().issue(ec.generate_private_key(ec.SECP256R1()).public_key(), "elsewhere.example.com")
    before = object_count(token)
    res = run_cli(token, "cert", "receive", write(tmp_path, "x.pem", stranger.public_bytes(PEM)))
    assert res.returncode == 1
    assert "matches no private key on this token" in res.stderr
    assert "nothing was written" in res.stderr
    assert "'mine' id=" in res.stderr  # the keys present are listed
    assert object_count(token) == before


def test_receive_twice_needs_replace_and_ends_with_one_cert(token: Any, tmp_path: Path) -> None:
    key_id, cert, ca = key_and_cert(token, "twice")
    # The CA travels with the certificate: without its issuer, receive refuses (chain-missing-issuer).
    first = write(tmp_path, "1.pem", cert.public_bytes(PEM) + ca.cert.public_bytes(PEM))
    assert run_cli(token, "cert", "receive", first).returncode == 0
    res = run_cli(token, "cert", "receive", first)
    assert res.returncode == 3 and "this very certificate" in res.stderr
    renewed = ca.issue(cert.public_key(), "twice.example.com", serial=101)
    second = write(tmp_path, "2.pem", renewed.public_bytes(PEM) + ca.cert.public_bytes(PEM))

    before = object_count(token)
    res = run_cli(token, "cert", "receive", second)
    assert res.returncode == 3
    assert "already has a certificate" in res.stderr and "--replace" in res.stderr
    assert object_count(token) == before
    assert [c.cert.serial for c in certs_with_id(token, key_id)] == ["64"]

    res = run_cli(token, "cert", "receive", second, "--replace")
    assert res.returncode == 0, res.stderr
    assert "removed old certificate 'twice'" in res.stdout and "serial=64" in res.stdout
    certs = certs_with_id(token, key_id)
    assert len(certs) == 1 and certs[0].cert.serial == "65" and certs[0].label == "twice"
    assert object_count(token) == before


def test_replace_writes_new_before_removing_old(token: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """If removing the old cert fails, the new one is already there: never a key without a cert."""
    key_id, cert, ca = key_and_cert(token, "order")
    der1 = cert.public_bytes(DER)
    token.service.run(apply_receive, token.slot_id, token.service.run(preview_receive, token.slot_id, [der1, ca.der]))
    der2 = ca.issue(cert.public_key(), "order.example.com", serial=102).public_bytes(DER)
    pv = token.service.run(preview_receive, token.slot_id, [der2, ca.der])
    assert pv.needs_replace and pv.existing[0].der == der1

    def broken_destroy(backend: Any, slot: int, handle: int) -> Any:
        class NoDestroy:
            def destroy(self) -> None:
                raise RuntimeError("simulated failure")
        return NoDestroy()

    from ikm_tui.core.p11.backend import Backend

    monkeypatch.setattr(Backend, "pkcs11_object", broken_destroy)
    with pytest.raises(IkmError, match="two certificates"):
        token.service.run(apply_receive, token.slot_id, pv, replace=True)
    monkeypatch.undo()
    values = {c.value for c in certs_with_id(token, key_id)}
    assert values == {der1, der2}


@pytest.mark.parametrize("form", ["p7b-pem", "p7b-der", "bundle"])
def test_pkcs7_and_bundle_with_chain(token: Any, tmp_path: Path, form: str) -> None:
    key_id, cert, ca = key_and_cert(token, "chained", "ec:p256")
    if form == "p7b-pem":
        data = pkcs7.serialize_certificates([ca.cert, cert], PEM)  # leaf not first on purpose
    elif form == "p7b-der":
        data = pkcs7.serialize_certificates([cert, ca.cert], DER)
    else:
        data = cert.public_bytes(PEM) + b"\n" + ca.cert.public_bytes(PEM)
    path = write(tmp_path, "in." + form, data)
    res = run_cli(token, "cert", "receive", path, "--with-chain")
    assert res.returncode == 0, res.stderr
    assert "by public-key object" in res.stdout
    objs = objects(token)
    leaf = [o for o in objs if o.cls is ObjClass.CERTIFICATE and o.id == key_id]
    cas = [o for o in objs if o.cls is ObjClass.CERTIFICATE and o.value == ca.der]
    assert len(leaf) == 1 and leaf[0].label == "chained" and leaf[0].cert_category == 1
    assert len(cas) == 1 and cas[0].label == "Test CA" and cas[0].cert_category == 2

    # A renewal with the same chain: the CA is already there (same DER) and is not stored twice.
    renewed = ca.issue(cert.public_key(), "chained.example.com", serial=200)
    path2 = write(tmp_path, "renewed.pem", renewed.public_bytes(PEM) + ca.cert.public_bytes(PEM))
    res = run_cli(token, "cert", "receive", path2, "--with-chain", "--replace")
    assert res.returncode == 0, res.stderr
    assert "chain: CN=Test CA -> present" in res.stdout
    assert len([o for o in objects(token) if o.cls is ObjClass.CERTIFICATE and o.value == ca.der]) == 1


def test_without_with_chain_the_ca_is_not_stored(token: Any, tmp_path: Path) -> None:
    _, cert, ca = key_and_cert(token, "nochain")
    path = write(tmp_path, "b.pem", cert.public_bytes(PEM) + ca.cert.public_bytes(PEM))
    res = run_cli(token, "cert", "receive", path)
    assert res.returncode == 0, res.stderr
    assert "not stored (no --with-chain)" in res.stdout
    assert not [o for o in objects(token) if o.value == ca.der]


def test_ec_key_without_public_object_matched_by_challenge(token: Any) -> None:
    key_id, cert, ca = key_and_cert(token, "lonely", "ec:p256")
    pub = next(o for o in objects(token) if o.cls is ObjClass.PUBLIC_KEY and o.id == key_id)
    token.service.run(lambda b, s, h: b.pkcs11_object(s, h).destroy(), token.slot_id, pub.handle)
    pv = token.service.run(preview_receive, token.slot_id, [cert.public_bytes(DER), ca.der])
    assert pv.match == "sign-and-verify challenge" and pv.key.id == key_id
    res = token.service.run(apply_receive, token.slot_id, pv)
    assert res.written.id == key_id and res.written.label == "lonely"


def test_challenge_rejects_other_key(token: Any) -> None:
    key_id, _, _ = key_and_cert(token, "lonely2", "ec:p256")
    pub = next(o for o in objects(token) if o.cls is ObjClass.PUBLIC_KEY and o.id == key_id)
    token.service.run(lambda b, s, h: b.pkcs11_object(s, h).destroy(), token.slot_id, pub.handle)
    other = SoftCA().issue(ec.generate_private_key(ec.SECP256R1()).public_key(), "other")
    with pytest.raises(IkmError, match="matches no private key"):
        token.service.run(preview_receive, token.slot_id, [other.public_bytes(DER)])


def test_receive_needs_login(token: Any, tmp_path: Path) -> None:
    _, cert, _ = key_and_cert(token, "nologin")
    res = run_cli(token, "cert", "receive", write(tmp_path, "c.pem", cert.public_bytes(PEM)), pin=None)
    assert res.returncode == 5
    assert "no terminal" in res.stderr or "login" in res.stderr.lower()


def test_preview_is_read_only_and_describes(token: Any) -> None:
    key_id, cert, ca = key_and_cert(token, "pv")
    before = object_count(token)
    pv = token.service.run(preview_receive, token.slot_id, [cert.public_bytes(DER), ca.der], "pem-bundle")
    assert object_count(token) == before
    assert pv.key.label == "pv" and pv.key.id == key_id and pv.label == "pv" and pv.match == "modulus"
    assert pv.leaf.fields.subject == "CN=pv.example.com" and pv.leaf.fields.issuer == "CN=Test CA"
    assert pv.existing == () and [c.action for c in pv.chain] == ["store"]
    assert pv.warnings == ()


# ----- certfile -----------------------------------------------------------------------------------
def _sample() -> tuple[x509.Certificate, SoftCA]:
    ca = SoftCA()
    return ca.issue(ec.generate_private_key(ec.SECP256R1()).public_key(), "leaf.example.com"), ca


def test_certfile_forms() -> None:
    leaf, ca = _sample()
    ld, cd = leaf.public_bytes(DER), ca.der
    assert parse_cert_data(ld).certs == (ld,) and parse_cert_data(ld).fmt == "der"
    assert parse_cert_data(leaf.public_bytes(PEM)).fmt == "pem"
    b = parse_cert_data(b"junk before\n" + leaf.public_bytes(PEM) + ca.cert.public_bytes(PEM) + leaf.public_bytes(PEM))
    assert b.fmt == "pem-bundle" and b.certs == (ld, cd)  # duplicate dropped, order kept
    # PKCS#7 holds a SET OF certificates: DER sorts them, so no order is promised.
    assert set(parse_cert_data(pkcs7.serialize_certificates([leaf, ca.cert], DER)).certs) == {ld, cd}
    p7 = parse_cert_data(pkcs7.serialize_certificates([leaf, ca.cert], PEM))
    assert p7.fmt == "pkcs7-pem" and set(p7.certs) == {ld, cd}
    crlf = leaf.public_bytes(PEM).replace(b"\n", b"\r\n")
    assert parse_cert_data(crlf).certs == (ld,)


def test_certfile_errors_say_what_was_given(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(IkmError, match="private key"):
        parse_cert_data(key_pem)
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])).sign(key, hashes.SHA256()))
    with pytest.raises(IkmError, match="request you sent"):
        parse_cert_data(csr.public_bytes(PEM))
    with pytest.raises(IkmError, match="neither a PEM file"):
        parse_cert_data(b"\x30\x03\x02\x01\x01")
    with pytest.raises(IkmError, match="empty"):
        parse_cert_data(b"  \n")
    with pytest.raises(IkmError, match="Cannot read"):
        read_cert_file(tmp_path / "missing.pem")
