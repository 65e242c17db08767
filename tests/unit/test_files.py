"""core/files.py: the one file-writing policy (no silent overwrite, explicit modes), and the hex-ID parser."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ikm_tui.core.errors import IkmError
from ikm_tui.core.files import PUBLIC_MODE, SECRET_MODE, open_append, write_error, write_file
from ikm_tui.core.hexid import parse_hex_id


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_new_file_gets_exactly_the_mode_asked_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        pub = write_file(tmp_path / "cert.pem", "-----BEGIN CERTIFICATE-----\n")
        secret = write_file(tmp_path / "pin.txt", b"1234", mode=SECRET_MODE)
    finally:
        os.umask(old)
    assert _mode(pub) == PUBLIC_MODE == 0o644 and pub.read_text() == "-----BEGIN CERTIFICATE-----\n"
    assert _mode(secret) == SECRET_MODE == 0o600 and secret.read_bytes() == b"1234"


def test_existing_file_is_not_replaced_unless_asked(tmp_path: Path) -> None:
    target = tmp_path / "out.pem"
    target.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        write_file(target, b"new")
    assert target.read_bytes() == b"old"
    target.chmod(0o666)
    write_file(target, b"newer", overwrite=True, mode=SECRET_MODE)
    assert target.read_bytes() == b"newer" and _mode(target) == 0o600  # the old loose mode is not kept


def test_symlink_is_not_followed_without_overwrite(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / "link").symlink_to(victim)
    with pytest.raises(FileExistsError):
        write_file(tmp_path / "link", b"x")
    assert victim.read_bytes() == b"keep"


def test_errors_become_operator_messages(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    for overwrite in (False, True):
        with pytest.raises(OSError) as info:
            write_file(tmp_path / "d", b"x", overwrite=overwrite)
        assert "is a directory" in write_error(tmp_path / "d", info.value).cause
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(FileExistsError) as exists:
        write_file(tmp_path / "f", b"x")
    err = write_error(tmp_path / "f", exists.value)
    assert isinstance(err, IkmError) and "not replaced" in err.cause
    with pytest.raises(FileNotFoundError) as missing:
        write_file(tmp_path / "no" / "such", b"x")
    assert "Cannot write" in write_error(tmp_path / "no" / "such", missing.value).cause


def test_open_append_tightens_an_existing_trace(tmp_path: Path) -> None:
    trace = tmp_path / "trace.log"
    trace.write_text("#1\n")
    trace.chmod(0o644)
    with open_append(trace) as fh:
        fh.write("#2\n")
    assert trace.read_text() == "#1\n#2\n" and _mode(trace) == 0o600


@pytest.mark.parametrize("text, value", [("01a2", b"\x01\xa2"), ("01:A2", b"\x01\xa2"), (" 01 a2\t", b"\x01\xa2"),
                                         ("", b""), (":", b"")])
def test_hex_id_spellings(text: str, value: bytes) -> None:
    assert parse_hex_id(text) == value


@pytest.mark.parametrize("text", ["1a2", "zz", "0x01"])
def test_hex_id_refusals_name_the_text(text: str) -> None:
    with pytest.raises(ValueError, match=f"not a hex CKA_ID: {text!r}"):
        parse_hex_id(text)
