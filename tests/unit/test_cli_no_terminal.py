"""Bare `ikm-tui` without a terminal (issue #14 item 7): refuse at once with a one-line hint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_tui_refuses_without_a_terminal(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with out.open("wb") as fh:
        proc = subprocess.run([sys.executable, "-m", "ikm_tui"], stdin=subprocess.DEVNULL, stdout=fh,
                              stderr=subprocess.PIPE, timeout=60, check=False)
    assert proc.returncode == 2
    assert out.read_bytes() == b""  # no escape codes in the file
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1
    assert "terminal" in lines[0] and "ikm-tui list" in lines[0] and "--json" in lines[0]
