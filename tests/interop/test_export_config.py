"""`export-config` (issue 18, "use this token elsewhere"): each generated file, run by the real tool.

One SoftHSM token, an RSA and an EC key with certificates made by `ikm-tui cert create` (one label
with a space, so the scripts' quoting is exercised). For each key the written proof scripts run
as an operator would run them, the PIN on stdin or through the tool's own password option:
keytool must list the key as a PrivateKeyEntry, certutil must show `token:label u,u,u`, the OpenSSL
engine must sign a request that verifies with the key's public key. pkcs11-provider has no Debian 12
package: where it is missing, the provider file must still parse and name the module path that
package uses. MQ's runmqakm is not installed here: its files are checked for IBM's documented shape.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.conftest import delete_token, new_token
from tests.interop.test_interop_receive import keytool_entries, need, nss_flags, run_cli
from tests.support.helpers import ENGINE

pytestmark = pytest.mark.interop

KEYS = {"web rsa": "rsa:2048", "web-ec": "ec:p256"}


@pytest.fixture(scope="module")
def tok(service: Any, module_path: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    t = new_token(service, module_path)
    tmp = tmp_path_factory.mktemp("use")
    for label, spec in KEYS.items():
        res = run_cli(t, "cert", "create", "--label", label, "--key-type", spec, "--subject", f"CN={label}",
                      "--out", str(tmp / f"{label}.pem"))
        assert res.returncode == 0, res.stderr
    t.certs = {label: x509.load_pem_x509_certificate((tmp / f"{label}.pem").read_bytes()) for label in KEYS}
    yield t
    delete_token(t)


def export(tok: Any, target: str, label: str, out: Path) -> dict[str, Any]:
    res = run_cli(tok, "export-config", target, "--key", label, "--out", str(out), "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    assert doc["error"] is None and doc["key"]["label"] == label
    for f in doc["files"]:
        path = Path(f["path"])
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.suffix == ".sh" else 0o644), (path, oct(mode))
        assert tok.pin not in path.read_text(), f"the PIN was written to {path}"
    return doc


def sh(tok: Any, script: str, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
       ) -> subprocess.CompletedProcess[str]:
    full = tok.env() | (env or {})
    full.pop("OPENSSL_CONF", None)
    return subprocess.run(["sh", script, *args], input=stdin, env=full, capture_output=True, text=True,
                          timeout=120, stdin=None if stdin is not None else subprocess.DEVNULL)


@pytest.mark.parametrize("label", list(KEYS))
def test_java_config_lists_the_key_as_private_key_entry(tok: Any, tmp_path: Path, label: str) -> None:
    need("keytool")
    doc = export(tok, "java", label, tmp_path / "java")
    # keytool reads the store password (the PIN) from stdin when there is no terminal.
    res = sh(tok, doc["proof"], stdin=tok.pin + "\n")
    assert res.returncode == 0, res.stdout + res.stderr
    assert keytool_entries(res.stdout).get(label) == "PrivateKeyEntry", res.stdout
    assert doc["key"]["java_alias"] == label and doc["expect"] == f"{label}, ..., PrivateKeyEntry"
    cfg = (tmp_path / "java" / "sunpkcs11.cfg").read_text()
    assert f"slot = {tok.slot_id}" in cfg and "library = " in cfg


@pytest.mark.parametrize("label", list(KEYS))
def test_nss_commands_show_the_certificate_as_user_cert(tok: Any, tmp_path: Path, label: str) -> None:
    need("certutil")
    need("modutil")
    doc = export(tok, "nss", label, tmp_path / "nss")
    env = {"NSSDB": f"sql:{tmp_path / 'nssdb'}"}
    res = sh(tok, str(tmp_path / "nss" / "nss-add-module.sh"), env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    pw = tmp_path / "pw"
    pw.write_text(tok.pin + "\n")
    res = sh(tok, doc["proof"], "-f", str(pw), env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert nss_flags(res.stdout, f"{tok.label}:{label}") == "u,u,u", res.stdout
    assert doc["key"]["nss_nickname"] == f"{tok.label}:{label}"


def _verify_csr_of(tok: Any, pem: str, label: str) -> None:
    csr = x509.load_pem_x509_csr(pem.encode())
    assert csr.is_signature_valid
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert csr.public_key().public_bytes(*spki) == tok.certs[label].public_key().public_bytes(*spki)


@pytest.mark.parametrize("label", list(KEYS))
def test_openssl_engine_config_signs_with_the_key(tok: Any, tmp_path: Path, label: str) -> None:
    if ENGINE is None:
        pytest.fail("libengine-pkcs11-openssl is not installed: run scripts/bootstrap.sh")
    doc = export(tok, "openssl", label, tmp_path / "ossl")
    assert doc["key"]["uri"].startswith(f"pkcs11:token={tok.label};object=")
    res = sh(tok, doc["proof"], "-passin", "env:IKM_TEST_PIN", env={"IKM_TEST_PIN": tok.pin})
    assert res.returncode == 0, res.stderr
    _verify_csr_of(tok, res.stdout, label)
    cnf = (tmp_path / "ossl" / "openssl-engine.cnf").read_text()
    assert f"dynamic_path = {ENGINE}" in cnf and f"MODULE_PATH = {tok.module}" in cnf


def test_openssl_provider_config(tok: Any, tmp_path: Path) -> None:
    """Signs through pkcs11-provider where it is installed; elsewhere OpenSSL must read the file and
    fail only for want of the provider module, at the path the file names."""
    label = "web-ec"
    doc = export(tok, "openssl", label, tmp_path / "ossl")
    script = str(tmp_path / "ossl" / "openssl-provider-check.sh")
    res = sh(tok, script, "-passin", "env:IKM_TEST_PIN", env={"IKM_TEST_PIN": tok.pin})
    installed = glob.glob("/usr/lib/*/ossl-modules/pkcs11.so")
    if installed:
        assert res.returncode == 0, res.stderr
        _verify_csr_of(tok, res.stdout, label)
        assert not [w for w in doc["warnings"] if "pkcs11-provider" in w]
    else:
        assert res.returncode != 0
        module = next(line.split(" = ", 1)[1] for line in
                      (tmp_path / "ossl" / "openssl-provider.cnf").read_text().splitlines()
                      if line.startswith("module = "))
        assert "unable to load provider pkcs11" in res.stderr and module in res.stderr, res.stderr
        assert any("pkcs11-provider is not installed" in w for w in doc["warnings"])


def test_mq_files_have_ibms_shape_and_no_pin(tok: Any, tmp_path: Path) -> None:
    label = "web rsa"
    doc = export(tok, "mq", label, tmp_path / "mq")
    client = (tmp_path / "mq" / "mqclient.ini").read_text().splitlines()
    stanza = {k.strip(): v for k, _, v in (line.partition("=") for line in client if line.startswith("   "))}
    assert "SSL:" in client
    crypto = stanza["SSLCryptoHardware"]
    # GSK_PKCS11=<module>;<token label>;<token password>;<symmetric cipher setting>; (IBM MQSCO CryptoHardware)
    assert crypto.startswith("GSK_PKCS11=") and crypto.endswith(";")
    module, token, password, cipher = crypto.removeprefix("GSK_PKCS11=").split(";")[:4]
    assert (module, token, password, cipher) == (tok.module, tok.label, "<PIN>", "SYMMETRIC_CIPHER_OFF")
    assert stanza["CertificateLabel"] == label
    mqsc = (tmp_path / "mq" / "qmgr.mqsc").read_text()
    assert f"SSLCRYP('{crypto}')" in mqsc and f"CERTLABL('{label}')" in mqsc
    readme = (tmp_path / "mq" / "README-mq.txt").read_text()
    assert "-stash" in readme and "runp11cred" in readme
    if shutil.which("runmqakm"):
        res = sh(tok, doc["proof"], "-pw", tok.pin)
        assert res.returncode == 0 and label in res.stdout, res.stdout + res.stderr


def test_existing_files_are_left_alone_without_force(tok: Any, tmp_path: Path) -> None:
    out = tmp_path / "java"
    export(tok, "java", "web-ec", out)
    (out / "README-java.txt").write_text("mine")
    before = {p.name: p.read_text() for p in out.iterdir()}
    res = run_cli(tok, "export-config", "java", "--key", "web rsa", "--out", str(out))
    assert res.returncode == 3, res.stderr
    assert {p.name: p.read_text() for p in out.iterdir()} == before
    res = run_cli(tok, "export-config", "java", "--key", "web rsa", "--out", str(out), "--force")
    assert res.returncode == 0, res.stderr
    assert (out / "README-java.txt").read_text() != "mine"
    # A link planted where a file goes is refused (core/files.py), even with --force; none is written.
    (out / "README-java.txt").unlink()
    os.symlink(tmp_path / "elsewhere", out / "README-java.txt")
    res = run_cli(tok, "export-config", "java", "--key", "web-ec", "--out", str(out), "--force")
    assert res.returncode == 1 and "symbolic link" in res.stderr, res.stderr
    assert not (tmp_path / "elsewhere").exists()
    # A link to a directory given as --out is followed, like any directory above a file.
    os.symlink(out, tmp_path / "link")
    res = run_cli(tok, "export-config", "nss", "--key", "web-ec", "--out", str(tmp_path / "link"))
    assert res.returncode == 0 and (out / "nss-check.sh").exists(), res.stderr
