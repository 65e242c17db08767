"""Interop matrix (issue #12): objects made by other tools, our Java/NSS predictions against the tools.

One SoftHSM token holds every cell, made the way each tool makes it: pkcs11-tool with and without
--id, p11tool, `openssl req -engine pkcs11`, Java keytool (RSA and EC; genkeypair, and importcert of
a CA reply) and ikm-tui itself, plus the broken shapes the doctor repairs. `keytool -list` runs once,
`certutil -L -h all` once logged in and once before login; each cell then asserts that what
core/seen_by.py predicts for its certificates is what those tools printed.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ikm_tui.core.model import Listing, ObjClass
from ikm_tui.core.seen_by import seen_by
from ikm_tui.core.p11.backend import Backend
from tests.conftest import delete_token, new_token
from tests.interop.test_interop_receive import (OpensslCA, engine_csr, keytool_entries, keytool_list, make_key,
                                                need, run_cli)
from tests.support.helpers import openssl_engine_env, pkcs11_tool

pytestmark = pytest.mark.interop

# cell name -> labels of the certificates it makes (each cell's objects carry distinct labels)
CELLS = {
    "pkcs11-tool without --id (the seed's flow)": ["my_key3"],
    "pkcs11-tool --id, RSA": ["withid"],
    "pkcs11-tool --id, EC": ["ecid"],
    "pkcs11-tool, cert under another CKA_ID": ["diffid"],
    "pkcs11-tool, cert label differs from key label": ["dl_cert"],
    "pkcs11-tool, two certs share a label": ["dup"],
    "pkcs11-tool, private key deleted, public key left": ["pubonly"],
    "p11tool": ["p11t"],
    "keytool -genkeypair RSA": ["java_rsa_self"],
    "keytool -genkeypair RSA + importcert CA reply": ["java_rsa", ""],
    "keytool -genkeypair EC": ["java_key"],
    "keytool -genkeypair EC + importcert CA reply": ["java_ec"],
    "ikm-tui keygen + engine request + cert receive": ["ikm1"],
    "ikm-tui cert add (a CA, no key)": ["Other CA"],
}


def _keytool(tok: Any, tmp: Path, *args: str) -> str:
    cfg, pw = tmp / "sunpkcs11.cfg", tmp / "storepass"
    cfg.write_text(f"name = ikmtest\nlibrary = {tok.module}\nslot = {tok.slot_id}\n")
    pw.write_text(tok.pin)
    res = subprocess.run([need("keytool"), *args, "-storetype", "PKCS11", "-providerClass",
                          "sun.security.pkcs11.SunPKCS11", "-providerArg", str(cfg), "-keystore", "NONE",
                          "-storepass:file", str(pw)], env=tok.env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def _java_cell(tok: Any, tmp: Path, ca: OpensslCA, alias: str, alg: str, reply: bool) -> None:
    keyalg = ["-keyalg", "RSA", "-keysize", "2048"] if alg == "rsa" else ["-keyalg", "EC", "-groupname", "secp256r1"]
    _keytool(tok, tmp, "-genkeypair", "-alias", alias, *keyalg, "-dname", f"CN={alias.replace('_', '-')}")
    if not reply:
        return
    csr = tmp / f"{alias}.csr"
    _keytool(tok, tmp, "-certreq", "-alias", alias, "-file", str(csr))
    csr.write_text(csr.read_text().replace("NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST"))
    signed = ca.sign(csr, tmp / f"{alias}.pem")
    chain = tmp / f"{alias}-chain.pem"
    chain.write_text(signed.read_text() + ca.pem.read_text())
    # -noprompt installs a reply whose root is not in cacerts; Java stores the CA cert too.
    _keytool(tok, tmp, "-importcert", "-noprompt", "-alias", alias, "-file", str(chain))


def _tool_pair(tok: Any, tmp: Path, ca: OpensslCA, key_label: str, cert_label: str, spec: str = "rsa:2048",
               key_id: str | None = None, cert_id: str | None = None) -> Path:
    """Key by pkcs11-tool, request by the OpenSSL engine, cert by `openssl x509 -req`, written by pkcs11-tool."""
    pkcs11_tool(tok, "--keypairgen", "--key-type", spec, "--label", key_label, *(["--id", key_id] if key_id else []))
    csr = engine_csr(tok, tmp, key_label, key_label)
    pem = ca.sign(csr, tmp / f"{cert_label}-{key_label}.pem")
    der = tmp / f"{cert_label}-{key_label}.der"
    subprocess.run(["openssl", "x509", "-in", str(pem), "-outform", "DER", "-out", str(der)], check=True)
    pkcs11_tool(tok, "--write-object", str(der), "--type", "cert", "--label", cert_label,
                *(["--id", cert_id] if cert_id else []))
    return der


def _p11tool_cell(tok: Any, tmp: Path, ca: OpensslCA) -> None:
    exe = need("p11tool")
    env = tok.env() | {"GNUTLS_PIN": tok.pin}
    url = f"pkcs11:token={tok.label}"
    base = [exe, "--provider", tok.module, "--login"]
    subprocess.run(base + ["--generate-privkey", "rsa", "--bits", "2048", "--label", "p11t", url], env=env,
                   check=True, capture_output=True, timeout=60)
    pem = ca.sign(engine_csr(tok, tmp, "p11t", "p11t"), tmp / "p11t.pem")
    subprocess.run(base + ["--write", "--load-certificate", str(pem), "--label", "p11t", url], env=env,
                   check=True, capture_output=True, timeout=60)


def _build(tok: Any, tmp: Path) -> None:
    ca = OpensslCA(tmp, "Matrix CA")
    _tool_pair(tok, tmp, ca, "my_key3", "my_key3")
    _tool_pair(tok, tmp, ca, "withid", "withid", key_id="0b", cert_id="0b")
    _tool_pair(tok, tmp, ca, "ecid", "ecid", spec="EC:prime256v1", key_id="0c", cert_id="0c")
    _tool_pair(tok, tmp, ca, "diffid", "diffid", key_id="0d", cert_id="0e")
    _tool_pair(tok, tmp, ca, "dl_key", "dl_cert", key_id="10", cert_id="10")
    _tool_pair(tok, tmp, ca, "dupa", "dup", key_id="11", cert_id="11")
    _tool_pair(tok, tmp, ca, "dupb", "dup", key_id="12", cert_id="12")
    _tool_pair(tok, tmp, ca, "pubonly", "pubonly", key_id="0f", cert_id="0f")
    pkcs11_tool(tok, "--delete-object", "--type", "privkey", "--id", "0f")
    _p11tool_cell(tok, tmp, ca)
    _java_cell(tok, tmp, ca, "java_rsa_self", "rsa", reply=False)
    _java_cell(tok, tmp, ca, "java_rsa", "rsa", reply=True)
    _java_cell(tok, tmp, ca, "java_key", "ec", reply=False)
    _java_cell(tok, tmp, ca, "java_ec", "ec", reply=True)
    make_key(tok, "ikm1")
    signed = ca.sign(engine_csr(tok, tmp, "ikm1", "ikm1.example.com"), tmp / "ikm1.pem")
    res = run_cli(tok, "cert", "receive", str(signed))
    assert res.returncode == 0, res.stderr
    # Another CA: Java's importcert already stored this one (without a label).
    res = run_cli(tok, "cert", "add", str(OpensslCA(tmp, "Other CA").pem), "--label", "Other CA")
    assert res.returncode == 0, res.stderr


def certutil_table(tok: Any, tmp: Path, login: bool) -> list[tuple[str, str]]:
    """(nickname, flags) rows of `certutil -L -h all`; before login without a password file."""
    certutil, modutil = need("certutil"), need("modutil")
    db = tmp / "nssdb"
    if not db.exists():
        db.mkdir()
        subprocess.run([certutil, "-N", "-d", f"sql:{db}", "--empty-password"], check=True, capture_output=True)
        subprocess.run([modutil, "-add", "softhsm", "-libfile", tok.module, "-dbdir", f"sql:{db}", "-force"],
                       input="\n", env=tok.env(), check=True, capture_output=True, text=True)
    args = [certutil, "-L", "-h", "all", "-d", f"sql:{db}"]
    if login:
        pw = tmp / "nsspw"
        pw.write_text(tok.pin + "\n")
        args += ["-f", str(pw)]
    res = subprocess.run(args, env=tok.env(), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stdout + res.stderr
    rows = []
    for line in res.stdout.splitlines()[3:]:
        if line.strip():
            # certutil pads the nickname to 61 columns; flags follow.
            rows.append((line[:61].rstrip(), line[61:].strip()))
    return sorted(rows)


@dataclass
class Matrix:
    tok: Any
    listing: Listing  # logged in
    before: Listing  # before login
    keytool: dict[str, str]
    nss: list[tuple[str, str]]
    nss_before: list[tuple[str, str]]

    def certs(self, listing: Listing, labels: list[str]) -> list[Any]:
        return [o for o in listing.objects if o.cls is ObjClass.CERTIFICATE and o.label in labels]


@pytest.fixture(scope="module")
def matrix(service: Any, module_path: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    for tool in ("keytool", "certutil", "p11tool", "pkcs11-tool", "openssl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    tmp = tmp_path_factory.mktemp("matrix")
    tok = new_token(service, module_path)
    try:
        _build(tok, tmp)
        service.run(Backend.logout, tok.slot_id)
        before = service.run(Backend.list_objects, tok.slot_id)
        tok.login()
        listing = service.run(Backend.list_objects, tok.slot_id)
        yield Matrix(tok, listing, before, keytool_entries(keytool_list(tok, tmp)),
                     certutil_table(tok, tmp, login=True), certutil_table(tok, tmp, login=False))
    finally:
        try:
            service.run(Backend.logout, tok.slot_id)
        except Exception:  # noqa: BLE001
            pass
        delete_token(tok)


def _nss_rows(m: Matrix, listing: Listing, labels: list[str]) -> list[tuple[str, str]]:
    views = seen_by(listing)
    return sorted((views[c.handle].nss.nickname, views[c.handle].nss.flags)  # type: ignore[union-attr]
                  for c in m.certs(listing, labels))


@pytest.mark.parametrize("cell", list(CELLS))
def test_java_sees_what_we_predict(matrix: Matrix, cell: str) -> None:
    labels = CELLS[cell]
    views = seen_by(matrix.listing)
    predicted = {views[c.handle].java.alias: views[c.handle].java.entry
                 for c in matrix.certs(matrix.listing, labels) if views[c.handle].java.entry}
    assert all(views[c.handle].java.exact for c in matrix.certs(matrix.listing, labels))
    aliases = {a for a in matrix.keytool if a.split("/")[0] in labels}
    actual = {a: matrix.keytool[a] for a in aliases}
    assert predicted == actual, f"{cell}: keytool -list printed {actual}, we predicted {predicted}"


@pytest.mark.parametrize("cell", list(CELLS))
def test_nss_sees_what_we_predict(matrix: Matrix, cell: str) -> None:
    labels = CELLS[cell]
    names = {f"{matrix.tok.label}:{label}" if label else "(NULL)" for label in labels}
    for listing, table, when in ((matrix.listing, matrix.nss, "logged in"),
                                 (matrix.before, matrix.nss_before, "before login")):
        actual = sorted(r for r in table if r[0] in names)
        assert _nss_rows(matrix, listing, labels) == actual, f"{cell}, {when}: certutil printed {actual}"
        # The list/TUI marker follows the tools: '-' exactly when NSS shows the cert as a user cert.
        views = seen_by(listing)
        for c in matrix.certs(listing, labels):
            assert (listing.pairing.markers[c.handle] == "-") == (views[c.handle].nss.flags == "u,u,u"), c.label  # type: ignore[union-attr]


def test_every_cert_of_the_token_is_in_a_cell(matrix: Matrix) -> None:
    labels = {label for cell in CELLS.values() for label in cell}
    assert {o.label for o in matrix.listing.objects if o.cls is ObjClass.CERTIFICATE} == labels
    # keytool and certutil print nothing we did not predict.
    predicted_java = {v.java.alias for v in seen_by(matrix.listing).values() if v.java.entry}
    assert set(matrix.keytool) == predicted_java
    assert len(matrix.nss) == len(matrix.nss_before) == len(m_certs := matrix.certs(matrix.listing, list(labels)))
    assert m_certs


def test_engine_finds_every_key_we_say_it_finds(matrix: Matrix, tmp_path: Path) -> None:
    """The predicted key URI signs a request through libp11; the Java keys (no label) by CKA_ID."""
    views = seen_by(matrix.listing)
    env = openssl_engine_env(matrix.tok, tmp_path)
    wanted = {"my_key3", "withid", "p11t", "ikm1", "java_rsa", "java_key"}
    checked = 0
    for o in matrix.listing.objects:
        if o.cls is not ObjClass.PRIVATE_KEY:
            continue
        v = views[o.handle]
        cert = matrix.listing.by_handle(v.tools_partner) if v.tools_partner is not None else None
        name = cert.label if cert is not None else o.label
        if name not in wanted:
            continue
        assert v.openssl is not None and v.openssl.finds and v.openssl.key_uri, name
        uri = v.openssl.key_uri
        res = subprocess.run(["openssl", "req", "-new", "-engine", "pkcs11", "-keyform", "engine", "-key", uri,
                              "-passin", "env:IKM_TEST_PIN", "-subj", "/CN=matrix", "-out", str(tmp_path / "m.csr")],
                             env=env, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, f"{name}: {uri}: {res.stderr}"
        checked += 1
    assert checked == len(wanted)
