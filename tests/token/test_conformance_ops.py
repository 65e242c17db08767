"""Module conformance of the CA, the journal, `expiry` and `export-config` on SoftHSM2, tpm2-pkcs11
on swtpm and p11-kit-client.so (same fixtures as test_conformance.py: a fresh token per test).

What other tools see is checked with those tools: openssl verify / crl -verify, the OpenSSL engine
through libengine-pkcs11, keytool.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ikm_tui.core.model import ObjClass
from ikm_tui.core.p11.backend import Backend
from tests.support.conformance import MODULE_KINDS, ModToken, drop_token, make_token
from tests.support.helpers import ENGINE, SoftCA
from tests.token.test_conformance import keys, listing, refresh, run_cli


@pytest.fixture(params=MODULE_KINDS)
def mtoken(request: pytest.FixtureRequest, modules: Any, service: Any, module_path: str) -> Iterator[ModToken]:
    tok = make_token(request.param, modules, service, module_path)
    yield tok
    drop_token(tok)


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)


def _labels(tok: ModToken) -> list[tuple[str, str]]:
    return sorted((o.cls.value, o.label) for o in listing(tok).objects)


# ----- CA ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("key_type", ["ec:p256", "rsa:3072"])  # the smallest EC and RSA a CA may have
def test_ca_create_sign_crl_verify_with_openssl(mtoken: ModToken, tmp_path: Path, key_type: str) -> None:
    ca_pem = tmp_path / "ca.pem"
    res = run_cli(mtoken, "ca", "create", "--label", "conf-ca", "--key-type", key_type, "--subject",
                  "CN=Conformance CA,O=ikm", "--days", "30", "--out", str(ca_pem))
    assert res.returncode == 0, res.stderr
    r = openssl("verify", "-x509_strict", "-CAfile", str(ca_pem), str(ca_pem))
    assert r.returncode == 0, r.stdout + r.stderr
    mtoken.login()
    priv = [o for o in keys(mtoken) if o.label == "conf-ca" and o.cls is ObjClass.PRIVATE_KEY]
    assert len(priv) == 1, keys(mtoken)
    # The CA key never leaves the token: CKA_EXTRACTABLE false (read back as such, not merely unreadable:
    # CKA_NEVER_EXTRACTABLE true), CKA_SENSITIVE true.
    flags = priv[0].flags
    assert "extractable" not in flags and {"never_extractable", "sensitive", "always_sensitive"} <= set(flags), flags

    csr, key = tmp_path / "srv.csr", tmp_path / "srv.key"
    made = openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                   str(key), "-out", str(csr), "-subj", "/O=ikm/CN=srv.test", "-addext", "subjectAltName=DNS:srv.test")
    assert made.returncode == 0, made.stderr
    leaf = tmp_path / "srv.pem"
    res = run_cli(mtoken, "ca", "sign", "--yes", str(csr), "--ca", "conf-ca", "--out", str(leaf), "--json")
    assert res.returncode == 0, res.stderr
    serial = json.loads(res.stdout)["serial"]
    r = openssl("verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", str(ca_pem), str(leaf))
    assert r.returncode == 0, r.stdout + r.stderr

    res = run_cli(mtoken, "ca", "revoke", "conf-ca", serial, "--reason", "superseded")
    assert res.returncode == 0, res.stderr
    crl = tmp_path / "ca.crl.pem"
    res = run_cli(mtoken, "ca", "crl", "conf-ca", "--out", str(crl))
    assert res.returncode == 0, res.stderr
    r = openssl("crl", "-in", str(crl), "-noout", "-verify", "-CAfile", str(ca_pem))
    assert r.returncode == 0 and "verify OK" in r.stdout + r.stderr, r.stdout + r.stderr
    r = openssl("verify", "-x509_strict", "-crl_check", "-CAfile", str(ca_pem), "-CRLfile", str(crl), str(leaf))
    assert r.returncode != 0 and "certificate revoked" in r.stdout + r.stderr, r.stdout + r.stderr


@pytest.mark.parametrize("key_type", ["ec:p384", "rsa:4096"])
def test_ca_create_larger_keys_or_the_exact_refusal(mtoken: ModToken, tmp_path: Path, key_type: str) -> None:
    ca_pem = tmp_path / "ca.pem"
    res = run_cli(mtoken, "ca", "create", "--label", "big-ca", "--key-type", key_type, "--subject", "CN=Big CA",
                  "--out", str(ca_pem))
    mtoken.login()
    if mtoken.kind == "tpm2" and key_type == "rsa:4096":
        # The TPM makes RSA 1024-3072 only: refused before any write, naming the CKR, and the advice
        # lists only key types `ca create` takes (not rsa:2048, which it refuses for a CA).
        assert res.returncode == 1, res.stderr
        assert "cannot make rsa:4096 keys" in res.stderr and "1024-3072 bits" in res.stderr, res.stderr
        assert "CKR_MECHANISM_INVALID" in res.stderr
        advice = res.stderr.split("Pick one it supports:", 1)[1].split(".")[0]
        assert [k.strip() for k in advice.split(",")] == ["rsa:3072", "ec:p256", "ec:p384"], res.stderr
        assert _labels(mtoken) == [] and not ca_pem.exists()
        return
    assert res.returncode == 0, res.stderr
    r = openssl("verify", "-x509_strict", "-CAfile", str(ca_pem), str(ca_pem))
    assert r.returncode == 0, r.stdout + r.stderr
    assert _labels(mtoken) == [("certificate", "big-ca"), ("private_key", "big-ca"), ("public_key", "big-ca")]


def test_ca_signs_a_request_pending_on_the_same_token_then_receive_pairs_it(mtoken: ModToken,
                                                                            tmp_path: Path) -> None:
    """The whole lifecycle on one token: its CA signs the request pending there (a file on tpm2,
    which keeps no data objects), and `cert receive` pairs the certificate with the key."""
    from ikm_tui.core.ops import pending as pending_ops

    ca_pem = tmp_path / "ca.pem"
    res = run_cli(mtoken, "ca", "create", "--label", "own-ca", "--key-type", "ec:p256", "--subject", "CN=Own CA",
                  "--out", str(ca_pem))
    assert res.returncode == 0, res.stderr
    res = run_cli(mtoken, "certreq", "create", "--label", "leaf", "--key-type", "ec:p256", "--subject", "CN=leaf",
                  "--san", "DNS:leaf.test", "--out", str(tmp_path / "leaf.csr"))
    assert res.returncode == 0, res.stderr
    leaf = tmp_path / "leaf.pem"
    res = run_cli(mtoken, "ca", "sign", "--yes", "--request-label", "leaf", "--request-token", mtoken.label,
                  "--ca", "own-ca", "--out", str(leaf))
    assert res.returncode == 0, res.stderr
    r = openssl("verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", str(ca_pem), str(leaf))
    assert r.returncode == 0, r.stdout + r.stderr
    chain = tmp_path / "chain.pem"
    chain.write_bytes(leaf.read_bytes() + ca_pem.read_bytes())
    res = run_cli(mtoken, "cert", "receive", str(chain))
    assert res.returncode == 0, res.stderr
    mtoken.login()
    lst = listing(mtoken)
    cert = next(o for o in lst.objects if o.cls is ObjClass.CERTIFICATE and o.label == "leaf")
    key = lst.by_handle(lst.pairing.cert_to_key[cert.handle])
    assert key is not None and key.label == "leaf" and key.id == cert.id
    assert mtoken.service.run(pending_ops.list_requests, mtoken.slot_id) == ()


# ----- journal ----------------------------------------------------------------------------------

def _pair(tok: ModToken, label: str) -> None:
    res = run_cli(tok, "cert", "create", "--label", label, "--key-type", "ec:p256", "--subject", f"CN={label}")
    assert res.returncode == 0, res.stderr
    tok.login()


BEFORE = [("certificate", "web"), ("private_key", "web"), ("public_key", "web")]
AFTER = [("certificate", "site"), ("private_key", "site"), ("public_key", "site")]


def _note(tok: ModToken) -> Path:
    from ikm_tui.core import journal
    from ikm_tui.core.tokenlock import token_key

    info = tok.service.run(Backend.token_info, tok.slot_id)
    return journal.journal_path(token_key(tok.service.module_path, info.serial, info.label))


def test_journaled_rename_leaves_no_note(mtoken: ModToken) -> None:
    _pair(mtoken, "web")
    assert not _note(mtoken).exists()
    res = run_cli(mtoken, "cert", "rename", "web", "site")
    assert res.returncode == 0, res.stderr
    mtoken.login()
    assert _labels(mtoken) == AFTER
    assert not _note(mtoken).exists()
    res = run_cli(mtoken, "journal", "show", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["state"] in ("none", None), res.stdout


def _cut(tok: ModToken, op: Any, plan: Any) -> None:
    """Run op with the journal active and the second object handle failing (tests/support/faults.py
    around this module's real backend), then leave the note as a killed run leaves it."""
    import pkcs11.exceptions as p11x

    from ikm_tui.core import journal
    from ikm_tui.core.errors import IkmError
    from tests.support import faults

    note = _note(tok)
    journal.begin(note, ["test", op.__name__], tok.label)
    journal.activate(note)
    cut = faults.FaultPlan().fail("pkcs11_object", p11x.DeviceRemoved, on_call=2)
    try:
        with faults.installed(tok.service, cut), pytest.raises(IkmError):
            tok.service.run(op, tok.slot_id, plan)
    finally:
        journal.activate(None)
    # As if that run had been killed: a note whose process still lives is a write in progress.
    entry = journal.read(note)
    assert entry is not None
    journal.write_entry(note, entry | {"pid": _dead_pid()})
    refresh(tok)
    tok.login()


def test_journaled_receive_replace_leaves_one_certificate_and_no_note(mtoken: ModToken, tmp_path: Path) -> None:
    """receive --replace writes the new certificate before it destroys the old one, journaled."""
    old_pem = tmp_path / "old.pem"
    res = run_cli(mtoken, "cert", "create", "--label", "web", "--key-type", "ec:p256", "--subject", "CN=web",
                  "--out", str(old_pem))
    assert res.returncode == 0, res.stderr
    ca = SoftCA()
    new = ca.issue(x509.load_pem_x509_certificate(old_pem.read_bytes()).public_key(), "web.test", serial=4242)
    chain = tmp_path / "new.pem"
    chain.write_bytes(new.public_bytes(serialization.Encoding.PEM) + ca.cert.public_bytes(serialization.Encoding.PEM))
    res = run_cli(mtoken, "cert", "receive", str(chain), "--replace")
    assert res.returncode == 0, res.stderr
    mtoken.login()
    assert not _note(mtoken).exists()
    certs = [o for o in listing(mtoken).objects if o.cls is ObjClass.CERTIFICATE and o.label == "web"]
    assert len(certs) == 1 and certs[0].value == new.public_bytes(serialization.Encoding.DER)
    assert ("private_key", "web") in _labels(mtoken)


@pytest.mark.parametrize("way", ["finish", "undo"])
def test_half_done_rename_is_finished_or_undone(mtoken: ModToken, way: str) -> None:
    from ikm_tui.core.ops import rename as rename_ops

    _pair(mtoken, "web")
    _cut(mtoken, rename_ops.apply_rename, mtoken.service.run(rename_ops.plan_rename, mtoken.slot_id, "web", "site"))
    note = _note(mtoken)
    half = _labels(mtoken)
    assert half not in (BEFORE, AFTER), half
    res = run_cli(mtoken, "journal", "show", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["state"] == "partial", res.stdout
    res = run_cli(mtoken, "journal", way)
    assert res.returncode == 0, res.stdout + res.stderr
    mtoken.login()
    assert _labels(mtoken) == (AFTER if way == "finish" else BEFORE)
    assert not note.exists()


def test_half_done_delete_cannot_be_undone_but_finished(mtoken: ModToken) -> None:
    from ikm_tui.core.ops import delete as delete_ops

    _pair(mtoken, "web")
    plan = mtoken.service.run(delete_ops.plan_delete_key, mtoken.slot_id, "web")
    assert [o.cls.value for o in plan.objects] == ["private_key", "public_key"]
    _cut(mtoken, delete_ops.apply_delete, plan)
    assert _labels(mtoken) == [("certificate", "web"), ("public_key", "web")]
    # A destroyed private key cannot come back: undo says so (3) and writes nothing.
    res = run_cli(mtoken, "journal", "undo")
    assert res.returncode == 3, res.stdout + res.stderr
    assert "cannot be brought back" in res.stderr and "journal finish" in res.stderr
    mtoken.login()
    assert _labels(mtoken) == [("certificate", "web"), ("public_key", "web")]
    res = run_cli(mtoken, "journal", "finish")
    assert res.returncode == 0, res.stdout + res.stderr
    mtoken.login()
    assert _labels(mtoken) == [("certificate", "web")]
    assert not _note(mtoken).exists()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# ----- expiry -----------------------------------------------------------------------------------

def test_expiry_json_sees_the_certificates_with_days_left(mtoken: ModToken) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from ikm_tui.core.p11.objects import write_certificate

    mtoken.login()
    ca = SoftCA()
    for i, days in enumerate((40, 5)):
        der = ca.issue(ec.generate_private_key(ec.SECP256R1()).public_key(), f"exp{days}.test", serial=500 + i,
                       days=days).public_bytes(serialization.Encoding.DER)
        mtoken.service.run(write_certificate, mtoken.slot_id, der, f"exp{days}", bytes([0x40 + i]))
    # And one with its key on the token, made by the module itself.
    res = run_cli(mtoken, "cert", "create", "--label", "paired", "--key-type", "ec:p256", "--subject", "CN=paired",
                  "--days", "20")
    assert res.returncode == 0, res.stderr
    res = run_cli(mtoken, "expiry", "--within", "10", "--json", pin=None)
    assert res.returncode == 6, res.stdout + res.stderr  # one is due
    doc = json.loads(res.stdout)
    mine = {c["label"]: c for c in doc["certificates"] if c["token"] == mtoken.label}
    assert set(mine) == {"exp40", "exp5", "paired"}, doc
    assert mine["exp40"]["days_left"] in (39, 40) and not mine["exp40"]["due"]
    assert mine["exp5"]["days_left"] in (4, 5) and mine["exp5"]["due"]
    assert mine["paired"]["days_left"] in (19, 20) and not mine["paired"]["due"]
    # Without a PIN the public key object tells that the key is on the token.
    assert mine["paired"]["key_on_token"] and mine["paired"]["key"] == "public", mine["paired"]
    assert not mine["exp5"]["key_on_token"] and mine["exp5"]["key"] is None
    assert doc["due"] >= 1 and not [p for p in doc["problems"] if p["counts"]], doc["problems"]
    assert [c["label"] for c in doc["certificates"] if c["token"] == mtoken.label] == ["exp5", "paired", "exp40"]


# ----- export-config ----------------------------------------------------------------------------

def _export(tok: ModToken, target: str, label: str, out: Path) -> dict[str, Any]:
    res = run_cli(tok, "export-config", target, "--key", label, "--out", str(out), "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    for f in doc["files"]:
        assert tok.pin not in Path(f["path"]).read_text(), f["path"]
    return doc


def _sh(tok: ModToken, script: str, *args: str, stdin: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = tok.env() | (env or {})
    full.pop("OPENSSL_CONF", None)
    return subprocess.run(["sh", script, *args], input=stdin, env=full, capture_output=True, text=True,
                          timeout=120, stdin=None if stdin is not None else subprocess.DEVNULL)


def test_export_config_openssl_engine_signs(mtoken: ModToken, tmp_path: Path) -> None:
    if ENGINE is None:
        pytest.fail("libengine-pkcs11-openssl is not installed: run scripts/bootstrap.sh")
    pem = tmp_path / "web.pem"
    res = run_cli(mtoken, "cert", "create", "--label", "web", "--key-type", "ec:p256", "--subject", "CN=web",
                  "--out", str(pem))
    assert res.returncode == 0, res.stderr
    doc = _export(mtoken, "openssl", "web", tmp_path / "ossl")
    cnf = (tmp_path / "ossl" / "openssl-engine.cnf").read_text()
    assert f"MODULE_PATH = {mtoken.module}" in cnf
    res = _sh(mtoken, doc["proof"], "-passin", "env:IKM_TEST_PIN", env={"IKM_TEST_PIN": mtoken.pin})
    warned = [w for w in doc["warnings"] if "cannot log in" in w]
    if mtoken.kind == "tpm2":
        # tpm2-pkcs11 encrypts its session salt with OpenSSL's RSA, which fails while libp11's engine
        # is loaded (tpm2-software/tpm2-tss#3151): export-config says so, and this is the refusal.
        assert warned and "pkcs11-provider" in warned[0], doc["warnings"]
        assert res.returncode != 0
        assert "Could not create rsa key" in res.stderr and "Login failed" in res.stderr, res.stderr
        return
    assert not warned, doc["warnings"]
    assert res.returncode == 0, res.stderr
    csr = x509.load_pem_x509_csr(res.stdout.encode())
    assert csr.is_signature_valid
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    assert csr.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)


def test_export_config_java_lists_private_key_entry(mtoken: ModToken, tmp_path: Path) -> None:
    import shutil

    from tests.interop.test_interop_receive import keytool_entries

    if shutil.which("keytool") is None:
        pytest.fail("keytool (a JDK) is not installed: run scripts/bootstrap.sh")
    res = run_cli(mtoken, "cert", "create", "--label", "web", "--key-type", "ec:p256", "--subject", "CN=web")
    assert res.returncode == 0, res.stderr
    doc = _export(mtoken, "java", "web", tmp_path / "java")
    res = _sh(mtoken, doc["proof"], stdin=mtoken.pin + "\n")
    assert res.returncode == 0, res.stdout + res.stderr
    assert keytool_entries(res.stdout).get("web") == "PrivateKeyEntry", res.stdout


# ----- certificate cache (issue 16) ---------------------------------------------------------------

def test_list_json_is_the_same_with_the_certificate_cache_off_empty_and_full(mtoken: ModToken,
                                                                               tmp_path: Path) -> None:
    """The cache is keyed by the certificate's bytes, whichever module holds them: one written by
    pkcs11-tool, one by ikm-tui, each listed with the cache off, empty and full."""
    import sys

    from ikm_tui.core.p11.objects import write_certificate

    ca = SoftCA("Cache conformance CA")
    leaf = ca.issue(ca.key.public_key(), "cache.test").public_bytes(serialization.Encoding.DER)
    (tmp_path / "ca.der").write_bytes(ca.der)
    done = subprocess.run(["pkcs11-tool", "--module", mtoken.module, "--token-label", mtoken.label, "--login",
                           "--pin", mtoken.pin, "--write-object", str(tmp_path / "ca.der"), "--type", "cert",
                           "--id", "c1", "--label", "cache-ca"], env=mtoken.env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    mtoken.login()
    mtoken.service.run(write_certificate, mtoken.slot_id, leaf, "cache-leaf", b"\xc2")

    def list_json(**extra: str) -> str:
        env = {**mtoken.env(), "IKM_PIN": mtoken.pin, **extra}
        res = subprocess.run([sys.executable, "-m", "ikm_tui", "--module", mtoken.module, "--token", mtoken.label,
                              "list", "--json"], env=env, capture_output=True, text=True, timeout=180)
        assert res.returncode == 0, res.stderr
        return res.stdout

    cache = str(tmp_path / "cache")
    off = list_json(IKM_CERT_CACHE="off")
    assert {o["label"] for o in json.loads(off)["objects"]} >= {"cache-ca", "cache-leaf"}
    assert list_json(XDG_CACHE_HOME=cache) == off  # empty: parsed, then kept
    assert list(Path(cache, "ikm-tui").glob("certs-*.marshal"))
    assert list_json(XDG_CACHE_HOME=cache) == off  # full: from the cache
