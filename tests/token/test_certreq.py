"""Requests and self-signed certificates made on a real SoftHSM token, checked by openssl and pkcs11-tool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pkcs11.exceptions as p11x
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ikm_tui.core.ops import capabilities as capabilities_ops
from ikm_tui.core.ops import pending as pending_ops
from ikm_tui.core.ops import requests as reqs
from ikm_tui.core.x509.dn import parse_dn
from ikm_tui.core.errors import IkmError
from ikm_tui.core.model import MechanismInfo
from ikm_tui.core.p11.backend import Backend
from tests.support.helpers import openssl_engine_env, pkcs11_tool

SUBJECT = "/C=GB/O=HW/OU=MQ/OU=Dev/CN=colinpaice"  # repeated OU: order must survive
SANS = ["DNS:web1.example.com", "IP:192.0.2.10", "email:ops@example.com"]


def run_cli(tok: Any, *args: str, pin: str | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = tok.env()
    env.pop("IKM_PIN", None)
    if pin is not None:
        env["IKM_PIN"] = pin  # the PIN travels in the environment, never in argv
    return subprocess.run([sys.executable, "-m", "ikm_tui", *args, "--module", tok.module, "--token", tok.label],
                          env=env, capture_output=True, text=True, timeout=120, input=stdin)


def openssl_verify(path: Path) -> str:
    res = subprocess.run(["openssl", "req", "-in", str(path), "-verify", "-noout"], capture_output=True, text=True)
    return res.stdout + res.stderr


def private_key_blocks(tok: Any) -> dict[str, str]:
    """pkcs11-tool -O output of each private key, by label."""
    text = pkcs11_tool(tok, "-O").stdout
    blocks: dict[str, str] = {}
    # Objects are not separated by blank lines: each starts with an unindented header line.
    chunks: list[list[str]] = []
    for line in text.splitlines():
        if line and not line[0].isspace():
            chunks.append([])
        if chunks:
            chunks[-1].append(line)
    for block in ("\n".join(c) for c in chunks):
        if block.startswith("Private Key Object"):
            for line in block.splitlines():
                if line.strip().startswith("label:"):
                    blocks[line.split(":", 1)[1].strip()] = block
    return blocks


def object_count(tok: Any) -> int:
    return len(tok.service.run(Backend.list_objects, tok.slot_id).objects)


@pytest.mark.parametrize("key_type", ["rsa:2048", "rsa:4096", "ec:p256", "ec:p384", "ed25519"])
def test_request_verifies_round_trips_and_key_is_protected(token: Any, tmp_path: Path, key_type: str) -> None:
    out = tmp_path / "req.pem"
    args = ["certreq", "create", "--label", "k1", "--key-type", key_type, "--subject", SUBJECT,
            "--san", SANS[0], "--san", ",".join(SANS[1:]), "--eku", "serverAuth,clientAuth",
            # Said explicitly: the RSA default (as in the TUI form) adds keyEncipherment, which enables decrypt.
            "--key-usage", "digitalSignature", "--out", str(out)]
    if key_type == "ed25519":
        res = run_cli(token, *args, pin=token.pin)
        assert res.returncode == 3 and "--yes" in res.stderr and "libp11" in res.stderr
        assert object_count(token) == 0
        args.append("--yes")
    res = run_cli(token, *args, pin=token.pin)
    assert res.returncode == 0, res.stderr

    assert "verify OK" in openssl_verify(out)
    req = x509.load_pem_x509_csr(out.read_bytes())
    assert req.is_signature_valid
    # Subject, including order and the repeated OU, exactly as given.
    assert req.subject.public_bytes() == parse_dn(SUBJECT).dump()
    assert [a.value for a in req.subject] == ["GB", "HW", "MQ", "Dev", "colinpaice"]
    san = req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [pending_ops._san_text(g) for g in san] == SANS  # noqa: SLF001 - the SAN text the UI shows

    block = private_key_blocks(token)["k1"]
    access = next(line for line in block.splitlines() if "Access:" in line)
    flags = {f.strip() for f in access.split(":", 1)[1].split(",")}
    assert {"sensitive", "always sensitive", "never extractable", "local"} <= flags
    assert "extractable" not in flags
    usage = next(line for line in block.splitlines() if "Usage:" in line)
    assert "decrypt" not in usage and "unwrap" not in usage  # no keyEncipherment asked

    # The key's CKA_ID is SHA-1 of its public value, and the stored request is the one written out.
    listed = json.loads(run_cli(token, "certreq", "list", "--json", pin=token.pin).stdout)["requests"]
    assert [(r["label"], r["where"], r["has_key"]) for r in listed] == [("k1", "token", True)]
    pub = req.public_key()
    if key_type.startswith("rsa"):
        n = pub.public_numbers().n  # type: ignore[union-attr]
        value = n.to_bytes((n.bit_length() + 7) // 8, "big")
    elif key_type.startswith("ec"):
        value = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    else:
        value = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    import hashlib

    assert listed[0]["key_id"] == hashlib.sha1(value).hexdigest()


def test_key_encipherment_enables_decrypt_only_then(token: Any, tmp_path: Path) -> None:
    token.login()
    token.service.run(reqs.create_request, token.slot_id, "rsa:2048", "enc", "CN=enc", (),
                      ["digitalSignature", "keyEncipherment"])
    usage = next(line for line in private_key_blocks(token)["enc"].splitlines() if "Usage:" in line)
    assert "decrypt" in usage and "unwrap" in usage




@pytest.mark.interop
def test_openssl_engine_signs_with_our_rsa_and_ec_keys(token: Any, tmp_path: Path) -> None:
    # No Ed25519 key on this token: libp11 0.4.12 would then fail to enumerate every key.
    token.login()
    for key_type, label in (("rsa:2048", "eng-rsa"), ("ec:p256", "eng-ec")):
        token.service.run(reqs.create_request, token.slot_id, key_type, label, "CN=ikm")
    env = openssl_engine_env(token, tmp_path)
    for label in ("eng-rsa", "eng-ec"):
        out = tmp_path / f"{label}.csr"
        uri = f"pkcs11:token={token.label};object={label};type=private"
        res = subprocess.run(["openssl", "req", "-new", "-engine", "pkcs11", "-keyform", "engine", "-key", uri,
                              "-passin", "env:IKM_TEST_PIN", "-subj", "/CN=x", "-out", str(out)],
                             env=env, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert "verify OK" in openssl_verify(out)
        # The engine's request carries the very public key ikm-tui generated.
        ours = token.service.run(pending_ops.request_details, token.slot_id, label)
        engine_key = x509.load_pem_x509_csr(out.read_bytes()).public_key()
        assert engine_key == x509.load_der_x509_csr(ours.der).public_key()


def test_pending_request_survives_a_new_process(token: Any, tmp_path: Path) -> None:
    out = tmp_path / "r.pem"
    res = run_cli(token, "certreq", "create", "--label", "persist", "--key-type", "ec:p256",
                  "--subject", "CN=persist,O=Example", "--out", str(out), pin=token.pin)
    assert res.returncode == 0, res.stderr
    # A fresh process without a PIN still sees it: the request is a public data object.
    res = run_cli(token, "certreq", "list", "--json")
    assert res.returncode == 0, res.stderr
    listed = json.loads(res.stdout)["requests"]
    assert [(r["label"], r["subject"], r["where"]) for r in listed] == [("persist", "CN=persist,O=Example", "token")]
    again = tmp_path / "again.pem"
    assert run_cli(token, "certreq", "extract", "persist", "--out", str(again)).returncode == 0
    assert again.read_text() == out.read_text()
    # The convention the receive side relies on, as another client sees it.
    shown = pkcs11_tool(token, "-O", login=False).stdout
    assert "label:          'persist'" in shown and "application:    'ikm-tui request'" in shown


def test_unsupported_key_type_leaves_token_unchanged(token: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    token.login()
    token.service.run(reqs.create_request, token.slot_id, "ec:p256", "existing", "CN=a")
    before = object_count(token)
    # A token without Ed25519 mechanisms, as capabilities would see it.
    no_ed = [m for m in token.service.run(Backend.mechanisms, token.slot_id)
             if m.name not in ("CKM_EC_EDWARDS_KEY_PAIR_GEN", "CKM_EDDSA")]
    caps = capabilities_ops.capabilities_from_mechanisms(no_ed)
    choice = caps.choice("ed25519")
    assert not choice.supported and "CKM_EC_EDWARDS_KEY_PAIR_GEN" in choice.reason
    assert "ed25519" not in caps.supported and "rsa:4096" in caps.supported
    # The create path on such a token: refused before any keygen, with the reason.
    monkeypatch.setattr(capabilities_ops, "capabilities", lambda _b, _s: caps)
    with pytest.raises(IkmError, match="cannot make ed25519 keys: token has no CKM_EC_EDWARDS_KEY_PAIR_GEN"):
        token.service.run(reqs.create_request, token.slot_id, "ed25519", "ed", "CN=a")
    assert object_count(token) == before
    # A key type ikm-tui does not know: a clear error, nothing written.
    with pytest.raises(IkmError, match="(?i)unknown key type"):
        token.service.run(reqs.create_request, token.slot_id, "ec:p192", "bad", "CN=a")
    res = run_cli(token, "certreq", "create", "--label", "bad", "--key-type", "dsa:1024", "--subject", "CN=a",
                  "--out", "/tmp/never.pem", pin=token.pin)
    assert res.returncode == 2 and "unknown key type 'dsa:1024'" in res.stderr
    assert object_count(token) == before


def test_capability_reasons_for_limited_token() -> None:
    def m(name: str, lo: int, hi: int, *flags: str) -> MechanismInfo:
        import pkcs11

        return MechanismInfo(name, int(pkcs11.Mechanism[name[4:]]), lo, hi, flags)

    caps = capabilities_ops.capabilities_from_mechanisms([
        m("CKM_RSA_PKCS_KEY_PAIR_GEN", 1024, 2048, "generate_key_pair"),
        m("CKM_RSA_PKCS", 1024, 2048, "sign"),
        m("CKM_EC_KEY_PAIR_GEN", 256, 384, "generate_key_pair"),
    ])
    assert caps.supported == ("rsa:2048",)
    rsa = caps.choice("rsa:2048")
    assert [(h.name, h.mechanism) for h in rsa.hashes] == [("sha256", "CKM_RSA_PKCS"), ("sha384", "CKM_RSA_PKCS"),
                                                           ("sha512", "CKM_RSA_PKCS")]
    assert "1024-2048 bits, not 4096" in caps.choice("rsa:4096").reason
    assert "no CKM_ECDSA" in caps.choice("ec:p256").reason
    assert "CKM_EC_EDWARDS_KEY_PAIR_GEN" in caps.choice("ed25519").reason


def test_duplicate_label_or_id_is_refused(token: Any, tmp_path: Path) -> None:
    token.login()
    first = token.service.run(reqs.create_request, token.slot_id, "ec:p256", "dup", "CN=a")
    before = object_count(token)
    res = run_cli(token, "certreq", "create", "--label", "dup", "--key-type", "ec:p256", "--subject", "CN=b",
                  "--out", str(tmp_path / "x.pem"), pin=token.pin)
    assert res.returncode == 3 and "'dup' already exists" in res.stderr
    with pytest.raises(IkmError, match=f"ID {first.key_id.hex()} already exists"):
        token.service.run(reqs.create_request, token.slot_id, "ec:p256", "other", "CN=b", key_id=first.key_id)
    assert object_count(token) == before


def test_failure_after_keygen_deletes_the_pair(token: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    token.login()
    before = object_count(token)

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise p11x.DeviceRemoved()

    monkeypatch.setattr(pending_ops, "_write_token_request", refuse)
    with pytest.raises(IkmError, match="removed"):
        token.service.run(reqs.create_request, token.slot_id, "ec:p256", "gone", "CN=a")
    assert object_count(token) == before


def test_token_refusing_data_objects_falls_back_to_a_file(token: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    token.login()

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise p11x.TemplateInconsistent()

    monkeypatch.setattr(pending_ops, "_write_token_request", refuse)
    res = token.service.run(reqs.create_request, token.slot_id, "ec:p256", "odd/label", "CN=a")
    assert res.where == "file" and res.path and os.path.exists(res.path)
    assert any("file instead" in w for w in res.warnings)
    assert Path(res.path).parent.parent.name == "requests"
    listed = token.service.run(pending_ops.list_requests, token.slot_id)
    assert [(r.label, r.where, r.has_key) for r in listed] == [("odd/label", "file", True)]
    token.service.run(pending_ops.delete, token.slot_id, "odd/label")
    assert not os.path.exists(res.path)


def test_recreate_resigns_for_the_existing_key(token: Any) -> None:
    token.login()
    first = token.service.run(reqs.create_request, token.slot_id, "rsa:2048", "re", "CN=old", ["DNS:old"],
                              eku=["serverAuth"])
    again = token.service.run(reqs.recreate, token.slot_id, "re", "CN=new")
    assert again.key_id == first.key_id and again.der != first.der
    listed = token.service.run(pending_ops.list_requests, token.slot_id)
    assert [(r.label, r.subject, r.sans, r.eku) for r in listed] == [("re", "CN=new", ("DNS:old",), ("serverAuth",))]
    old_key = x509.load_der_x509_csr(first.der).public_key()
    assert x509.load_der_x509_csr(again.der).public_key() == old_key


def test_self_signed_certificate_on_token(token: Any, tmp_path: Path) -> None:
    out = tmp_path / "ss.pem"
    res = run_cli(token, "cert", "create", "--label", "ss", "--key-type", "ec:p384", "--subject", "cn=ss,o=Example",
                  "--san", "DNS:ss.example.com", "--days", "30", "--out", str(out), pin=token.pin)
    assert res.returncode == 0, res.stderr
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    cert.verify_directly_issued_by(cert)
    listing = token.service.run(Backend.list_objects, token.slot_id)
    by = {(o.cls.value, o.label): o for o in listing.objects}
    assert by[("certificate", "ss")].id == by[("public_key", "ss")].id
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 30
