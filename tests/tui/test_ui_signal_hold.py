"""Issue #19: SIGTERM during a token write in the TUI waits for the write and its read-back.

The real app under a pty renames a key pair and its certificate (`R`). The only change from
production is a fault plan (tests/support/faults.py) in the child: the rename's second object
handle hangs, so one object is renamed and the others are not yet. SIGTERM goes out then; the
hang is released only once the app has shown that it holds the signal, or has exited. Without
the hold (ui/writes.py) the process leaves mid-write and the token stays half-renamed (checked
by switching GUARD.hold off); with it the app leaves with 143 once the rename is complete, and
every object carries the new label.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from ikm_tui.core.p11 import keys, objects
from ikm_tui.core.p11.backend import Backend
from tests.tui.test_ui_hostile_dialogs import _cert
from tests.support import pty
from cryptography.hazmat.primitives import serialization


# The TUI (`ikm_tui.cli.main.main` with no command) with the rename's second object handle
# hanging until the test drops a `go` file; `hanging` says the write is stopped half-way.
CHILD = textwrap.dedent("""
    import sys, threading, time
    from pathlib import Path
    from tests.support import faults
    from ikm_tui.core.p11.service import get_service
    from ikm_tui.cli.main import main

    module, flags, argv = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    svc = get_service(module)
    svc.wait_ready()
    plan = faults.FaultPlan().hang("pkcs11_object", seconds=60, on_call=2)
    faults.install(svc, plan)

    def watch():
        plan.hanging.wait(120)
        (flags / "hanging").touch()
        while not (flags / "go").exists():
            time.sleep(0.01)
        plan.release.set()

    threading.Thread(target=watch, daemon=True).start()
    sys.exit(main(argv))
""")
REPO = Path(__file__).resolve().parents[2]


def _screen_text(out: bytearray) -> bytes:
    return re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", bytes(out))


def test_sigterm_during_a_tui_rename_waits_for_it(token: Any, tmp_path: Path) -> None:
    token.login()
    token.service.run(keys.generate_keypair, token.slot_id, keys.KeySpec.parse("ec:p256"), "web", b"\x42")
    der = _cert("web", ca=False).public_bytes(serialization.Encoding.DER)
    token.service.run(objects.write_certificate, token.slot_id, der, "web", b"\x42")
    token.service.run(Backend.logout, token.slot_id)
    env = pty.pty_env(token.env(), IKM_PIN=token.pin, XDG_STATE_HOME=str(tmp_path / "state"), PYTHONPATH=str(REPO))
    child, master = pty.spawn([sys.executable, "-c", CHILD, token.module, str(tmp_path),
                               "--module", token.module, "--token", token.label], env, cwd=tmp_path)
    out = bytearray()
    try:
        pty.read_until(master, out, b"web", 30)
        pty.read(master, out, 0.5)
        for key in (b"\t", b"\x1b[C", b"\t"):  # Certificates tab, into the table
            os.write(master, key)
            pty.read(master, out, 0.4)
        os.write(master, b"R")
        pty.read_until(master, out, b" Rename ", 15)
        pty.read(master, out, 0.3)
        os.write(master, b"\x7f\x7f\x7fsite\r")
        end = time.monotonic() + 30
        while not (tmp_path / "hanging").exists():
            assert time.monotonic() < end and child.poll() is None, bytes(out[-2000:])
            pty.read(master, out, 0.05)
        child.send_signal(signal.SIGTERM)
        # Held: the app says so and waits. Not held: it leaves now, mid-write.
        end = time.monotonic() + 15
        while b"SIGTERM: finishing" not in _screen_text(out) and child.poll() is None:
            assert time.monotonic() < end, bytes(out[-2000:])
            pty.read(master, out, 0.1)
        (tmp_path / "go").touch()
        pty.wait_exit(child, master, out, 30)
    finally:
        pty.close(child, master)
    assert child.returncode == 128 + signal.SIGTERM, (child.returncode, bytes(out[-1500:]))
    token.login()
    labels = sorted((o.cls.value, o.label) for o in token.service.run(Backend.list_objects, token.slot_id).objects)
    assert labels == [("certificate", "site"), ("private_key", "site"), ("public_key", "site")], labels
    assert not list((tmp_path / "state" / "ikm-tui" / "journal").glob("*.json"))  # the write ended whole
    assert b"Traceback" not in out
