"""Issue #12 must-shows 2-4 and item 5, checked with keytool, certutil and the OpenSSL engine on SoftHSM2."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from ikm_tui.core.model import ObjClass
from ikm_tui.core.p11.backend import Backend
from tests.interop.test_interop_receive import (OpensslCA, engine_still_signs, keytool_entries, keytool_list,
                                                objects, run_cli)
from tests.interop.test_pairing_matrix import _java_cell, _keytool, _tool_pair, certutil_table

pytestmark = pytest.mark.interop


def _nss(tok: Any, tmp: Path, label: str, login: bool = True) -> list[str]:
    return [flags for nick, flags in certutil_table(tok, tmp, login) if nick == f"{tok.label}:{label}"]


def test_seed_empty_id_pair_doctor_names_and_repairs_it(token: Any, tmp_path: Path) -> None:
    """Must show 2: pkcs11-tool without --id, engine request, openssl CA, pkcs11-tool --write-object."""
    ca = OpensslCA(tmp_path)
    der = _tool_pair(token, tmp_path, ca, "my_key3", "my_key3")
    assert keytool_entries(keytool_list(token, tmp_path)) == {}
    assert _nss(token, tmp_path, "my_key3") == [",,"]

    listed = json.loads(run_cli(token, "list", "--login", "--json").stdout)
    cert = next(o for o in listed["objects"] if o["class"] == "certificate")
    assert cert["marker"] == "!" and cert["has_private_key"] is True
    assert cert["seen_by"]["java"]["entry"] is None and cert["seen_by"]["nss"]["flags"] == ",,"
    assert cert["seen_by"]["crypto"] == "modulus" and cert["seen_by"]["agree"] is False

    res = run_cli(token, "cert", "doctor")
    assert res.returncode == 0, res.stderr
    assert "every key has its certificate" not in res.stdout
    modulus = x509.load_der_x509_certificate(der.read_bytes()).public_key().public_numbers().n  # type: ignore[union-attr]
    new_id = hashlib.sha1(modulus.to_bytes((modulus.bit_length() + 7) // 8, "big")).hexdigest()
    assert "problem: private key 'my_key3' (id empty) and its certificate 'my_key3' have an empty CKA_ID" in res.stdout
    assert (f"repair: set CKA_ID {new_id} on private key 'my_key3' (id empty), public key 'my_key3' (id empty), "
            "certificate 'my_key3' (id empty)") in res.stdout
    assert "1 repair(s) planned; nothing changed" in res.stdout
    assert {o.id for o in objects(token)} == {b""}

    res = run_cli(token, "cert", "doctor", "--fix", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    applied = [line for line in res.stdout.splitlines() if line.startswith(f"set CKA_ID {new_id} on")]
    assert len(applied) == 3 and all(line.endswith(": ok") for line in applied), res.stdout
    assert {(o.cls, o.id.hex()) for o in objects(token)} == {
        (ObjClass.PRIVATE_KEY, new_id), (ObjClass.PUBLIC_KEY, new_id), (ObjClass.CERTIFICATE, new_id)}
    assert keytool_entries(keytool_list(token, tmp_path)) == {"my_key3": "PrivateKeyEntry"}
    assert _nss(token, tmp_path, "my_key3") == ["u,u,u"]
    assert _nss(token, tmp_path, "my_key3", login=False) == ["u,u,u"]
    engine_still_signs(token, tmp_path, "my_key3")
    assert "every key has its certificate" in run_cli(token, "cert", "doctor").stdout


def test_id_repair_rolls_back_when_a_write_fails(token: Any, tmp_path: Path) -> None:
    import pkcs11.exceptions as p11x

    from ikm_tui.core.errors import IkmError
    from ikm_tui.core.ops.repair_ids import apply_id_repair, plan
    from tests.support import faults

    _tool_pair(token, tmp_path, OpensslCA(tmp_path), "my_key3", "my_key3")
    token.login()
    report, _ = plan(token.service.run(Backend.list_objects, token.slot_id))
    (repair,) = report.id_repairs
    with faults.installed(token.service, faults.FaultPlan().fail("pkcs11_object", p11x.AttributeReadOnly,
                                                                 on_call=3)):
        with pytest.raises(IkmError) as err:
            token.service.run(apply_id_repair, token.slot_id, repair)
    assert "set back" in str(err.value) and "certificate 'my_key3'" in str(err.value)
    assert {o.id for o in objects(token)} == {b""}


def test_java_ec_entry_is_paired_doctor_plans_nothing_receive_keeps_alias(token: Any, tmp_path: Path) -> None:
    """Must show 3: keytool -genkeypair -keyalg EC; no CKA_EC_POINT, no public-key object."""
    ca = OpensslCA(tmp_path)
    _java_cell(token, tmp_path, ca, "java_key", "ec", reply=False)
    listed = json.loads(run_cli(token, "list", "--login", "--json").stdout)
    cert = next(o for o in listed["objects"] if o["class"] == "certificate")
    assert cert["marker"] == "-" and cert["has_private_key"] is True
    assert cert["seen_by"]["java"] == {"entry": "PrivateKeyEntry", "alias": "java_key", "known": True,
                                       "exact": True, "why": cert["seen_by"]["java"]["why"]}
    assert cert["seen_by"]["crypto"] == "same CKA_ID only" and cert["seen_by"]["agree"] is True

    res = run_cli(token, "cert", "doctor")
    assert res.returncode == 0, res.stderr
    assert "every key has its certificate under the same CKA_ID and label" in res.stdout
    assert "a sign-and-verify challenge proved the pair" in res.stdout
    assert "repair" not in res.stdout.replace("no repair", "")

    # A CA-signed cert for the same key, received by ikm-tui: the alias stays java_key.
    csr = tmp_path / "java_key.csr"
    _keytool(token, tmp_path, "-certreq", "-alias", "java_key", "-file", str(csr))
    csr.write_text(csr.read_text().replace("NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST"))
    signed = ca.sign(csr, tmp_path / "java_key.pem", with_ca=True)
    res = run_cli(token, "cert", "receive", str(signed), "--replace")
    assert res.returncode == 0, res.stderr
    assert "sign-and-verify challenge" in res.stdout
    assert "will be stored with label 'java_key' id=6a6176615f6b6579" in res.stdout
    assert keytool_entries(keytool_list(token, tmp_path)) == {"java_key": "PrivateKeyEntry"}
    verbose = keytool_list(token, tmp_path, verbose=True)
    assert "Issuer: CN=Interop Test CA" in verbose


def test_before_login_a_cert_with_its_public_key_object_shows_its_key(token: Any, tmp_path: Path) -> None:
    """Must show 4: NSS pairs through the public-key object before login; so do we."""
    _tool_pair(token, tmp_path, OpensslCA(tmp_path), "web01", "web01", key_id="01", cert_id="01")
    res = run_cli(token, "list", "--json", pin=None)
    assert res.returncode == 0, res.stderr
    listed = json.loads(res.stdout)
    assert listed["token"]["logged_in"] is False
    cert = next(o for o in listed["objects"] if o["class"] == "certificate")
    assert cert["marker"] == "-"
    assert cert["seen_by"]["nss"]["flags"] == "u,u,u" and cert["seen_by"]["agree"] is True
    assert _nss(token, tmp_path, "web01", login=False) == ["u,u,u"]


def test_receive_on_an_empty_id_key_assigns_one_instead_of_copying(token: Any, tmp_path: Path) -> None:
    from tests.interop.test_interop_receive import engine_csr
    from tests.support.helpers import pkcs11_tool

    ca = OpensslCA(tmp_path)
    pkcs11_tool(token, "--keypairgen", "--key-type", "rsa:2048", "--label", "noid")
    signed = ca.sign(engine_csr(token, tmp_path, "noid", "noid"), tmp_path / "noid.pem", with_ca=True)
    res = run_cli(token, "cert", "receive", str(signed))
    assert res.returncode == 3 and "empty CKA_ID" in res.stderr and "--assign-id" in res.stderr
    assert not [o for o in objects(token) if o.cls is ObjClass.CERTIFICATE]
    res = run_cli(token, "cert", "receive", str(signed), "--assign-id")
    assert res.returncode == 0, res.stderr
    assert len({o.id for o in objects(token)}) == 1 and b"" not in {o.id for o in objects(token)}
    assert keytool_entries(keytool_list(token, tmp_path)) == {"noid": "PrivateKeyEntry"}


def test_extract_speaks_of_extracting(token: Any, tmp_path: Path) -> None:
    """Item 5: `cert extract` of a label printed 'Deleting the certificate failed'."""
    _tool_pair(token, tmp_path, OpensslCA(tmp_path), "my_key3", "my_key3")
    out = tmp_path / "x.pem"
    res = run_cli(token, "cert", "extract", "my_key3", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert out.read_text().startswith("-----BEGIN CERTIFICATE-----")
    res = run_cli(token, "cert", "extract", "nope", "--out", str(out))
    assert res.returncode == 4 and "Extracting the certificate failed" in res.stderr
    assert "Deleting" not in res.stderr


def test_doctor_fix_makes_every_pair_visible_to_java_and_nss(token: Any, tmp_path: Path) -> None:
    """Empty IDs, split IDs, split labels, Java entries without public keys: one `--fix --yes --public-keys`."""
    ca = OpensslCA(tmp_path)
    _tool_pair(token, tmp_path, ca, "my_key3", "my_key3")
    _tool_pair(token, tmp_path, ca, "diffid", "diffid", key_id="0d", cert_id="0e")
    _tool_pair(token, tmp_path, ca, "dl_key", "dl_cert", key_id="10", cert_id="10")
    _java_cell(token, tmp_path, ca, "java_key", "ec", reply=False)
    _java_cell(token, tmp_path, ca, "java_rsa", "rsa", reply=True)
    plan = run_cli(token, "cert", "doctor", "--public-keys")
    assert plan.returncode == 0, plan.stderr
    assert "create the public-key object for private key '' (id 6a6176615f6b6579)" in plan.stdout
    res = run_cli(token, "cert", "doctor", "--fix", "--yes", "--public-keys")
    assert res.returncode == 0, res.stdout + res.stderr
    after = run_cli(token, "cert", "doctor", "--public-keys")
    assert "every key has its certificate under the same CKA_ID and label" in after.stdout, after.stdout
    # Java's aliases stay (its keys have no label); the split label follows the key's.
    assert keytool_entries(keytool_list(token, tmp_path)) == {
        "my_key3": "PrivateKeyEntry", "diffid": "PrivateKeyEntry", "dl_key": "PrivateKeyEntry",
        "java_key": "PrivateKeyEntry", "java_rsa": "PrivateKeyEntry"}
    for login in (True, False):
        rows = dict(certutil_table(token, tmp_path, login))
        for label in ("my_key3", "diffid", "dl_key", "java_key", "java_rsa"):
            assert rows[f"{token.label}:{label}"] == "u,u,u", (label, login)
    for label in ("my_key3", "dl_key"):
        engine_still_signs(token, tmp_path, label)


def test_two_keys_under_one_id_get_their_own(token: Any, tmp_path: Path) -> None:
    """pkcs11-tool --id 01 twice: Java lists one entry; the doctor moves the second pair to its own ID."""
    ca = OpensslCA(tmp_path)
    _tool_pair(token, tmp_path, ca, "first", "first", key_id="01", cert_id="01")
    _tool_pair(token, tmp_path, ca, "second", "second", key_id="01", cert_id="01")
    assert len(keytool_entries(keytool_list(token, tmp_path))) == 1
    plan = run_cli(token, "cert", "doctor")
    assert "CKA_ID 01 is shared by 2 private keys of different public keys" in plan.stdout, plan.stdout
    assert "shares its CKA_ID with another private key" in plan.stdout
    res = run_cli(token, "cert", "doctor", "--fix", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert keytool_entries(keytool_list(token, tmp_path)) == {"first": "PrivateKeyEntry", "second": "PrivateKeyEntry"}
    rows = dict(certutil_table(token, tmp_path, login=False))
    assert rows[f"{token.label}:first"] == rows[f"{token.label}:second"] == "u,u,u"
    assert "every key has its certificate" in run_cli(token, "cert", "doctor").stdout
