"""CLI safety on a real token (issue #19 items 8-10): bad PINs never reach C_Login, bad paths never
give a traceback or a half-done operation, a symlink is never written through."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ikm_tui.cli.main import main
from ikm_tui.core.p11.backend import Backend
from tests.support import faults


def _args(tok: Any, *rest: str) -> list[str]:
    return ["--module", tok.module, "--token", tok.label, *rest]


def _pin_file(tmp_path: Path, data: bytes) -> str:
    f = tmp_path / "pin"
    f.write_bytes(data)
    f.chmod(0o600)
    return str(f)


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    rc = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


@pytest.mark.parametrize("content, why", [
    (b"", "empty"), (b"\n", "empty"), (b"123\n", "too short"), (b"1234\x005678\n", "control character"),
    (b"24681357\nsecond line\n", "more than one line"), (b"\xff\xfe24681357\n", "not valid UTF-8"),
    (b"9" * 300 + b"\n", "too long"),
])
def test_a_pin_the_token_must_refuse_costs_no_try(token: Any, tmp_path: Path, content: bytes, why: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with faults.installed(token.service, faults.FaultPlan()) as f:
        rc, err = _run(capsys, _args(token, "list", "--pin-file", _pin_file(tmp_path, content)))
        assert f.plan.login_attempts == 0
    assert rc == 5 and why in err, err  # 5: PIN problem (cli/exitcodes.py)
    assert "24681357" not in err


def test_empty_pin_from_the_environment_costs_no_try(token: Any, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IKM_PIN", "")
    with faults.installed(token.service, faults.FaultPlan()) as f:
        rc, err = _run(capsys, _args(token, "list"))
        assert f.plan.login_attempts == 0
    assert rc == 5 and "empty" in err  # 5: PIN problem


def test_the_right_pin_still_logs_in(token: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with faults.installed(token.service, faults.FaultPlan()) as f:
        rc, err = _run(capsys, _args(token, "list", "--pin-file", _pin_file(tmp_path, token.pin.encode() + b"\n")))
        assert f.plan.login_attempts == 1
    assert rc == 0, err
    token.service.run(Backend.logout, token.slot_id)


def test_pin_file_fifo_and_directory_end_at_once(token: Any, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    for path, why in ((fifo, "not a regular file"), (tmp_path, "is a directory")):
        rc, err = _run(capsys, _args(token, "list", "--pin-file", str(path)))
        assert rc == 5 and why in err, err  # 5: no PIN to be had


@pytest.mark.parametrize("uri", ["pkcs11:token=X?pin-value=86420975", "pkcs11:token=X?PIN%2DVALUE=86420975"])
def test_pin_value_in_a_uri_is_refused_like_pin(uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = _run(capsys, ["--token", uri, "list"])
    assert rc == 2 and "pin-value" in err and "86420975" not in err


def test_invalid_utf8_in_argv_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    bad = b"web\xff01".decode("utf-8", "surrogateescape")
    rc, err = _run(capsys, ["certreq", "create", "--label", bad, "--key-type", "ec:p256",
                            "--subject", "CN=x", "--out", "x.csr"])
    assert rc == 2 and "argument 4 is not valid UTF-8" in err


def _handles(tok: Any) -> int:
    return len(tok.service.run(Backend.list_objects, tok.slot_id).objects)


@pytest.mark.parametrize("out, why", [("DIR", "is a directory"), ("/dev/full", "not a regular file"),
                                      ("LINK", "symbolic link"), ("LONG", "too long")])
def test_bad_out_stops_certreq_create_before_the_token_changes(token: Any, tmp_path: Path, out: str, why: str,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IKM_PIN", token.pin)
    token.login()
    before = _handles(token)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "link").symlink_to(victim)
    paths = {"DIR": tmp_path, "LINK": tmp_path / "link", "LONG": tmp_path / ("x" * 10_000)}
    target = str(paths.get(out, out))
    rc, err = _run(capsys, _args(token, "certreq", "create", "--label", "web01", "--key-type", "ec:p256",
                                 "--subject", "CN=web01", "--out", target))
    assert rc == 1 and why in err and len(err.splitlines()) <= 2, err
    assert _handles(token) == before and victim.read_text() == "keep"


def test_extract_never_writes_through_a_symlink(token: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IKM_PIN", token.pin)
    rc, err = _run(capsys, _args(token, "certreq", "create", "--label", "web01", "--key-type", "ec:p256",
                                 "--subject", "CN=web01", "--out", str(tmp_path / "web01.csr")))
    assert rc == 0, err
    victim = tmp_path / "victim"
    victim.write_text("keep")
    victim.chmod(0o640)
    (tmp_path / "link.csr").symlink_to(victim)
    rc, err = _run(capsys, _args(token, "certreq", "extract", "web01", "--out", str(tmp_path / "link.csr")))
    assert rc == 1 and "symbolic link" in err
    assert victim.read_text() == "keep" and (victim.stat().st_mode & 0o777) == 0o640
    old = os.umask(0)
    try:
        rc, err = _run(capsys, _args(token, "certreq", "extract", "web01", "--out", str(tmp_path / "again.csr")))
    finally:
        os.umask(old)
    assert rc == 0 and ((tmp_path / "again.csr").stat().st_mode & 0o777) == 0o644


@pytest.mark.parametrize("label, subject", [
    ("web\x1b]0;x\x07", "CN=web01"), ("web\x07", "CN=web01"), ("w" * 10_000, "CN=web01"),
    ("web01", "CN=web\x1b[2J"), ("web01", "CN=a\u202e"),
])
def test_certreq_create_refuses_control_characters_before_the_keygen(token: Any, tmp_path: Path, label: str,
                                                                    subject: str, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IKM_PIN", token.pin)
    token.login()
    before = _handles(token)
    rc, err = _run(capsys, _args(token, "certreq", "create", "--label", label, "--key-type", "ec:p256",
                                 "--subject", subject, "--out", str(tmp_path / "r.csr")))
    assert rc == 1 and ("control or invisible" in err or "at most 255" in err), err
    assert "\x1b" not in err and "\x07" not in err and len(err) < 600
    assert _handles(token) == before and not (tmp_path / "r.csr").exists()


@pytest.mark.parametrize("new", ["web\x9b2J", "abc\u202edef", "sep\u2028x"])
def test_cert_rename_refuses_c1_bidi_and_separators(token: Any, tmp_path: Path, new: str,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IKM_PIN", token.pin)
    rc, err = _run(capsys, _args(token, "certreq", "create", "--label", "web01", "--key-type", "ec:p256",
                                 "--subject", "CN=web01", "--out", str(tmp_path / "r.csr")))
    assert rc == 0, err
    labels = sorted(o.label for o in token.service.run(Backend.list_objects, token.slot_id).objects)
    rc, err = _run(capsys, _args(token, "cert", "rename", "web01", new))
    assert rc == 1 and "control or invisible" in err, err
    assert sorted(o.label for o in token.service.run(Backend.list_objects, token.slot_id).objects) == labels
