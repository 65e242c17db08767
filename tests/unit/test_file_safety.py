"""Files we write and read (issue #19 items 9, 10): no symlink followed, no FIFO/device, size caps."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ikm_tui.core.errors import IkmError
from ikm_tui.core.files import (PUBLIC_MODE, check_target, open_append, read_input, write_error,
                                write_file)


def _one_line(err: IkmError) -> str:
    text = err.cause
    assert "\n" not in text and len(text) < 300, text
    return text


def test_overwrite_refuses_a_symlink_and_leaves_its_target(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    victim.chmod(0o640)
    link = tmp_path / "out.pem"
    link.symlink_to(victim)
    with pytest.raises(OSError) as info:
        write_file(link, b"evil", overwrite=True)
    assert "symbolic link" in _one_line(write_error(link, info.value))
    assert victim.read_bytes() == b"keep" and stat.S_IMODE(victim.stat().st_mode) == 0o640
    with pytest.raises(IkmError, match="symbolic link"):
        check_target(link)


def test_trace_file_never_follows_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("x\n")
    victim.chmod(0o644)
    link = tmp_path / "trace.log"
    link.symlink_to(victim)
    with pytest.raises(OSError):
        open_append(link)
    assert victim.read_text() == "x\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644


def test_fifo_is_refused_for_writing_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    for overwrite in (True, False):
        with pytest.raises(OSError) as info:
            write_file(fifo, b"x", overwrite=overwrite)
        assert isinstance(info.value, FileExistsError) or "not a regular file" in _one_line(
            write_error(fifo, info.value))
    # A FIFO with a reader waiting: opened, but refused by fstat before any byte is written.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(OSError) as info:
            write_file(fifo, b"x", overwrite=True)
        assert "not a regular file" in _one_line(write_error(fifo, info.value))
        assert os.read(reader, 10) == b""
    finally:
        os.close(reader)
    with pytest.raises(IkmError, match="not a regular file"):
        check_target(fifo)


def test_devices_and_directories_are_refused(tmp_path: Path) -> None:
    with pytest.raises(OSError) as info:
        write_file("/dev/full", b"x", overwrite=True)
    assert "not a regular file" in _one_line(write_error("/dev/full", info.value))
    with pytest.raises(IkmError, match="not a regular file"):
        check_target("/dev/full")
    with pytest.raises(IkmError, match="is a directory"):
        check_target(tmp_path)


def test_long_file_name_is_one_line(tmp_path: Path) -> None:
    name = tmp_path / ("x" * 10_000)
    with pytest.raises(IkmError) as info:
        check_target(name)
    assert "too long" in _one_line(info.value)
    with pytest.raises(OSError) as exc:
        write_file(name, b"x", overwrite=True)
    assert "too long" in _one_line(write_error(name, exc.value))


def test_mode_is_explicit_under_umask_000(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        p = write_file(tmp_path / "req.csr", b"x", overwrite=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == PUBLIC_MODE


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_devices_are_never_read(path: str) -> None:
    with pytest.raises(IkmError) as info:
        read_input(path, what="certificate file")
    assert "not a regular file" in _one_line(info.value)


def test_fifo_and_directory_inputs_are_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pin.fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(IkmError, match="not a regular file"):
        read_input(fifo, what="PIN file", private=True)
    with pytest.raises(IkmError, match="is a directory"):
        read_input(tmp_path, what="PIN file")


def test_input_size_cap(tmp_path: Path) -> None:
    big = tmp_path / "big.pem"
    with open(big, "wb") as fh:
        fh.truncate(2049)
    assert read_input(big, limit=4096) == b"\0" * 2049
    with pytest.raises(IkmError) as info:
        read_input(big, limit=2048)
    assert "larger than 2048 bytes" in _one_line(info.value)


def test_receive_of_dev_zero_and_a_fifo_ends_at_once(tmp_path: Path) -> None:
    """`cert receive /dev/zero` grew to 24 GB; `--pin-file FIFO` blocked forever."""
    fifo = tmp_path / "p"
    os.mkfifo(fifo, 0o600)
    for argv in (["cert", "receive", "/dev/zero"], ["--pin-file", str(fifo), "list"],
                 ["--pin-file", str(tmp_path), "list"], ["cert", "lint", "/dev/zero"]):
        env = dict(os.environ, IKM_MODULE="/nonexistent.so")
        res = subprocess.run([sys.executable, "-m", "ikm_tui", *argv], capture_output=True, text=True,
                             timeout=30, env=env)
        assert res.returncode != 0 and "Traceback" not in res.stderr, (argv, res.stderr)
