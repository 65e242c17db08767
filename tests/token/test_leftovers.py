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
