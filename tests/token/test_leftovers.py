"""Issue #19 item 2 (doctor part): what a killed write leaves is recognised by `cert doctor`, and the
temporary-ID key pair of an interrupted `certreq create` is removed by `--fix --yes`."""

from __future__ import annotations

from typing import Any

import pytest

from ikm_tui.cli.main import main
from ikm_tui.core.model import ObjClass
from ikm_tui.core.p11 import keys, objects
from ikm_tui.core.p11.backend import Backend


def _labels(tok: Any) -> list[tuple[str, str, bytes]]:
    return sorted((o.cls.value, o.label, o.id) for o in tok.service.run(Backend.list_objects, tok.slot_id).objects)


def test_doctor_reports_leftovers_and_removes_the_temporary_pair(token: Any, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IKM_PIN", token.pin)
    token.login()
    svc, slot = token.service, token.slot_id
    spec = keys.KeySpec.parse("ec:p256")
    # The states a SIGKILL left in the report: a pair under the temporary ID, a public key whose
    # private key is gone, a data object with neither label nor application.
    svc.run(keys.generate_keypair, slot, spec, "web01", b"ikm-tui-pending-\x01\x02\x03\x04\x05\x06\x07\x08")
    lone = svc.run(keys.generate_keypair, slot, spec, "old", b"\x42")
    svc.run(Backend.list_objects, slot)
    svc.run(objects.destroy, slot, lone["private"])
    svc.run(objects.create_data_object, slot, "", "", b"\x30\x00")
    argv = ["--module", token.module, "--token", token.label, "cert", "doctor"]
    before = _labels(token)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("leftover of an interrupted certreq create") == 2  # private and public key
    assert "public key without its private key" in out and "no label and no application" in out
    assert "Apply with --fix --yes" in out and _labels(token) == before
    assert main([*argv, "--fix", "--yes"]) == 0
    out = capsys.readouterr().out
    assert out.count("removed leftover") == 2 and "still there" not in out
    after = _labels(token)
    assert not [x for x in after if x[2].startswith(b"ikm-tui-pending-")]
    assert ("public_key", "old", b"\x42") in after and any(c == ObjClass.DATA.value for c, _, _ in after)


def test_a_killed_create_is_named_on_the_next_run_until_the_doctor_ran(token: Any, tmp_path: Any) -> None:
    import os
    import signal
    import subprocess
    import sys

    from tests.token.test_signal_hold import _wait_for

    env = token.env()
    env.update(IKM_PIN=token.pin, XDG_STATE_HOME=str(tmp_path / "state"))

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ikm_tui", "--module", token.module, "--token", token.label,
                               *argv], env=env, capture_output=True, text=True, timeout=60)

    proc = subprocess.Popen([sys.executable, "-m", "ikm_tui", "--module", token.module, "--token", token.label,
                             "certreq", "create", "--label", "killed", "--key-type", "rsa:2048",
                             "--subject", "CN=killed", "--out", str(tmp_path / "k.csr")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(proc, b"Generating")
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    notes = list((tmp_path / "state" / "ikm-tui" / "journal").iterdir())
    assert len(notes) == 1 and (notes[0].stat().st_mode & 0o777) == 0o600
    listed = run("list", "--login")
    assert listed.returncode == 0 and "`ikm-tui certreq create --label killed" in listed.stderr
    assert "cert doctor" in listed.stderr and "Traceback" not in listed.stderr
    doctor = run("cert", "doctor")
    assert doctor.returncode == 0 and "was stopped before it finished" in doctor.stderr, doctor.stderr
    if os.listdir(tmp_path / "state" / "ikm-tui" / "journal"):
        # Killed after the intent was journaled: the journal, not the doctor, puts it back.
        assert "ikm-tui journal undo" in doctor.stderr
        undo = run("journal", "undo")
        assert undo.returncode == 0, undo.stderr
    assert not os.listdir(tmp_path / "state" / "ikm-tui" / "journal")
    again = run("list", "--login")
    assert "was stopped" not in again.stderr
