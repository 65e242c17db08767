"""Listing and pairing on a real SoftHSM token populated by other tools."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cryptography.hazmat.primitives import serialization

from tests.support.helpers import SoftCA, pkcs11_tool
from ikm_tui.core.p11.backend import Backend


def populate_with_pkcs11_tool(tok: Any, tmp: Path) -> SoftCA:
    """RSA pair + its cert under one --id, an EC pair alone, a CA cert: all via pkcs11-tool."""
    pkcs11_tool(tok, "--keypairgen", "--key-type", "rsa:2048", "--id", "01", "--label", "rsa-key")
    pkcs11_tool(tok, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "02", "--label", "ec-key")
    pub_der = tmp / "rsa-pub.der"
    pkcs11_tool(tok, "--read-object", "--type", "pubkey", "--id", "01", "-o", str(pub_der))
    ca = SoftCA()
    cert = ca.issue(serialization.load_der_public_key(pub_der.read_bytes()), "rsa.example.com")
    (tmp / "rsa.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    (tmp / "ca.der").write_bytes(ca.der)
    pkcs11_tool(tok, "--write-object", str(tmp / "rsa.der"), "--type", "cert", "--id", "01",
                "--label", "rsa-cert")
    pkcs11_tool(tok, "--write-object", str(tmp / "ca.der"), "--type", "cert", "--id", "03",
                "--label", "test-ca")
    return ca


def run_cli(tok: Any, *args: str, pin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = tok.env()
    env.pop("IKM_PIN", None)
    if pin is not None:
        env["IKM_PIN"] = pin
    return subprocess.run([sys.executable, "-m", "ikm_tui", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_pkcs11_tool_token_lists_with_pairing(token: Any, tmp_path: Path) -> None:
    populate_with_pkcs11_tool(token, tmp_path)
    # Without a PIN: only public objects.
    res = run_cli(token, "--module", token.module, "--token", token.label, "list", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["token"]["label"] == token.label
    classes = sorted(o["class"] for o in data["objects"])
    assert "private_key" not in classes
    assert classes.count("certificate") == 2 and classes.count("public_key") == 2

    # With the PIN (from IKM_PIN, never argv), and --token given after the subcommand.
    res = run_cli(token, "list", "--json", "--module", token.module, "--token", token.label, pin=token.pin)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    objs = data["objects"]
    by = {(o["class"], o["label"]): o for o in objs}
    rsa_cert = by[("certificate", "rsa-cert")]
    ca_cert = by[("certificate", "test-ca")]
    assert rsa_cert["has_private_key"] is True
    assert rsa_cert["paired_key_id"] == "01"
    assert ca_cert["has_private_key"] is False and ca_cert["paired_key_id"] is None
    assert by[("private_key", "rsa-key")]["key_type"] == "rsa"
    assert by[("private_key", "rsa-key")]["bits"] == 2048
    assert by[("private_key", "ec-key")]["key_type"] == "ec"
    assert by[("private_key", "ec-key")]["curve"] == "p256"
    assert rsa_cert["subject"] == "CN=rsa.example.com"
    assert rsa_cert["serial"] == "64"
    assert rsa_cert["not_after"].endswith("+00:00")
    for o in objs:
        assert o["uri"].startswith("pkcs11:")
        assert set(o["id"]) <= set("0123456789abcdef")
    # print_json's own encoder writes exactly what json.dumps(indent=2) writes.
    assert res.stdout == json.dumps(data, indent=2, ensure_ascii=True) + "\n"


def test_dumps_indented_is_json_dumps() -> None:
    """Every kind of value the CLI prints, and the odd ones json.dumps(default=str) handles."""
    from datetime import datetime, timezone
    from enum import Enum, IntEnum

    from ikm_tui.cli.common import dumps_indented

    class Num(IntEnum):
        A = 5

    class Word(str, Enum):
        X = "x"

    cases: list[Any] = [
        {}, [], {"a": []}, {"a": {}}, (1, (2, 3)), "é😀\u202e\x1b\"\\", -0.0, 10**30, 1e300, 0.1,
        [1, 2.5, None, True, False, "x", {"k": [{"z": 1}]}],
        {1: 2, 2.5: 3, True: 1, None: 0, "s": "t"},  # noqa: F601 - JSON keys as Python has them
        [float("inf"), -float("inf")], Num.A, [Word.X, Num.A, b"\x00"],
        {"e": Num.A, "d": datetime(2020, 1, 1, tzinfo=timezone.utc), "b": b"\x00", "w": Word.X},
    ]
    for case in cases:
        assert dumps_indented(case) == json.dumps(case, indent=2, ensure_ascii=True, default=str)
    nan = dumps_indented(float("nan"))
    assert nan == json.dumps(float("nan"), indent=2) == "NaN"


def test_print_json_in_chunks_writes_json_dumps(capsys: pytest.CaptureFixture[str]) -> None:
    """print_json hands its text over in chunks (issue 16: peak memory); the bytes are still
    exactly json.dumps(indent=2) plus a newline, across chunk boundaries at every depth."""
    from ikm_tui.cli import common

    doc = {"schema": "x", "objects": [
        {"label": f"o{i}", "sans": [f"DNS:h{i}.example", "é\u202e"], "n": i, "nested": [[i], {"k": None}],
         "flags": []} for i in range(2 * common._CHUNK // 10)]}  # noqa: SLF001 - past several chunks
    writes: list[str] = []
    common._encode_indented(doc, writes.append)  # noqa: SLF001
    assert len(writes) > 2  # really chunked
    common.print_json(doc)
    assert capsys.readouterr().out == json.dumps(doc, indent=2, ensure_ascii=True) + "\n"


def test_ec_cert_pairs_through_public_key_object(token: Any, tmp_path: Path) -> None:
    pkcs11_tool(token, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "0a", "--label", "ec")
    pub_der = tmp_path / "ec-pub.der"
    pkcs11_tool(token, "--read-object", "--type", "pubkey", "--id", "0a", "-o", str(pub_der))
    cert = SoftCA().issue(serialization.load_der_public_key(pub_der.read_bytes()), "ec.example.com")
    (tmp_path / "ec.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    # Written under another CKA_ID, as other tools sometimes leave it: paired but flagged.
    pkcs11_tool(token, "--write-object", str(tmp_path / "ec.der"), "--type", "cert", "--id", "0b",
                "--label", "ec-cert")
    token.login()
    listing = token.service.run(Backend.list_objects, token.slot_id)
    cert_obj = next(o for o in listing.objects if o.cls.value == "certificate")
    key = next(o for o in listing.objects if o.cls.value == "private_key")
    assert listing.pairing.cert_to_key[cert_obj.handle] == key.handle
    assert cert_obj.handle in listing.pairing.id_mismatch
    # The marker follows what Java and NSS see (issue #12): by CKA_ID they see no key for it.
    assert listing.pairing.markers[cert_obj.handle] == "!"


def test_unknown_token_lists_labels(token: Any) -> None:
    res = run_cli(token, "--module", token.module, "--token", "no such token", "list")
    assert res.returncode == 4
    assert token.label in res.stderr
    assert "CKR_TOKEN_NOT_PRESENT" in res.stderr


def test_token_uri_selects(token: Any) -> None:
    res = run_cli(token, "--module", token.module, "--token", f"pkcs11:token={token.label}", "list",
                  "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["token"]["label"] == token.label


def test_tokens_json_shows_pin_lengths(token: Any) -> None:
    res = run_cli(token, "--module", token.module, "tokens", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    toks = [s["token"] for m in data["modules"] for s in m["slots"] if s["token"]]
    mine = next(t for t in toks if t["label"] == token.label)
    assert mine["min_pin_len"] == 4 and mine["max_pin_len"] == 255
    assert mine["uri"].startswith("pkcs11:")


def test_rsa_identity_matches_the_token_form_for_small_top_bytes() -> None:
    """A modulus whose top byte is < 0x10 must give the hex the token's CKA_MODULUS gives."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from ikm_tui.core.x509.info import public_key_identity

    n = 0x0B << (2040 - 4) | 0xC5  # odd, top byte 0x0b: a leading zero nibble in hex
    pub = rsa.RSAPublicNumbers(65537, n).public_key()
    assert public_key_identity(pub)[3] == n.to_bytes(255, "big").lstrip(b"\x00").hex()
