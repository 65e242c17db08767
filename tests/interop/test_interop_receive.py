"""The runmqakm flow end to end on SoftHSM: request -> openssl CA -> `cert receive` -> Java, NSS, OpenSSL.

The checks are the clients themselves: keytool must list a PrivateKeyEntry under the label,
certutil must show `token:label u,u,u`, and the OpenSSL pkcs11 engine must still sign with the key.
Helpers here are reused by the other receive/manage test files.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ikm_tui.core.p11.keys import KeySpec, generate_keypair
from ikm_tui.core.model import ObjClass
from ikm_tui.core.p11.objects import write_data_object
from ikm_tui.core.conventions import REQUEST_APPLICATION
from ikm_tui.core.p11.backend import Backend
from tests.support.helpers import openssl_engine_env


def run_cli(tok: Any, *args: str, pin: str | None = "default", extra_env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
    """`python -m ikm_tui --module M --token T ARGS`; the PIN travels in IKM_PIN, never argv."""
    env = tok.env()
    env.pop("IKM_PIN", None)
    if pin == "default":
        pin = tok.pin
    if pin is not None:
        env["IKM_PIN"] = pin
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "ikm_tui", "--module", tok.module, "--token", tok.label, *args],
                          env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def need(tool: str) -> str:
    exe = shutil.which(tool)
    if exe is None:
        pytest.skip(f"{tool} is not installed")
    return exe


def object_count(tok: Any) -> int:
    tok.login()
    return len(tok.service.run(Backend.list_objects, tok.slot_id).objects)


def objects(tok: Any) -> Any:
    tok.login()
    return tok.service.run(Backend.list_objects, tok.slot_id).objects


def certs_with_id(tok: Any, key_id: bytes) -> list[Any]:
    return [o for o in objects(tok) if o.cls is ObjClass.CERTIFICATE and o.id == key_id]


def make_key(tok: Any, label: str, spec: str = "rsa:2048") -> bytes:
    tok.login()
    res = tok.service.run(generate_keypair, tok.slot_id, KeySpec.parse(spec), label)
    return bytes(res["id"])


# ----- OpenSSL ---------------------------------------------------------------------------------


def engine_csr(tok: Any, tmp: Path, label: str, cn: str) -> Path:
    """A PKCS#10 request signed by the token key through the OpenSSL pkcs11 engine."""
    out = tmp / f"{label}.csr"
    uri = f"pkcs11:token={tok.label};object={label};type=private"
    res = subprocess.run([need("openssl"), "req", "-new", "-engine", "pkcs11", "-keyform", "engine", "-key", uri,
                          "-passin", "env:IKM_TEST_PIN", "-subj", f"/CN={cn}", "-out", str(out)],
                         env=openssl_engine_env(tok, tmp), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    verify = subprocess.run(["openssl", "req", "-in", str(out), "-noout", "-verify"], capture_output=True,
                            text=True)
    # `openssl req -verify` exits 0 even on a bad signature: read what it says.
    assert "verify OK" in (verify.stdout + verify.stderr) or "self-signature ok" in verify.stderr
    return out


class OpensslCA:
    """A CA on disk driven by the openssl command line (`openssl x509 -req -CA`)."""

    def __init__(self, tmp: Path, cn: str = "Interop Test CA") -> None:
        self.dir = tmp / ("ca-" + cn.replace(" ", "_"))
        self.dir.mkdir()
        self.key, self.pem = self.dir / "ca.key", self.dir / "ca.pem"
        subprocess.run([need("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", str(self.key), "-out", str(self.pem), "-subj", f"/CN={cn}",
                        "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
                        "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                       check=True, capture_output=True)
        self._serial = 0x1000

    def sign(self, csr: Path, out: Path, *, with_ca: bool = False) -> Path:
        """Sign `csr` into `out`; `with_ca` appends the CA certificate, the "full chain" CAs deliver
        (without its issuer, `cert receive` refuses the certificate: lint's chain-missing-issuer)."""
        self._serial += 1
        subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.pem), "-CAkey", str(self.key),
                        "-set_serial", str(self._serial), "-days", "30", "-out", str(out)],
                       check=True, capture_output=True)
        if with_ca:
            out.write_bytes(out.read_bytes() + self.pem.read_bytes())
        return out


def engine_still_signs(tok: Any, tmp: Path, label: str) -> None:
    out = tmp / "again.csr"
    uri = f"pkcs11:token={tok.label};object={label};type=private"
    res = subprocess.run(["openssl", "req", "-new", "-engine", "pkcs11", "-keyform", "engine", "-key", uri,
                          "-passin", "env:IKM_TEST_PIN", "-subj", "/CN=again", "-out", str(out)],
                         env=openssl_engine_env(tok, tmp), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert out.read_text().startswith("-----BEGIN CERTIFICATE REQUEST-----")


# ----- Java and NSS ----------------------------------------------------------------------------
def keytool_list(tok: Any, tmp: Path, verbose: bool = False) -> str:
    exe = need("keytool")
    cfg = tmp / "sunpkcs11.cfg"
    # `slot` is SoftHSM's slot id, derived from the token serial: the same in every process.
    cfg.write_text(f"name = ikmtest\nlibrary = {tok.module}\nslot = {tok.slot_id}\n")
    pw = tmp / "storepass"
    pw.write_text(tok.pin)
    # -storepass:file keeps the PIN out of argv.
    res = subprocess.run([exe, "-list", "-storetype", "PKCS11", "-providerClass", "sun.security.pkcs11.SunPKCS11",
                          "-providerArg", str(cfg), "-keystore", "NONE", "-storepass:file", str(pw)]
                         + (["-v"] if verbose else []),
                         env=tok.env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def certutil_list(tok: Any, tmp: Path) -> str:
    certutil, modutil = need("certutil"), need("modutil")
    db = tmp / "nssdb"
    if not db.exists():
        db.mkdir()
        subprocess.run([certutil, "-N", "-d", f"sql:{db}", "--empty-password"], check=True, capture_output=True)
        subprocess.run([modutil, "-add", "softhsm", "-libfile", tok.module, "-dbdir", f"sql:{db}", "-force"],
                       input="\n", env=tok.env(), check=True, capture_output=True, text=True)
    pw = tmp / "nsspw"
    pw.write_text(tok.pin + "\n")
    res = subprocess.run([certutil, "-L", "-h", "all", "-d", f"sql:{db}", "-f", str(pw)], env=tok.env(),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def keytool_entries(text: str) -> dict[str, str]:
    """alias -> entry type, from `keytool -list` output lines like `web01, PrivateKeyEntry, `."""
    out = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2 and parts[1].endswith("Entry"):
            out[parts[0]] = parts[1]
    return out


def nss_flags(text: str, nickname: str) -> str | None:
    for line in text.splitlines():
        if line.startswith(nickname + " "):
            return line[len(nickname):].strip()
    return None


# ----- the tests -------------------------------------------------------------------------------
@pytest.mark.interop
@pytest.mark.parametrize("spec", ["rsa:2048", "ec:p256"])
def test_classic_flow_java_nss_openssl(token: Any, tmp_path: Path, spec: str) -> None:
    label = "web01"
    key_id = make_key(token, label, spec)
    csr = engine_csr(token, tmp_path, label, "web01.example.com")
    # A pending request as the request command stores it; receive must mark it fulfilled.
    from cryptography import x509 as cx
    from cryptography.hazmat.primitives import serialization

    csr_der = cx.load_pem_x509_csr(csr.read_bytes()).public_bytes(serialization.Encoding.DER)
    token.service.run(write_data_object, token.slot_id, REQUEST_APPLICATION, label, csr_der)
    ca = OpensslCA(tmp_path)
    signed = ca.sign(csr, tmp_path / "web01.pem", with_ca=True)

    # Before: Java drops a key without a cert.
    assert label not in keytool_entries(keytool_list(token, tmp_path))

    res = run_cli(token, "cert", "receive", str(signed))
    assert res.returncode == 0, res.stderr
    assert f"matches private key 'web01' id={key_id.hex()}" in res.stdout
    assert "wrote certificate 'web01'" in res.stdout
    assert "removed pending request 'web01'" in res.stdout

    assert keytool_entries(keytool_list(token, tmp_path)).get(label) == "PrivateKeyEntry"
    assert nss_flags(certutil_list(token, tmp_path), f"{token.label}:{label}") == "u,u,u"
    engine_still_signs(token, tmp_path, label)

    certs = certs_with_id(token, key_id)
    assert len(certs) == 1 and certs[0].label == label and certs[0].cert_category == 1
    assert not [o for o in objects(token) if o.cls is ObjClass.DATA and o.application == REQUEST_APPLICATION]


@pytest.mark.interop
def test_rename_moves_java_alias_and_nss_nickname(token: Any, tmp_path: Path) -> None:
    key_id = make_key(token, "old-name")
    ca = OpensslCA(tmp_path)
    signed = ca.sign(engine_csr(token, tmp_path, "old-name", "svc.example.com"), tmp_path / "svc.pem", with_ca=True)
    assert run_cli(token, "cert", "receive", str(signed)).returncode == 0
    assert "old-name" in keytool_entries(keytool_list(token, tmp_path))

    res = run_cli(token, "cert", "rename", "old-name", "new-name")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("read back ok") == 3, res.stdout  # cert, private key, public key

    entries = keytool_entries(keytool_list(token, tmp_path))
    assert entries.get("new-name") == "PrivateKeyEntry" and "old-name" not in entries
    assert nss_flags(certutil_list(token, tmp_path), f"{token.label}:new-name") == "u,u,u"
    labels = {(o.cls, o.label) for o in objects(token) if o.id == key_id}
    assert labels == {(ObjClass.CERTIFICATE, "new-name"), (ObjClass.PRIVATE_KEY, "new-name"),
                      (ObjClass.PUBLIC_KEY, "new-name")}
    # The engine selects by label: the new one works.
    engine_still_signs(token, tmp_path, "new-name")


@pytest.mark.interop
def test_pkcs7_from_openssl_with_chain_java_sees_ca(token: Any, tmp_path: Path) -> None:
    make_key(token, "p7")
    ca = OpensslCA(tmp_path)
    leaf = ca.sign(engine_csr(token, tmp_path, "p7", "p7.example.com"), tmp_path / "p7.pem")
    p7b = tmp_path / "p7.p7b"
    subprocess.run(["openssl", "crl2pkcs7", "-nocrl", "-certfile", str(leaf), "-certfile", str(ca.pem),
                    "-outform", "DER", "-out", str(p7b)], check=True, capture_output=True)
    res = run_cli(token, "cert", "receive", str(p7b), "--with-chain")
    assert res.returncode == 0, res.stderr
    assert "stored CA certificate 'Interop Test CA'" in res.stdout
    entries = keytool_entries(keytool_list(token, tmp_path))
    # SunPKCS11 lists a cert without a key only when CKA_TRUSTED is set (SO only), so the CA is no
    # entry of its own; but Java finds it on the token by subject and builds the key's chain.
    assert entries == {"p7": "PrivateKeyEntry"}
    verbose = keytool_list(token, tmp_path, verbose=True)
    assert "Alias name: p7" in verbose and "Certificate chain length: 2" in verbose
    # NSS lists the CA under its label, without trust flags.
    nss = certutil_list(token, tmp_path)
    assert nss_flags(nss, f"{token.label}:p7") == "u,u,u"
    assert f"{token.label}:Interop Test CA" in nss


@pytest.mark.interop
def test_openssl_trusted_certificate_pem_is_read(tmp_path: Path) -> None:
    """`openssl x509 -trustout` writes TRUSTED CERTIFICATE (cert + trust settings): the cert is used."""
    from ikm_tui.core.x509.certfile import parse_cert_data

    need("openssl")
    key, pem = tmp_path / "k", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(pem), "-subj", "/CN=trusted", "-days", "2"],
                   check=True, capture_output=True)
    trusted = subprocess.run(["openssl", "x509", "-in", str(pem), "-addtrust", "serverAuth", "-trustout"],
                             check=True, capture_output=True).stdout
    assert b"BEGIN TRUSTED CERTIFICATE" in trusted
    der = subprocess.run(["openssl", "x509", "-in", str(pem), "-outform", "DER"], check=True,
                         capture_output=True).stdout
    assert parse_cert_data(trusted).certs == (der,)


@pytest.mark.interop
@pytest.mark.parametrize("spec", ["rsa:2048", "ec:p256"])
def test_request_made_by_ikm_tui_then_receive(token: Any, tmp_path: Path, spec: str) -> None:
    """Must-show 1 with ikm-tui's own `certreq create` (branch certreq); skipped until it is merged."""
    pytest.importorskip("ikm_tui.cli.certreq")
    csr = tmp_path / "mq1.csr"
    res = run_cli(token, "certreq", "create", "--label", "mq1", "--key-type", spec,
                  "--subject", "CN=mq1.example.com", "--out", str(csr))
    assert res.returncode == 0, res.stderr
    signed = OpensslCA(tmp_path).sign(csr, tmp_path / "mq1.pem", with_ca=True)
    res = run_cli(token, "cert", "receive", str(signed))
    assert res.returncode == 0, res.stderr
    assert "removed pending request 'mq1'" in res.stdout
    assert "no pending requests" in run_cli(token, "certreq", "list").stdout
    assert keytool_entries(keytool_list(token, tmp_path)).get("mq1") == "PrivateKeyEntry"
    assert nss_flags(certutil_list(token, tmp_path), f"{token.label}:mq1") == "u,u,u"
    engine_still_signs(token, tmp_path, "mq1")
