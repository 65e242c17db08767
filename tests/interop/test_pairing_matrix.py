"""Interop matrix (issue #12): objects made by other tools, our Java/NSS predictions against the tools.

One token holds every cell, made the way each tool makes it: pkcs11-tool with and without
--id, p11tool, `openssl req -engine pkcs11`, Java keytool (RSA and EC; genkeypair, and importcert of
a CA reply) and ikm-tui itself, plus the broken shapes the doctor repairs. `keytool -list` runs once,
`certutil -L -h all` once logged in and once before login; each cell then asserts that what
core/seen_by.py predicts for its certificates is what those tools printed.

The matrix runs on SoftHSM2 and on tpm2-pkcs11 1.9 (swtpm, tests/support/conformance.py). Measured
on tpm2-pkcs11 (2026-11-29), and asserted below rather than skipped:
- pkcs11-tool --keypairgen with and without --id, --write-object, --delete-object, p11tool
  --generate-privkey/--write, `keytool -genkeypair -keyalg EC`, `keytool -importcert`, `keytool -list`,
  `certutil -L -h all` (logged in and before login) all work as on SoftHSM, and every NSS and Java
  prediction of the other cells held unchanged.
- `pkcs11-tool --write-object --type cert` without --id stores a certificate with *no* CKA_ID
  attribute (C_GetAttributeValue: CKR_ATTRIBUTE_TYPE_INVALID; keys made without --id have an empty
  one, as on SoftHSM). Java's SunPKCS11 then fails to load the whole token ("load failed",
  CKR_ATTRIBUTE_TYPE_INVALID 0x102 from P11KeyStore.mapLabels): keytool lists nothing. seen_by
  predicted Java entries there at first; it now predicts nothing, with that reason (ObjectInfo.
  id_absent). Java is therefore listed before that cell is made, and once more after it.
- `keytool -genkeypair -keyalg RSA` fails: tpm2-pkcs11 refuses Java's C_CreateObject of the private
  key ("Can only create RSA Public key objects or data objects, CKA_CLASS(3)"):
  CKR_ATTRIBUTE_VALUE_INVALID. Those two cells hold no objects there (test_what_tpm2_refuses).
- `keytool -genkeypair -keyalg EC` leaves a public-key object with empty label and empty CKA_ID
  beside the private key (SoftHSM: none); it pairs with nothing, so NSS before login still shows
  `,,` for that cert, as predicted.
- The OpenSSL pkcs11 engine (libp11 0.4.12, OpenSSL 3.0) cannot log in to tpm2-pkcs11: in the
  openssl process tss2-esys fails to encrypt the session salt ("Could not create rsa key",
  EVP fromdata_init "operation not supported for this keytype"), so C_Login fails and no key loads.
  Requests for the tpm2 cells are therefore made from the public key the token holds (read by
  pkcs11-tool) and test_engine_finds_every_key_we_say_it_finds asserts the refusal there.
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
from tests.support.conformance import drop_token, make_token
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
KINDS = ("softhsm", "tpm2")
# tpm2-pkcs11: Java cannot make RSA keys (no objects; the refusal is asserted), so the CA cert
# Java stores without a label comes with the EC reply.
TPM2_CELLS = CELLS | {
    "keytool -genkeypair RSA": [],
    "keytool -genkeypair RSA + importcert CA reply": [],
    "keytool -genkeypair EC + importcert CA reply": ["java_ec", ""],
}
NOID_CELL = "pkcs11-tool without --id (the seed's flow)"
JAVA_RSA_CELLS = ("keytool -genkeypair RSA", "keytool -genkeypair RSA + importcert CA reply")


def _keytool(tok: Any, tmp: Path, *args: str, check: bool = True) -> str:
    cfg, pw = tmp / "sunpkcs11.cfg", tmp / "storepass"
    cfg.write_text(f"name = ikmtest\nlibrary = {tok.module}\nslot = {tok.slot_id}\n")
    pw.write_text(tok.pin)
    res = subprocess.run([need("keytool"), *args, "-storetype", "PKCS11", "-providerClass",
                          "sun.security.pkcs11.SunPKCS11", "-providerArg", str(cfg), "-keystore", "NONE",
                          "-storepass:file", str(pw)], env=tok.env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 or not check, res.stdout + res.stderr
    return res.stdout + res.stderr


def _request(tok: Any, tmp: Path, ca: OpensslCA, key_label: str, cn: str, out: Path) -> Path:
    """A certificate for the key `key_label` signed by `ca`: from an engine request, or on tpm2
    (where the engine cannot log in) for the public key the token holds, read by pkcs11-tool."""
    if getattr(tok, "kind", "softhsm") != "tpm2":
        return ca.sign(engine_csr(tok, tmp, key_label, cn), out)
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    pub = tmp / f"{key_label}.pub.der"
    pkcs11_tool(tok, "--read-object", "--type", "pubkey", "--label", key_label, "-o", str(pub))
    ca_cert = x509.load_pem_x509_certificate(ca.pem.read_bytes())
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), None)
    ca._serial += 1  # noqa: SLF001 - one serial counter for both ways of issuing
    now = datetime.now(timezone.utc)
    key: Any = serialization.load_der_public_key(pub.read_bytes())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_cert.subject).public_key(key)
            .serial_number(ca._serial).not_valid_before(now - timedelta(days=1))  # noqa: SLF001
            .not_valid_after(now + timedelta(days=30))
            # What `openssl x509 -req` adds too: `cert receive` lint refuses a cert without an AKI.
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),  # type: ignore[arg-type]
                           critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    out.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return out


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
    pem = _request(tok, tmp, ca, key_label, key_label, tmp / f"{cert_label}-{key_label}.pem")
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
    pem = _request(tok, tmp, ca, "p11t", "p11t", tmp / "p11t.pem")
    subprocess.run(base + ["--write", "--load-certificate", str(pem), "--label", "p11t", url], env=env,
                   check=True, capture_output=True, timeout=60)


def _build(tok: Any, tmp: Path, ca: OpensslCA) -> dict[str, str]:
    """Make every cell; returns what the module refused, by cell (only tpm2-pkcs11 refuses).

    On tpm2 the cell without --id comes later: its certificate stops Java loading the token.
    """
    refused: dict[str, str] = {}
    tpm2 = getattr(tok, "kind", "softhsm") == "tpm2"
    if not tpm2:
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
    if tpm2:
        for cell, alias in zip(JAVA_RSA_CELLS, ("java_rsa_self", "java_rsa"), strict=True):
            refused[cell] = _keytool(tok, tmp, "-genkeypair", "-alias", alias, "-keyalg", "RSA", "-keysize", "2048",
                                     "-dname", f"CN={alias}", check=False)
    else:
        _java_cell(tok, tmp, ca, "java_rsa_self", "rsa", reply=False)
        _java_cell(tok, tmp, ca, "java_rsa", "rsa", reply=True)
    _java_cell(tok, tmp, ca, "java_key", "ec", reply=False)
    _java_cell(tok, tmp, ca, "java_ec", "ec", reply=True)
    _refresh(tok)
    make_key(tok, "ikm1")
    signed = _request(tok, tmp, ca, "ikm1", "ikm1.example.com", tmp / "ikm1.pem")
    res = run_cli(tok, "cert", "receive", str(signed))
    assert res.returncode == 0, res.stderr
    # Another CA: Java's importcert already stored this one (without a label).
    res = run_cli(tok, "cert", "add", str(OpensslCA(tmp, "Other CA").pem), "--label", "Other CA")
    assert res.returncode == 0, res.stderr
    _refresh(tok)
    return refused


def _refresh(tok: Any) -> None:
    """tpm2-pkcs11 shows what other processes made only after C_Finalize + C_Initialize."""
    if getattr(tok, "kind", "softhsm") == "tpm2":
        tok.service.run(Backend.rescan)
        tok.slot_id = tok.service.run(Backend.find_slot, tok.label)


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
    kind: str
    tok: Any
    java_listing: Listing  # logged in, when keytool -list ran (tpm2: before the cell without --id)
    keytool_after: str  # tpm2: `keytool -list -debug` once the cell without --id is there
    listing: Listing  # logged in
    before: Listing  # before login
    keytool: dict[str, str]
    nss: list[tuple[str, str]]
    nss_before: list[tuple[str, str]]
    refused: dict[str, str]

    @property
    def cells(self) -> dict[str, list[str]]:
        return TPM2_CELLS if self.kind == "tpm2" else CELLS

    def certs(self, listing: Listing, labels: list[str]) -> list[Any]:
        return [o for o in listing.objects if o.cls is ObjClass.CERTIFICATE and o.label in labels]


@pytest.fixture(scope="module", params=KINDS)
def matrix(request: pytest.FixtureRequest, service: Any, module_path: str,
           tmp_path_factory: pytest.TempPathFactory) -> Any:
    for tool in ("keytool", "certutil", "p11tool", "pkcs11-tool", "openssl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    kind = request.param
    tmp = tmp_path_factory.mktemp(f"matrix-{kind}")
    # tpm2: swtpm + tpm2-abrmd + a store, started only for these parameters.
    tok: Any = (new_token(service, module_path) if kind == "softhsm"
           else make_token(kind, request.getfixturevalue("modules"), service, module_path))
    svc = tok.service
    try:
        ca = OpensslCA(tmp, "Matrix CA")
        refused = _build(tok, tmp, ca)
        tok.login()
        java_listing = svc.run(Backend.list_objects, tok.slot_id)
        keytool = keytool_entries(keytool_list(tok, tmp))
        after = ""
        if kind == "tpm2":
            _tool_pair(tok, tmp, ca, "my_key3", "my_key3")
            _refresh(tok)
            after = _keytool(tok, tmp, "-list", "-debug", check=False)
        svc.run(Backend.logout, tok.slot_id)
        before = svc.run(Backend.list_objects, tok.slot_id)
        tok.login()
        listing = svc.run(Backend.list_objects, tok.slot_id)
        yield Matrix(kind, tok, java_listing, after, listing, before, keytool,
                     certutil_table(tok, tmp, login=True), certutil_table(tok, tmp, login=False), refused)
    finally:
        try:
            svc.run(Backend.logout, tok.slot_id)
        except Exception:  # noqa: BLE001
            pass
        if kind == "softhsm":
            delete_token(tok)
        else:
            drop_token(tok)


def _nss_rows(m: Matrix, listing: Listing, labels: list[str]) -> list[tuple[str, str]]:
    views = seen_by(listing)
    return sorted((views[c.handle].nss.nickname, views[c.handle].nss.flags)  # type: ignore[union-attr]
                  for c in m.certs(listing, labels))


@pytest.mark.parametrize("cell", list(CELLS))
def test_java_sees_what_we_predict(matrix: Matrix, cell: str) -> None:
    labels = matrix.cells[cell]
    if not labels:
        assert cell in matrix.refused, f"{cell} made no certificate on {matrix.kind}"
    if matrix.kind == "tpm2" and cell == NOID_CELL:
        _java_cannot_load(matrix)
        return
    listing = matrix.java_listing
    views = seen_by(listing)
    predicted = {views[c.handle].java.alias: views[c.handle].java.entry
                 for c in matrix.certs(listing, labels) if views[c.handle].java.entry}
    assert all(views[c.handle].java.exact for c in matrix.certs(listing, labels))
    aliases = {a for a in matrix.keytool if a.split("/")[0] in labels}
    actual = {a: matrix.keytool[a] for a in aliases}
    assert predicted == actual, f"{cell}: keytool -list printed {actual}, we predicted {predicted}"


def _java_cannot_load(matrix: Matrix) -> None:
    """tpm2-pkcs11: the certificate pkcs11-tool wrote without --id has no CKA_ID attribute at all;
    SunPKCS11 reads CKA_ID of every certificate while loading and fails (measured: `keytool -list`
    exits 1, "load failed", caused by CKR_ATTRIBUTE_TYPE_INVALID 0x102 in P11KeyStore.mapLabels).
    We predict that Java lists nothing on the token, and say why."""
    assert "load failed" in matrix.keytool_after and "CKR_ATTRIBUTE_TYPE_INVALID" in matrix.keytool_after, \
        matrix.keytool_after[-2000:]
    (noid,) = matrix.certs(matrix.listing, ["my_key3"])
    assert noid.id_absent and noid.id == b""
    views = seen_by(matrix.listing)
    java = [views[o.handle].java for o in matrix.listing.objects if o.handle in views]
    assert java and all(j.entry == "" and "load fails" in j.why for j in java)


@pytest.mark.parametrize("cell", list(CELLS))
def test_nss_sees_what_we_predict(matrix: Matrix, cell: str) -> None:
    labels = matrix.cells[cell]
    if not labels:
        assert cell in matrix.refused, f"{cell} made no certificate on {matrix.kind}"
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
    labels = {label for cell in matrix.cells.values() for label in cell}
    # SoftHSM stores an empty CKA_ID on a cert written without --id; tpm2-pkcs11 none at all.
    absent = {o.label for o in matrix.listing.objects if o.id_absent}
    assert absent == ({"my_key3"} if matrix.kind == "tpm2" else set())
    assert {o.label for o in matrix.listing.objects if o.cls is ObjClass.CERTIFICATE} == labels
    # keytool and certutil print nothing we did not predict.
    predicted_java = {v.java.alias for v in seen_by(matrix.java_listing).values() if v.java.entry}
    assert set(matrix.keytool) == predicted_java
    assert len(matrix.nss) == len(matrix.nss_before) == len(m_certs := matrix.certs(matrix.listing, list(labels)))
    assert m_certs


def test_engine_finds_every_key_we_say_it_finds(matrix: Matrix, tmp_path: Path) -> None:
    """The predicted key URI signs a request through libp11; the Java keys (no label) by CKA_ID.

    On tpm2-pkcs11 the engine cannot log in (see the module docstring): every predicted URI is
    asserted to fail that way, the documented difference, not a wrong CKA_ID/label rule.
    """
    views = seen_by(matrix.listing)
    env = openssl_engine_env(matrix.tok, tmp_path)
    wanted = {"my_key3", "withid", "p11t", "ikm1", "java_key"} | ({"java_rsa"} if matrix.kind != "tpm2" else set())
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
        if matrix.kind == "tpm2":
            assert res.returncode != 0 and "Login to token failed" in res.stderr, f"{name}: {uri}: {res.stderr}"
        else:
            assert res.returncode == 0, f"{name}: {uri}: {res.stderr}"
        checked += 1
    assert checked == len(wanted)


def test_what_tpm2_refuses(matrix: Matrix) -> None:
    """Only tpm2-pkcs11 refuses a cell: Java's RSA keygen (it C_CreateObjects the private key)."""
    if matrix.kind != "tpm2":
        assert matrix.refused == {}
        return
    assert set(matrix.refused) == set(JAVA_RSA_CELLS)
    for cell, out in matrix.refused.items():
        assert "CKR_ATTRIBUTE_VALUE_INVALID" in out, f"{cell}: {out}"
    # Nothing of the refused keygen is left on the token (Java labels and IDs its objects by alias).
    assert not [o for o in matrix.listing.objects if o.label in ("java_rsa_self", "java_rsa")
                or o.id in (b"java_rsa_self", b"java_rsa")]
