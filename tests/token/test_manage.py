"""Delete, add, extract, rename, pairing doctor, public key export and PIN change on real SoftHSM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ikm_tui.core.ops import delete as delete_ops
from ikm_tui.core.ops import doctor as doctor_ops
from ikm_tui.core.ops import rename as rename_ops
from ikm_tui.core.errors import IkmError
from ikm_tui.core.model import ObjClass
from ikm_tui.core.p11.objects import write_certificate, write_data_object
from ikm_tui.core.conventions import REQUEST_APPLICATION
from ikm_tui.core.ops.receive import receive
from tests.support.helpers import SoftCA
from tests.interop.test_interop_receive import object_count, objects, run_cli
from tests.token.test_receive import key_and_cert, write

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


def received(tok: Any, label: str, spec: str = "rsa:2048") -> tuple[bytes, x509.Certificate, SoftCA]:
    key_id, cert, ca = key_and_cert(tok, label, spec)
    # With its CA, as CAs deliver it: a leaf whose issuer is nowhere is refused (lint chain-missing-issuer).
    tok.service.run(receive, tok.slot_id, (cert.public_bytes(DER), ca.der))
    return key_id, cert, ca


def test_cert_delete_needs_yes_and_warns_about_the_key(token: Any) -> None:
    key_id, _, _ = received(token, "gone")
    before = object_count(token)
    res = run_cli(token, "cert", "delete", "gone")
    assert res.returncode == 3 and "Nothing was deleted" in res.stderr
    assert "would delete: certificate 'gone' id=" + key_id.hex() in res.stdout
    assert object_count(token) == before
    res = run_cli(token, "cert", "delete", "gone", "--yes")
    assert res.returncode == 0, res.stderr
    assert "deleted: certificate 'gone'" in res.stdout and "stays on the token without a certificate" in res.stdout
    assert object_count(token) == before - 1
    assert not [o for o in objects(token) if o.cls is ObjClass.CERTIFICATE]


def test_cert_delete_duplicates_listed_then_picked_by_id(token: Any) -> None:
    ca = SoftCA()
    token.login()
    for i, serial in ((b"\x0a", 1), (b"\x0b", 2)):
        other = SoftCA(f"CA {serial}")
        token.service.run(write_certificate, token.slot_id, other.der, "dup", i, 2)
    before = object_count(token)
    res = run_cli(token, "cert", "delete", "dup", "--yes")
    assert res.returncode == 3
    assert "2 certificates are labelled 'dup'" in res.stderr
    assert "id=0a" in res.stderr and "id=0b" in res.stderr and "--id HEX" in res.stderr
    assert object_count(token) == before
    res = run_cli(token, "cert", "delete", "dup", "--id", "0b", "--yes")
    assert res.returncode == 0, res.stderr
    left = [o for o in objects(token) if o.cls is ObjClass.CERTIFICATE]
    assert [o.id for o in left] == [b"\x0a"]
    del ca


def test_key_delete_warns_cert_becomes_orphan(token: Any) -> None:
    key_id, _, _ = received(token, "k1")
    res = run_cli(token, "key", "delete", "k1")
    assert res.returncode == 3
    assert "would delete: private key 'k1'" in res.stdout and "would delete: public key 'k1'" in res.stdout
    assert "becomes an orphan" in res.stdout
    res = run_cli(token, "key", "delete", "k1", "--yes")
    assert res.returncode == 0, res.stderr
    left = [(o.cls, o.id) for o in objects(token)]
    assert left == [(ObjClass.CERTIFICATE, key_id)]


def test_cert_add_and_extract(token: Any, tmp_path: Path) -> None:
    ca = SoftCA("Example Root")
    path = write(tmp_path, "root.pem", ca.cert.public_bytes(PEM))
    res = run_cli(token, "cert", "add", path, "--label", "Example Root")
    assert res.returncode == 0, res.stderr
    obj = next(o for o in objects(token) if o.cls is ObjClass.CERTIFICATE)
    assert obj.label == "Example Root" and obj.cert_category == 2 and obj.value == ca.der
    res = run_cli(token, "cert", "add", path, "--label", "again")
    # Re-adding a CA that is there is not an error (issue #15): a note, status 0, nothing written.
    assert res.returncode == 0 and "already on the token as 'Example Root'" in res.stdout
    other = write(tmp_path, "other.pem", SoftCA("Other").cert.public_bytes(PEM))
    res = run_cli(token, "cert", "add", other, "--label", "Example Root")
    assert res.returncode == 3 and "already used" in res.stderr

    out = tmp_path / "x.pem"
    assert run_cli(token, "cert", "extract", "Example Root", "--out", str(out)).returncode == 0
    assert x509.load_pem_x509_certificate(out.read_bytes()).public_bytes(DER) == ca.der
    out2 = tmp_path / "x.der"
    assert run_cli(token, "cert", "extract", "Example Root", "--out", str(out2), "--format", "der").returncode == 0
    assert out2.read_bytes() == ca.der
    res = run_cli(token, "cert", "extract", "nope", "--out", str(out2))
    assert res.returncode == 4 and "Certificates present: 'Example Root'" in res.stderr


@pytest.mark.parametrize("spec", ["rsa:2048", "ec:p256"])
def test_key_export_public(token: Any, tmp_path: Path, spec: str) -> None:
    from ikm_tui.core.p11.keys import KeySpec, generate_keypair

    token.login()
    gen = token.service.run(generate_keypair, token.slot_id, KeySpec.parse(spec), "exp")
    out = tmp_path / "pub.pem"
    res = run_cli(token, "key", "export-public", "exp", "--out", str(out), pin=None)
    assert res.returncode == 0, res.stderr
    assert serialization.load_pem_public_key(out.read_bytes()).public_bytes(
        DER, serialization.PublicFormat.SubjectPublicKeyInfo) == gen["spki"]


def test_rename_core_renames_request_and_refuses_clash(token: Any) -> None:
    key_id, _, _ = received(token, "r1")
    received(token, "taken")
    with pytest.raises(IkmError, match="already used"):
        token.service.run(rename_ops.plan_rename, token.slot_id, "r1", "taken")
    # A pending request (e.g. for a renewal) is labelled after its key and follows the rename.
    token.service.run(write_data_object, token.slot_id, REQUEST_APPLICATION, "r1", b"\x30\x00")
    plan = token.service.run(rename_ops.plan_rename, token.slot_id, "r1", "r2")
    kinds = sorted(o.cls.value for o in plan.objects)
    assert kinds == ["certificate", "data", "private_key", "public_key"]
    results = token.service.run(rename_ops.apply_rename, token.slot_id, plan)
    assert all(r.ok for r in results)
    assert {o.label for o in objects(token) if o.id == key_id} == {"r2"}


def test_rename_reports_silently_ignored_write(token: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    received(token, "sticky")
    plan = token.service.run(rename_ops.plan_rename, token.slot_id, "sticky", "slippery")
    # A token that accepts C_SetAttributeValue but keeps the old label: simulate its read-back.
    monkeypatch.setattr(rename_ops, "_fresh_labels", lambda b, s, objs: {o.handle: "sticky" for o in objs})
    results = token.service.run(rename_ops.apply_rename, token.slot_id, plan)
    assert results and not any(r.ok for r in results)
    assert all(r.actual == "sticky" for r in results)


def test_doctor_finds_and_repairs_mislinked_cert(token: Any) -> None:
    key_id, cert, _ = key_and_cert(token, "doc", "ec:p256")
    key_and_cert(token, "lonely")
    token.service.run(write_certificate, token.slot_id, cert.public_bytes(DER), "other tool label", b"\x99", 1)
    stray = SoftCA().issue(SoftCA().key.public_key(), "stray.example.com")
    token.service.run(write_certificate, token.slot_id, stray.public_bytes(DER), "stray", b"\x77", 1)
    before = object_count(token)

    res = run_cli(token, "cert", "doctor")
    assert res.returncode == 0, res.stderr
    assert "repair: certificate 'other tool label' (id 99): CKA_ID 99 -> " + key_id.hex() in res.stdout
    assert "label 'other tool label' -> 'doc'" in res.stdout
    assert "key without certificate (Java keytool will not list it): private key 'lonely'" in res.stdout
    assert "certificate without a key on this token: certificate 'stray'" in res.stdout
    assert "nothing changed" in res.stdout

    res = run_cli(token, "cert", "doctor", "--fix")
    assert res.returncode == 3 and "--yes" in res.stderr
    cert_obj = next(o for o in objects(token) if o.cls is ObjClass.CERTIFICATE and o.label == "other tool label")
    assert cert_obj.id == b"\x99" and object_count(token) == before

    res = run_cli(token, "cert", "doctor", "--fix", "--yes")
    assert res.returncode == 0, res.stderr
    assert "(ok)" in res.stdout
    fixed = [o for o in objects(token) if o.cls is ObjClass.CERTIFICATE and o.id == key_id]
    assert len(fixed) == 1 and fixed[0].label == "doc"
    report = token.service.run(doctor_ops.diagnose, token.slot_id)
    assert report.repairs == ()


def test_doctor_blocks_repair_that_would_duplicate_id(token: Any) -> None:
    key_id, cert, ca = received(token, "dupe")
    second = ca.issue(cert.public_key(), "dupe.example.com", serial=300)
    token.service.run(write_certificate, token.slot_id, second.public_bytes(DER), "dupe", b"\x55", 1)
    report = token.service.run(doctor_ops.diagnose, token.slot_id)
    assert len(report.repairs) == 1 and report.repairs[0].blocked
    assert report.duplicate_certs and len(report.duplicate_certs[0]) == 2
    assert token.service.run(doctor_ops.apply_repairs, token.slot_id, report) == ()


def _pin_file(tmp: Path, name: str, value: str) -> str:
    p = tmp / name
    p.write_text(value + "\n")
    p.chmod(0o600)
    return str(p)


def test_pin_change_from_files(token: Any, tmp_path: Path) -> None:
    old = _pin_file(tmp_path, "old", token.pin)
    short = _pin_file(tmp_path, "short", "123")
    res = run_cli(token, "pin", "change", "--pin-file", old, "--new-pin-file", short, pin=None)
    assert res.returncode == 5 and "accepts 4..255" in res.stderr and "CKR_PIN_LEN_RANGE" in res.stderr

    wrong = _pin_file(tmp_path, "wrong", "00000000")
    new = _pin_file(tmp_path, "new", "97531864")
    res = run_cli(token, "pin", "change", "--pin-file", wrong, "--new-pin-file", new, pin=None)
    assert res.returncode == 5 and "CKR_PIN_INCORRECT" in res.stderr

    res = run_cli(token, "pin", "change", "--pin-file", old, "--new-pin-file", new, pin=None)
    assert res.returncode == 0, res.stderr
    assert run_cli(token, "list", "--json", pin="97531864").returncode == 0
    res = run_cli(token, "list", "--json", pin=token.pin)
    assert res.returncode == 5 and "CKR_PIN_INCORRECT" in res.stderr
    # Keep the fixture's teardown and later logins honest.
    res = run_cli(token, "pin", "change", "--pin-file", new, "--new-pin-file", old, pin=None)
    assert res.returncode == 0, res.stderr


def test_pin_change_without_terminal_says_how(token: Any) -> None:
    res = run_cli(token, "pin", "change")
    assert res.returncode == 5 and "--new-pin-file" in res.stderr


def test_help_has_examples() -> None:
    import subprocess
    import sys

    for cmd in (["cert", "receive"], ["cert", "delete"], ["cert", "rename"], ["cert", "doctor"], ["cert", "add"],
                ["cert", "extract"], ["key", "export-public"], ["key", "delete"], ["pin", "change"]):
        res = subprocess.run([sys.executable, "-m", "ikm_tui", *cmd, "--help"], capture_output=True, text=True)
        assert res.returncode == 0 and "examples:" in res.stdout, cmd


def test_list_json_shows_request_as_data(token: Any) -> None:
    token.login()
    token.service.run(write_data_object, token.slot_id, REQUEST_APPLICATION, "req", b"\x30\x00")
    data = json.loads(run_cli(token, "list", "--json").stdout)
    assert [o["application"] for o in data["objects"] if o["class"] == "data"] == [REQUEST_APPLICATION]


def test_plan_delete_object_by_handle_among_duplicates(token: Any) -> None:
    """The TUI deletes the selected object by handle: a same-label duplicate stays and is named."""
    token.login()
    ca = SoftCA()
    from cryptography.hazmat.primitives.asymmetric import ec

    for n in (1, 2):
        der = ca.issue(ec.generate_private_key(ec.SECP256R1()).public_key(), "twin.example", serial=n)
        token.service.run(write_certificate, token.slot_id, der.public_bytes(DER), "twin", bytes([n]))
    twin2 = next(o for o in objects(token) if o.label == "twin" and o.id == b"\x02")
    plan = token.service.run(delete_ops.plan_delete_object, token.slot_id, twin2.handle)
    assert [o.handle for o in plan.objects] == [twin2.handle]
    assert any("other certificate(s) labelled 'twin' are NOT deleted" in w and "id=01" in w for w in plan.warnings)
    token.service.run(delete_ops.apply_delete, token.slot_id, plan)
    assert [o.id for o in objects(token) if o.label == "twin"] == [b"\x01"]


def test_plan_delete_object_private_key_takes_public_and_warns_orphan(token: Any) -> None:
    key_id, _, _ = received(token, "pair")
    priv = next(o for o in objects(token) if o.cls is ObjClass.PRIVATE_KEY and o.label == "pair")
    plan = token.service.run(delete_ops.plan_delete_object, token.slot_id, priv.handle)
    assert {o.cls for o in plan.objects} == {ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY}
    assert any("becomes an orphan" in w for w in plan.warnings)
    with pytest.raises(IkmError, match="no longer on the token"):
        token.service.run(delete_ops.plan_delete_object, token.slot_id, 0x7FFFFFF0)
