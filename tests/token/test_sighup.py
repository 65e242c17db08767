"""Terminal loss: SIGHUP during a hung token call closes the sessions and exits 129, quietly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

# Runs the real CLI (`ikm_tui.cli.main.main`) in a child process whose service has a listing that
# hangs for a few seconds: the only change from production is the fault plan.
CHILD = textwrap.dedent("""
    import sys, threading
    from tests.support import faults
    from ikm_tui.core.p11.service import get_service
    from ikm_tui.cli.main import main

    module, argv = sys.argv[1], sys.argv[2:]
    svc = get_service(module)
    svc.wait_ready()
    plan = faults.FaultPlan().hang("list_objects", seconds=3)
    faults.install(svc, plan)

    def announce():
        plan.hanging.wait(30)
        print("HANGING", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    sys.exit(main(argv))
""")


def test_sighup_closes_sessions_and_exits_129(token: Any, tmp_path: Path) -> None:
    trace = tmp_path / "trace.log"
    pin = tmp_path / "pin"
    pin.write_text(token.pin)
    pin.chmod(0o600)
    env = token.env()
    env.pop("IKM_PIN", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, token.module, "list", "--module", token.module, "--token",
         token.label, "--pin-file", str(pin), "--trace", str(trace)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "HANGING", proc.stderr.read() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGHUP)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 129, err
    assert "Traceback" not in err and token.pin not in err + out
    assert "hangup: sessions closed" in err
    lines = trace.read_text().splitlines()
    assert any(" login(" in ln and " -> OK" in ln for ln in lines)
    assert lines[-1].split(" ", 1)[1].startswith("close() -> OK"), lines[-3:]
    # The listing never printed: the operation was abandoned, not half shown.
    assert "token " not in out
