"""A module that fails to load says why (its own stderr lines), and never writes over our output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ikm_tui.core.p11 import stderr_capture
from tests.support.modules import TPM2_MODULE_CANDIDATES, first_existing


def test_capture_keeps_fd2_writes_off_the_terminal() -> None:
    with stderr_capture.capture() as said:
        os.write(2, b"ERROR:tcti:one\nERROR:tcti:two\n\x1b[2Jthree\n")
    assert said.lines() == ["ERROR:tcti:one", "ERROR:tcti:two", "\\x1b[2Jthree"]


def test_tpm2_without_a_tpm_fails_with_its_reason(tmp_path: Path) -> None:
    module = first_existing(TPM2_MODULE_CANDIDATES)
    assert module, "libtpm2-pkcs11-1 missing: make test installs it"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TPM2", "DBUS"))}
    env["TPM2_PKCS11_STORE"] = str(tmp_path / "no-store")  # no TPM, no store: C_Initialize fails
    res = subprocess.run([sys.executable, "-m", "ikm_tui", "--module", module, "tokens"], env=env,
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "C_Initialize returned CKR_GENERAL_ERROR" in out
    assert "The module said: " in out and "database" in out  # its first lines, on one line
    assert "tpm2_ptool init" in out  # what to do, for this module
    # Nothing the module printed reached our stderr as its own line.
    assert not [line for line in res.stderr.splitlines() if line.startswith(("ERROR", "WARNING"))]


def test_tui_screen_gets_no_module_stderr(tmp_path: Path) -> None:
    """The TUI on a pty, with tpm2-pkcs11 registered with p11-kit and no TPM: the module's
    ERROR:tcti / CRITICAL lines go to the capture file, not over the screen."""
    import pty
    import select
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TPM2", "DBUS", "P11_KIT"))}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
    # An empty SoftHSM home: a short module tree, so the tpm2-pkcs11 entry is on screen.
    from ikm_tui.core.p11 import softhsm

    env["SOFTHSM2_CONF"] = str(softhsm.make_home(tmp_path / "softhsm").conf)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the TUI with module discovery (tpm2-pkcs11 included)
        os.execve(sys.executable, [sys.executable, "-m", "ikm_tui"], env)  # noqa: S606 - argv, no shell
    out = b""
    end = time.monotonic() + 30
    try:
        while time.monotonic() < end:
            if b"libtpm2_pkcs11" in out:  # its entry is drawn: read a little longer, then stop
                end = min(end, time.monotonic() + 1.5)
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    break
    finally:
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.5)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)
    assert b"libtpm2_pkcs11" in out  # the module was tried (its entry is on screen)
    assert b"ERROR:tcti" not in out and b"CRITICAL" not in out
