"""The benchmark runs end to end on a 100-object token (a smoke test: no timing is asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "run.py"


def test_bench_runs_at_100_objects(tmp_path: Path) -> None:
    env = dict(os.environ)
    # The bench gives every token its own SOFTHSM2_CONF; nothing from the test run leaks in.
    env.pop("IKM_PIN", None)
    res = subprocess.run(
        [sys.executable, str(BENCH), "--sizes", "100", "--cert-sizes", "40", "--runs", "1", "--quick",
         "--cache", str(tmp_path / "cache")],
        env=env, capture_output=True, text=True, timeout=400,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = res.stdout
    assert "| mixed | 100 |" in out
    assert "| certs | 40 |" in out  # the certificate-heavy profile (issue 16)
    assert "pkcs11-tool -O" in out
    assert "event-loop stall" in out
    assert "ikm-tui --help" in out
    # The listing saw every object of the token (the bench notes a mismatch).
    assert "expected 100" not in out and "expected 40" not in out
    # The listing from a full certificate cache is the parsed listing, byte for byte (issue 16).
    assert "first run (empty certificate cache)" in out and "DIFFERS" not in out
    assert "Python floor" in out
