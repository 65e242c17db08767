"""Hostile certificates and duplicates on a real token: every object listed, nothing crashes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from asn1crypto import core
from asn1crypto import x509 as ax
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikm_tui.core.model import CertFields
from ikm_tui.core.p11.objects import write_certificate, write_raw_certificate
from ikm_tui.core.sanitize import safe_text
from ikm_tui.core.x509.info import parse_certificate
from ikm_tui.core.p11.backend import Backend
from tests.support.helpers import pkcs11_tool

_KEY = ec.generate_private_key(ec.SECP256R1())


def _build(cn: str = "AAAAAAAA", exts: tuple[tuple[Any, bool], ...] = ()) -> bytes:
    now = datetime.now(timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(_KEY.public_key())
         .serial_number(7).not_valid_before(now).not_valid_after(now + timedelta(days=30)))
    for ext, critical in exts:
        b = b.add_extension(ext, critical=critical)
    return b.sign(_KEY, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _edit(der: bytes, fn: Any) -> bytes:
    cert = ax.Certificate.load(der)
    fn(cert["tbs_certificate"])
    return cert.dump(force=True)


def corpus() -> dict[str, tuple[bytes, str | None]]:
    """name -> (DER, expected substring of CertFields.error; None: parses cleanly)."""
    good = _build()

    def neg_serial(tbs: Any) -> None:
        tbs["serial_number"] = -5

    def dup_ext(tbs: Any) -> None:
        tbs["extensions"].append(tbs["extensions"][0])

    def unknown_alg(tbs: Any) -> None:
        tbs["subject_public_key_info"]["algorithm"] = {"algorithm": "1.2.3.4.5"}

    bc = ((x509.BasicConstraints(ca=False, path_length=None), True),)
    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    big = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.2"),
                                     core.OctetString(b"x" * 65536).dump())
    return {
        "truncated": (good[: len(good) // 2], "unparsed ("),
        "trailing-data": (good + b"\x00junk", "unparsed ("),
        "negative-serial": (_edit(good, neg_serial), "serial number which wasn't positive"),
        "non-utf8-names": (good.replace(b"AAAAAAAA", b"\xff\xfeAAAAAA"), "partly unparsed (subject"),
        "duplicate-extensions": (_edit(_build(exts=bc), dup_ext), "Duplicate 2.5.29.19"),
        "unknown-critical-ext": (_build(exts=((unknown, True),)), "unknown critical extension"),
        "64k": (_build(exts=((big, False),)), None),
        "unknown-key-algorithm": (_edit(good, unknown_alg), "public key: Unknown key type"),
        "empty": (b"", "unparsed ("),
        "not-der": (b"-----BEGIN CERTIFICATE-----\n", "unparsed ("),
    }


def test_corpus_parses_without_exceptions() -> None:
    for name, (der, expected) in corpus().items():
        fields = parse_certificate(der)
        if expected is None:
            assert fields.error is None, name
        else:
            assert fields.error and expected in fields.error, (name, fields.error)
    assert len(corpus()["64k"][0]) > 65536


def test_non_utf8_name_is_still_shown_escaped() -> None:
    fields = parse_certificate(corpus()["non-utf8-names"][0])
    assert fields.subject == "CN=\\xff\\xfeAAAAAA"


def _cli_list(tok: Any, *extra: str) -> subprocess.CompletedProcess[str]:
    env = tok.env()
    env["IKM_PIN"] = tok.pin
    return subprocess.run([sys.executable, "-m", "ikm_tui", "list", *extra, "--module", tok.module,
                           "--token", tok.label], env=env, capture_output=True, text=True, timeout=60)


def test_malformed_corpus_sweep_on_the_token(token: Any, tmp_path: Path) -> None:
    items = corpus()
    expected_ids: dict[str, tuple[str, str | None]] = {}
    for i, (name, (der, expected)) in enumerate(items.items()):
        key_id = bytes([0xC0, i])
        if i % 2 and der:
            (tmp_path / "trailing-data.der").write_bytes(items["trailing-data"][0])
            # Half through pkcs11-tool, as an operator (or another tool) would write them.
            f = tmp_path / f"{name}.der"
            f.write_bytes(der)
            res = subprocess.run(
                ["pkcs11-tool", "--module", token.module, "--token-label", token.label, "--login",
                 "--pin", token.pin, "--write-object", str(f), "--type", "cert", "--id", key_id.hex(),
                 "--label", name], env=token.env(), capture_output=True, text=True)
            if res.returncode != 0:  # pkcs11-tool parses the cert itself and refuses some
                token.service.run(write_raw_certificate, token.slot_id, der, name, key_id)
        else:
            token.service.run(write_raw_certificate, token.slot_id, der, name, key_id)
        expected_ids[key_id.hex()] = (name, expected)
    # A label that is not UTF-8, written as raw bytes by pkcs11-tool.
    subprocess.run(["pkcs11-tool", "--module", token.module, "--token-label", token.label, "--login",
                    "--pin", token.pin, "--write-object", str(tmp_path / "trailing-data.der"),
                    "--type", "data", "--label", os.fsdecode(b"bad-\xff\xfe-label")],
                   env=token.env(), capture_output=True, check=True)

    res = _cli_list(token, "--json")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr and "Warning" not in res.stderr
    data = json.loads(res.stdout)
    certs = {o["id"]: o for o in data["objects"] if o["class"] == "certificate"}
    assert data["complete"] is True
    assert set(certs) == set(expected_ids), "zero objects lost"
    for key_id, (name, expected) in expected_ids.items():
        obj = certs[key_id]
        assert obj["label"] == name
        if expected is None:
            assert obj["parse_error"] is None, name  # present as null (the --json contract)
        else:
            assert expected in obj["parse_error"], (name, obj.get("parse_error"))
    others = [(o["class"], o["label"]) for o in data["objects"] if o["class"] != "certificate"]
    assert others == [("data", "bad-\\xff\\xfe-label")]

    plain = _cli_list(token)
    assert plain.returncode == 0, plain.stderr
    assert "\x1b" not in plain.stdout and "unparsed (" in plain.stdout
    assert plain.stdout.count("certificate") == len(items)


def test_duplicates_are_all_listed(token: Any) -> None:
    token.login()
    ders = [_build(cn=f"dup{i}") for i in range(3)]
    # Same label and same CKA_ID three times, plus two more certs sharing only the label.
    for der in ders:
        token.service.run(write_certificate, token.slot_id, der, "same", b"\x01")
    for i in range(2):
        token.service.run(write_raw_certificate, token.slot_id, b"\x30\x00", "same", bytes([0x10 + i]))
    for _ in range(2):
        pkcs11_tool(token, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "01", "--label", "same")
    listing = token.service.run(Backend.list_objects, token.slot_id)
    same = [o for o in listing.objects if o.label == "same"]
    assert len(same) == 3 + 2 + 2 * 2
    assert len({o.handle for o in same}) == len(same), "each one is its own row (by handle)"
    assert sum(1 for o in same if o.cls.value == "certificate" and o.id == b"\x01") == 3
    res = _cli_list(token, "--json")
    data = json.loads(res.stdout)
    assert sum(1 for o in data["objects"] if o["label"] == "same") == len(same)


_GOOD = _build(cn="fuzz", exts=((x509.SubjectAlternativeName([x509.DNSName("a.example")]), False),))


@st.composite
def mutated(draw: Any) -> bytes:
    der = bytearray(_GOOD)
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = draw(st.integers(0, max(len(der) - 1, 0)))
        if op == "flip" and der:
            der[pos] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del der[pos: pos + draw(st.integers(1, 16))]
        else:
            der[pos:pos] = draw(st.binary(min_size=1, max_size=16))
    return bytes(der)


def _render(fields: CertFields) -> str:
    parts = [fields.subject, fields.issuer, fields.serial, fields.error, fields.signature_algorithm,
             fields.key_type, fields.curve, *fields.sans, *fields.eku, *fields.key_usage,
             str(fields.not_before), str(fields.not_after), str(fields.is_ca)]
    return " ".join(safe_text(p) for p in parts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated(), st.binary(max_size=600)))
def test_parse_and_render_never_raise(der: bytes) -> None:
    text = _render(parse_certificate(der))
    assert "\x1b" not in text and "\x07" not in text


def test_unparsed_certificate_details_export_and_delete(token: Any, tmp_path: Path) -> None:
    """An unparsed cert shows its bytes in the details, and `cert extract` / `cert delete` still work."""
    from ikm_tui.ui.describe import object_rows

    der = corpus()["truncated"][0]
    token.service.run(write_raw_certificate, token.slot_id, der, "broken", b"\xbb\x01")
    listing = token.service.run(Backend.list_objects, token.slot_id)
    obj = next(o for o in listing.objects if o.label == "broken")
    rows = dict(object_rows(listing, obj, datetime(2026, 1, 1, tzinfo=timezone.utc)))
    assert "unparsed" in rows["PARSE ERROR"]
    assert rows["hex"] == der[:16].hex(" ")

    out = tmp_path / "broken.der"
    env = token.env()
    env["IKM_PIN"] = token.pin
    base = [sys.executable, "-m", "ikm_tui", "--module", token.module, "--token", token.label]
    res = subprocess.run([*base, "cert", "extract", "broken", "--out", str(out), "--format", "der"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == der
    res = subprocess.run([*base, "cert", "delete", "broken", "--yes"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    listing = token.service.run(Backend.list_objects, token.slot_id)
    assert not [o for o in listing.objects if o.label == "broken"]
