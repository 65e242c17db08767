"""`ikm-tui ca`: a CA on SoftHSM (EC and RSA) signs requests from openssl and from ikm-tui; openssl agrees."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ikm_tui.cli.main import main
from ikm_tui.core.ops import ca_log
from tests.conftest import delete_token, new_token

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


class CaWorld:
    """One token holding two CAs, made once through the CLI: `ec-ca` (ec:p384) and `rsa-ca` (rsa:3072)."""

    def __init__(self, tok: Any, tmp: Path) -> None:
        self.tok = tok
        self.tmp = tmp

    def cli(self, *argv: str, pin: bool = True, mp: pytest.MonkeyPatch) -> int:
        if pin:
            mp.setenv("IKM_PIN", self.tok.pin)
        else:
            mp.delenv("IKM_PIN", raising=False)
        try:
            return main(["--module", self.tok.module, "--token", self.tok.label, *argv])
        except SystemExit as exc:
            return int(exc.code or 0)

    def ca_pem(self, label: str) -> Path:
        return self.tmp / f"{label}.pem"


@pytest.fixture(scope="module")
def world(service: Any, module_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaWorld]:
    tok = new_token(service, module_path)
    w = CaWorld(tok, tmp_path_factory.mktemp("ca"))
    with pytest.MonkeyPatch.context() as mp:
        for label, kt in (("ec-ca", "ec:p384"), ("rsa-ca", "rsa:3072")):
            assert w.cli("ca", "create", "--label", label, "--key-type", kt, "--subject", f"CN=Test {label},O=ikm",
                         "--days", "3650", "--path-len", "0", "--out", str(w.ca_pem(label)), mp=mp) == 0
    yield w
    delete_token(tok)


def openssl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60, check=check)


def openssl_request(d: Path, name: str, *extra: str) -> tuple[Path, Path]:
    """(request, private key file) made by `openssl req -new -newkey ec` (P-256)."""
    csr, key = d / f"{name}.csr", d / f"{name}.key"
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
            "-out", str(csr), "-subj", f"/O=ikm/CN={name}.test",
            "-addext", f"subjectAltName=DNS:{name}.test,IP:127.0.0.1", *extra)
    return csr, key


def strict_verify(ca: Path, cert: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return openssl("verify", "-x509_strict", "-CAfile", str(ca), *extra, str(cert), check=False)


@pytest.mark.parametrize("label", ["ec-ca", "rsa-ca"])
def test_ca_certificate_has_the_ca_extensions(world: CaWorld, label: str) -> None:
    cert = x509.load_pem_x509_certificate(world.ca_pem(label).read_bytes())
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
    assert aki.key_identifier == ski.digest
    assert cert.issuer == cert.subject
    # openssl accepts it as its own trust anchor, strictly.
    r = strict_verify(world.ca_pem(label), world.ca_pem(label))
    assert r.returncode == 0, r.stdout + r.stderr


def test_ca_key_is_never_extractable(world: CaWorld) -> None:
    tool = shutil.which("pkcs11-tool")
    if tool is None:
        pytest.skip("pkcs11-tool (OpenSC) not installed")
    r = subprocess.run([tool, "--module", world.tok.module, "--token-label", world.tok.label, "--login",
                        "--pin", world.tok.pin, "-O", "--type", "privkey"],
                       capture_output=True, text=True, timeout=60, env=world.tok.env(), check=True)
    blocks = [b for b in r.stdout.split("Private Key Object") if "label:" in b]
    cas = [b for b in blocks if "ec-ca" in b or "rsa-ca" in b]
    assert len(cas) == 2, r.stdout
    for b in cas:
        assert "never extractable" in b and "always sensitive" in b, b


@pytest.mark.parametrize("label", ["ec-ca", "rsa-ca"])
def test_sign_an_openssl_request(world: CaWorld, label: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    csr, _key = openssl_request(tmp_path, f"srv-{label}")
    out = tmp_path / "srv.pem"
    assert world.cli("ca", "sign", "--yes", str(csr), "--ca", label, "--out", str(out), "--json", mp=monkeypatch) == 0
    doc = json.loads(capsys.readouterr().out)
    r = strict_verify(world.ca_pem(label), out, "-purpose", "sslserver")
    assert r.returncode == 0, r.stdout + r.stderr
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    ca = x509.load_pem_x509_certificate(world.ca_pem(label).read_bytes())
    assert cert.serial_number > 0 and len(f"{cert.serial_number:x}") == 32  # 16 bytes
    assert doc["serial"] == f"{cert.serial_number:X}"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_cert_sign and not ku.key_encipherment  # an EC leaf key
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [f"srv-{label}.test"]


def test_sign_an_ikm_request(world: CaWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csr = tmp_path / "cli.csr"
    assert world.cli("certreq", "create", "--label", "client1", "--key-type", "rsa:2048", "--subject",
                     "CN=client1,O=ikm", "--san", "DNS:client1.test", "--out", str(csr), mp=monkeypatch) == 0
    out = tmp_path / "client1.pem"
    assert world.cli("ca", "sign", "--yes", str(csr), "--ca", "ec-ca", "--out", str(out), "--profile", "client",
                     "--days", "30", mp=monkeypatch) == 0
    r = strict_verify(world.ca_pem("ec-ca"), out, "-purpose", "sslclient")
    assert r.returncode == 0, r.stdout + r.stderr
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment and not ku.key_cert_sign  # an RSA leaf key
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]


def test_a_leaf_never_gets_ca_bits_whatever_the_request_asks(world: CaWorld, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    csr, _ = openssl_request(tmp_path, "greedy", "-addext", "basicConstraints=critical,CA:TRUE",
                             "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")
    asked = openssl("req", "-in", str(csr), "-noout", "-text").stdout
    assert "CA:TRUE" in asked and "Certificate Sign" in asked
    for profile in ("server", "client", "both"):
        out = tmp_path / f"greedy-{profile}.pem"
        assert world.cli("ca", "sign", "--yes", str(csr), "--ca", "rsa-ca", "--out", str(out), "--profile", profile,
                         "--json", mp=monkeypatch) == 0
        doc = json.loads(capsys.readouterr().out)
        assert any("CA:TRUE" in w for w in doc["warnings"]) and any("keyCertSign" in w for w in doc["warnings"])
        text = openssl("x509", "-in", str(out), "-noout", "-text").stdout
        assert "CA:FALSE" in text and "CA:TRUE" not in text
        assert "Certificate Sign" not in text and "CRL Sign" not in text
        r = strict_verify(world.ca_pem("rsa-ca"), out)
        assert r.returncode == 0, r.stdout + r.stderr


def test_issue_log_lists_every_certificate(world: CaWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    csr, _ = openssl_request(tmp_path, "logged")
    out = tmp_path / "logged.pem"
    assert world.cli("ca", "sign", "--yes", str(csr), "--ca", "ec-ca", "--out", str(out), "--profile", "both",
                     "--san", "DNS:other.test", mp=monkeypatch) == 0
    capsys.readouterr()
    assert world.cli("ca", "list", "ec-ca", "--json", pin=False, mp=monkeypatch) == 0
    doc = json.loads(capsys.readouterr().out)
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    mine = [r for r in doc["issued"] if r["serial"] == f"{cert.serial_number:X}"]
    assert len(mine) == 1 and mine[0]["sans"] == ["DNS:other.test"] and mine[0]["profile"] == "both"
    assert len({r["serial"] for r in doc["issued"]}) == len(doc["issued"])
    log = Path(doc["log"])
    assert log.parent == ca_log.log_dir()
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_tls_handshake_with_an_issued_server_certificate(world: CaWorld, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    csr, key = openssl_request(tmp_path, "tls")
    cert = tmp_path / "tls.pem"
    assert world.cli("ca", "sign", "--yes", str(csr), "--ca", "ec-ca", "--out", str(cert), mp=monkeypatch) == 0
    port = _free_port()
    server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-quiet",
                               "-cert", str(cert), "-key", str(key)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and server.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        assert server.poll() is None, "s_server refused the issued certificate"
        r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-verify_return_error",
                            "-x509_strict", "-CAfile", str(world.ca_pem("ec-ca")), "-servername", "tls.test",
                            "-verify_hostname", "tls.test"], input="", capture_output=True, text=True, timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate(timeout=10)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "Verify return code: 0 (ok)" in out, out[-1500:]


def test_revoke_and_crl(world: CaWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    """`openssl crl -verify` accepts the token-signed CRL; `openssl verify -crl_check` then rejects the
    revoked certificate and still accepts one that was not revoked."""
    certs = {}
    for name in ("gone", "kept"):
        csr, _ = openssl_request(tmp_path, name)
        certs[name] = tmp_path / f"{name}.pem"
        assert world.cli("ca", "sign", "--yes", str(csr), "--ca", "rsa-ca", "--out", str(certs[name]),
                         mp=monkeypatch) == 0
    serial = f"{x509.load_pem_x509_certificate(certs['gone'].read_bytes()).serial_number:X}"
    capsys.readouterr()
    assert world.cli("ca", "revoke", "rsa-ca", serial, "--reason", "key_compromise", "--json", mp=monkeypatch) == 0
    assert json.loads(capsys.readouterr().out)["already"] is False
    assert world.cli("ca", "revoke", "rsa-ca", serial.lower(), "--json", mp=monkeypatch) == 0
    assert json.loads(capsys.readouterr().out)["already"] is True
    crl = tmp_path / "rsa-ca.crl.pem"
    assert world.cli("ca", "crl", "rsa-ca", "--out", str(crl), "--days", "3", mp=monkeypatch) == 0
    ca = str(world.ca_pem("rsa-ca"))
    r = openssl("crl", "-in", str(crl), "-noout", "-verify", "-CAfile", ca, check=False)
    assert r.returncode == 0 and "verify OK" in r.stdout + r.stderr, r.stdout + r.stderr
    text = openssl("crl", "-in", str(crl), "-noout", "-text").stdout
    assert f"Serial Number: {serial}" in text and "Key Compromise" in text and "CRL Number" in text
    r = openssl("verify", "-x509_strict", "-crl_check", "-CAfile", ca, "-CRLfile", str(crl), str(certs["gone"]),
                check=False)
    assert r.returncode != 0 and "certificate revoked" in r.stdout + r.stderr, r.stdout + r.stderr
    r = openssl("verify", "-x509_strict", "-crl_check", "-CAfile", ca, "-CRLfile", str(crl), str(certs["kept"]),
                check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_subca_profile_makes_a_ca_the_root_accepts(world: CaWorld, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root.pem"
    assert world.cli("ca", "create", "--label", "root-ca", "--key-type", "ec:p256", "--subject", "CN=Root,O=ikm",
                     "--out", str(root), mp=monkeypatch) == 0
    csr, _ = openssl_request(tmp_path, "sub")
    out = tmp_path / "sub.pem"
    assert world.cli("ca", "sign", "--yes", str(csr), "--ca", "root-ca", "--out", str(out), "--profile", "subca",
                     "--days", "365", mp=monkeypatch) == 0
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    r = strict_verify(root, out)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_request_whose_signature_fails_is_refused(world: CaWorld, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    csr, _ = openssl_request(tmp_path, "tampered")
    der = bytearray(subprocess.run(["openssl", "req", "-in", str(csr), "-outform", "DER"],
                                   capture_output=True, check=True, timeout=60).stdout)
    der[-5] ^= 0x01  # inside the signature
    bad = tmp_path / "tampered.der"
    bad.write_bytes(bytes(der))
    out = tmp_path / "tampered.pem"
    assert world.cli("ca", "sign", "--yes", str(bad), "--ca", "ec-ca", "--out", str(out), mp=monkeypatch) != 0
    assert "signature" in capsys.readouterr().err
    assert not out.exists()


def test_sign_shows_the_plan_and_issues_nothing_unconfirmed(world: CaWorld, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """No terminal (pytest's stdin) and no --yes: the plan is printed, exit 3, nothing written or logged."""
    csr, _ = openssl_request(tmp_path, "planned")
    out = tmp_path / "planned.pem"
    before = ca_log.read(_ca_sha256(world, "ec-ca"))
    assert world.cli("ca", "sign", str(csr), "--ca", "ec-ca", "--out", str(out), "--profile", "both",
                     "--days", "30", mp=monkeypatch) == 3
    text = capsys.readouterr()
    for needle in ("subject        CN=planned.test,O=ikm", "SANs           DNS:planned.test, IP:127.0.0.1",
                   "profile        both", "basic constr.  CA:FALSE", "key usage      digitalSignature",
                   "ext. key use   serverAuth, clientAuth", "(30 days)", "serial         "):
        assert needle in text.out, text.out
    assert "add --yes" in text.err
    assert world.cli("ca", "sign", str(csr), "--ca", "ec-ca", "--out", str(out), "--json", mp=monkeypatch) == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["issued"] is False and doc["serial"] is None
    plan = doc["plan"]
    assert plan["eku"] == ["serverAuth"] and plan["sans"] == ["DNS:planned.test", "IP:127.0.0.1"]
    assert plan["key_usage"] == ["digitalSignature"] and len(plan["serial"]) == 32
    assert not out.exists() and ca_log.read(_ca_sha256(world, "ec-ca")) == before


def _ca_sha256(world: CaWorld, label: str) -> str:
    import hashlib

    return hashlib.sha256(x509.load_pem_x509_certificate(world.ca_pem(label).read_bytes())
                          .public_bytes(serialization.Encoding.DER)).hexdigest()


def test_sign_a_request_pending_on_another_token(world: CaWorld, service: Any, module_path: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Two SoftHSM tokens: a request pending on one, named by label, is issued by the CA on the other,
    and the certificate is received on the token that holds the key."""
    other = new_token(service, module_path)
    try:
        monkeypatch.setenv("IKM_PIN", other.pin)
        base = ["--module", module_path, "--token", other.label]
        assert main([*base, "certreq", "create", "--label", "mq-far", "--key-type", "ec:p256", "--subject",
                     "CN=mq-far,O=ikm", "--san", "DNS:mq-far.test", "--out", str(tmp_path / "far.csr")]) == 0
        out = tmp_path / "mq-far.pem"
        capsys.readouterr()
        assert world.cli("ca", "sign", "--request-label", "mq-far", "--request-token", other.label,
                         "--ca", "ec-ca", "--out", str(out), "--yes", "--json", mp=monkeypatch) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["plan"]["request"] == f"pending request 'mq-far' on token {other.label!r}"
        r = strict_verify(world.ca_pem("ec-ca"), out, "-purpose", "sslserver")
        assert r.returncode == 0, r.stdout + r.stderr
        # Without --request-token: the one token that holds a request of that label.
        out2 = tmp_path / "mq-far2.pem"
        assert world.cli("ca", "sign", "--request-label", "mq-far", "--ca", "ec-ca", "--out", str(out2),
                         "--yes", mp=monkeypatch) == 0
        assert strict_verify(world.ca_pem("ec-ca"), out2).returncode == 0
        # The request's key is on the other token: the certificate is received there.
        monkeypatch.setenv("IKM_PIN", other.pin)
        assert main([*base, "cert", "add", str(world.ca_pem("ec-ca")), "--label", "ec-ca"]) == 0
        assert main([*base, "cert", "receive", str(out)]) == 0
        assert world.cli("ca", "sign", "--request-label", "mq-far", "--ca", "ec-ca", "--out", str(tmp_path / "x.pem"),
                         "--yes", mp=monkeypatch) == 4  # received: no longer pending
    finally:
        delete_token(other)


@pytest.mark.parametrize(("answer", "status"), [(b"y\n", 0), (b"n\n", 3)])
def test_sign_asks_on_a_terminal(world: CaWorld, tmp_path: Path, answer: bytes, status: int) -> None:
    """stdin a terminal, no --yes: the plan, then the question; 'y' issues, anything else does not."""
    import sys

    csr, _ = openssl_request(tmp_path, "asked")
    out = tmp_path / "asked.pem"
    master, slave = os.openpty()
    env = {**os.environ, **world.tok.env(), "IKM_PIN": world.tok.pin}
    try:
        proc = subprocess.Popen([sys.executable, "-m", "ikm_tui", "--module", world.tok.module, "--token",
                                 world.tok.label, "ca", "sign", str(csr), "--ca", "ec-ca", "--out", str(out)],
                                stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        os.write(master, answer)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == status, stdout.decode() + stderr.decode()
    assert b"subject        CN=asked.test,O=ikm" in stdout
    assert b"Issue this certificate, signed on the token? [y/N]" in stderr
    assert out.exists() == (status == 0)
    if status == 0:
        assert strict_verify(world.ca_pem("ec-ca"), out).returncode == 0
