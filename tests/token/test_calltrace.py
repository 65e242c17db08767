"""`--trace FILE`: every PKCS#11 call with its CKR name and time, the PIN never (SoftHSM token)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from ikm_tui.core.p11.keys import KeySpec, generate_keypair
from ikm_tui.core.p11.backend import Backend


def _cli(tok: Any, trace: Path, pin: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = tok.env()
    env["IKM_PIN"] = pin  # the environment, never argv
    return subprocess.run([sys.executable, "-m", "ikm_tui", "--module", tok.module, "--token", tok.label,
                           "--trace", str(trace), *args], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_trace_of_list_login_holds_pkcs11_calls_not_the_pin(token: Any, tmp_path: Path) -> None:
    token.login()
    token.service.run(generate_keypair, token.slot_id, KeySpec.parse("ec:p256"), "traced")
    trace = tmp_path / "trace.log"
    res = _cli(token, trace, token.pin, "list", "--login")
    assert res.returncode == 0, res.stderr
    text = trace.read_text()
    # The load is in it too, though --trace is attached after the module loaded.
    assert re.search(r"C_Initialize\(NULL .*\) -> CKR_OK", text) and "load() -> OK" in text
    assert re.search(r"C_Login\(session=\d+, user=CKU_USER, pin=\*\*\*\) -> CKR_OK \[\d+\.\d ms\]", text)
    assert re.search(r"C_FindObjectsInit\(session=\d+, .*\) -> CKR_OK", text)
    reads = re.findall(r"C_GetAttributeValue\(session=\d+, object=\d+, \[CKA_CLASS, .*\) -> (CKR_\w+)", text)
    assert len(reads) >= 2 and set(reads) <= {"CKR_OK", "CKR_ATTRIBUTE_TYPE_INVALID", "CKR_ATTRIBUTE_SENSITIVE"}
    assert token.pin not in text and token.pin.encode().hex() not in text
    assert (trace.stat().st_mode & 0o777) == 0o600

    wrong = tmp_path / "wrong.log"
    bad_pin = "11223344"
    res = _cli(token, wrong, bad_pin, "list", "--login")
    assert res.returncode != 0
    text = wrong.read_text()
    assert re.search(r"C_Login\(session=\d+, user=CKU_USER, pin=\*\*\*\) -> CKR_PIN_INCORRECT", text)
    assert bad_pin not in text and bad_pin.encode().hex() not in text
    assert bad_pin not in res.stderr + res.stdout


def test_trace_entries_from_the_service(token: Any) -> None:
    """The Trace tab's feed gets the same C_* entries, before the operation's own line."""
    entries: list[Any] = []
    token.service.tracers.append(entries.append)
    try:
        token.login()
        token.service.run(Backend.list_objects, token.slot_id)
    finally:
        token.service.tracers.remove(entries.append)
    names = [e.function for e in entries]
    assert "C_Login" in names and "login" in names
    assert names.index("C_Login") < names.index("login")
    assert "C_FindObjects" in names and names[-1] == "list_objects"
    login = next(e for e in entries if e.function == "login")
    assert "***" in login.args and token.pin not in " ".join(e.args for e in entries)


def test_calls_nobody_keeps_are_not_summarised(token: Any) -> None:
    """Without a tracer the fast path's reads are not summarised (issue 16); one attached later
    gets the next listing's reads."""
    svc = token.service
    assert not svc.tracers
    inter = svc.run(lambda b: b.calls)
    assert inter is not None and inter.sink is not None and not inter.recording()
    svc.run(Backend.list_objects, token.slot_id)
    entries: list[Any] = []
    svc.tracers.append(entries.append)
    try:
        assert inter.recording()
        svc.run(Backend.list_objects, token.slot_id)
    finally:
        svc.tracers.remove(entries.append)
    names = [e.function for e in entries]
    assert "C_FindObjectsInit" in names and "list_objects" in names


def test_one_token_info_call_per_token_read(token: Any) -> None:
    """slots() and token_info() read each token with one C_GetTokenInfo: the trace shim hands
    python-pkcs11's CK_TOKEN_INFO to the backend for the PIN lengths and memory (a second call
    was a second round trip on a remote module)."""
    entries: list[Any] = []
    token.service.tracers.append(entries.append)
    try:
        slots = token.service.run(Backend.slots)
        info = token.service.run(Backend.token_info, token.slot_id)
    finally:
        token.service.tracers.remove(entries.append)
    names = [e.function for e in entries]
    present = [s for s in slots if s.token is not None]
    assert names.count("C_GetTokenInfo") == len(present) + 1, names
    mine = next(s.token for s in slots if s.slot_id == token.slot_id)
    assert mine is not None and mine.min_pin_len == info.min_pin_len == 4 and mine.max_pin_len == 255
    assert mine.pin == info.pin and mine.label == info.label == token.label
