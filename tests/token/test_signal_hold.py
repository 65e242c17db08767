"""Issue #19 items 1-2 (part of must-show 1): SIGINT/SIGTERM/SIGHUP during `certreq create` and
`cert rename` no longer cut a token write in half: the token is before or after, never between."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from ikm_tui.core.model import ObjClass
from ikm_tui.core.p11.backend import Backend


def _start(tok: Any, *argv: str) -> subprocess.Popen[bytes]:
    env = tok.env()
    env["IKM_PIN"] = tok.pin
    return subprocess.Popen([sys.executable, "-m", "ikm_tui", "--module", tok.module, "--token", tok.label, *argv],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(proc: subprocess.Popen[bytes], needle: bytes, timeout: float = 30) -> bytes:
    assert proc.stderr is not None
    seen = b""
    end = time.monotonic() + timeout
    while needle not in seen:
        assert time.monotonic() < end and proc.poll() is None, seen
        ready, _, _ = select.select([proc.stderr], [], [], 0.05)
        if ready:
            seen += os.read(proc.stderr.fileno(), 4096)
    return seen


def _state(tok: Any, label: str) -> dict[str, list[bytes]]:
    listing = tok.service.run(Backend.list_objects, tok.slot_id)
    out: dict[str, list[bytes]] = {}
    for o in listing.objects:
        if o.label == label or o.label.startswith("ikm-tui-pending") or o.id.startswith(b"ikm-tui-pending"):
            out.setdefault(o.cls.value + ("/req" if o.cls is ObjClass.DATA else ""), []).append(o.id)
    return out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("delay", [0.0, 0.03, 0.1, 0.3])
def test_certreq_create_is_before_or_after_never_between(token: Any, tmp_path: Any, signum: int,
                                                          delay: float) -> None:
    token.login()  # private keys visible to the checks
    label = f"sig{signum}-{int(delay * 1000)}"
    proc = _start(token, "certreq", "create", "--label", label, "--key-type", "rsa:2048",
                  "--subject", f"CN={label}", "--out", str(tmp_path / "r.csr"))
    _wait_for(proc, b"Generating")
    time.sleep(delay)
    proc.send_signal(signum)
    out, err_rest = proc.communicate(timeout=60)
    state = _state(token, label)
    before = state == {}
    after = (len(state.get("private_key", [])) == 1 and len(state.get("public_key", [])) == 1
             and len(state.get("data/req", [])) == 1  # a data object carries no CKA_ID
             and state["private_key"] == state["public_key"] and not state["private_key"][0].startswith(b"ikm")
             and (tmp_path / "r.csr").exists())
    assert before or after, (state, err_rest)
    if after and b"completed first" not in err_rest:
        # The signal came after the command had finished (and said so): nothing was held.
        assert b"request written to" in out, (proc.returncode, err_rest)
    elif after:
        assert proc.returncode == 128 + signum, err_rest
    assert b"Traceback" not in err_rest


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_second_signal_still_stops_at_once(token: Any, tmp_path: Any, signum: int) -> None:
    proc = _start(token, "certreq", "create", "--label", "twice", "--key-type", "rsa:3072",
                  "--subject", "CN=twice", "--out", str(tmp_path / "r.csr"))
    _wait_for(proc, b"Generating")
    proc.send_signal(signum)
    seen = _wait_for(proc, b"finishing the token write first")
    proc.send_signal(signum)
    _, rest = proc.communicate(timeout=60)
    err = seen + rest
    assert proc.returncode == 128 + signum, err  # not a crash (-11) on the way out
    assert (b"again: stopping now" in err) != (b"completed first" in err), err


def _seed_pair(tok: Any) -> None:
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from ikm_tui.core.p11 import keys, objects

    tok.login()
    tok.service.run(keys.generate_keypair, tok.slot_id, keys.KeySpec.parse("ec:p256"), "web01", b"\x51")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web01")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(5).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=9))
            .sign(key, hashes.SHA256()))
    tok.service.run(objects.write_certificate, tok.slot_id, cert.public_bytes(serialization.Encoding.DER),
                    "web01", b"\x51")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("delay", [0.25, 0.4, 0.55, 0.7, 0.85])
@pytest.mark.parametrize("op", ["rename", "key-delete"])
def test_rename_and_key_delete_are_before_or_after(token: Any, signum: int, delay: float, op: str) -> None:
    _seed_pair(token)
    argv = ["cert", "rename", "web01", "web02"] if op == "rename" else ["key", "delete", "web01", "--yes"]
    proc = _start(token, *argv)
    time.sleep(delay)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    objs = [o for o in token.service.run(Backend.list_objects, token.slot_id).objects if o.id == b"\x51"]
    kinds = sorted((o.cls.value, o.label) for o in objs)
    if op == "rename":
        assert kinds in ([("certificate", "web01"), ("private_key", "web01"), ("public_key", "web01")],
                         [("certificate", "web02"), ("private_key", "web02"), ("public_key", "web02")]), (kinds, err)
    else:
        assert kinds in ([("certificate", "web01"), ("private_key", "web01"), ("public_key", "web01")],
                         [("certificate", "web01")]), (kinds, err)
    assert b"Traceback" not in err
