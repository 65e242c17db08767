"""PIN hygiene end to end: no --pin, --pin-file 0600, redacted traces, leaking-module warnings."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ikm_tui.cli.main import build_parser, main
from ikm_tui.cli.common import read_pin_file
from ikm_tui.core.errors import IkmError
from ikm_tui.core.pin import Pin
from ikm_tui.core.p11.service import summarize_args
from ikm_tui.core.p11.trace import TraceBuffer, file_tracer, format_entry, trace_warnings
from ikm_tui.core.p11.backend import Backend

SECRET = "86420975"


def pin_forms(pin: str) -> list[str]:
    """Every way a PIN shows up in logs: ASCII, hex (both cases, spaced as pkcs11-spy prints)."""
    raw = pin.encode()
    return [pin, raw.hex(), raw.hex().upper(), raw.hex(" "), raw.hex(" ").upper()]


def assert_no_pin(text: str, *pins: str) -> None:
    for pin in pins:
        for form in pin_forms(pin):
            assert form not in text, f"PIN leaked as {form!r}"


def test_pin_file_must_be_0600(tmp_path: Path) -> None:
    f = tmp_path / "pin"
    f.write_text(SECRET + "\n")
    f.chmod(0o644)
    with pytest.raises(IkmError) as info:
        read_pin_file(str(f))
    assert "chmod 600" in info.value.next_step and SECRET not in str(info.value)
    f.chmod(0o640)
    with pytest.raises(IkmError):
        read_pin_file(str(f))
    f.chmod(0o600)
    assert read_pin_file(str(f)) == Pin(SECRET)


@pytest.mark.parametrize("argv", [
    ["--pin", SECRET, "list"], ["list", "--pin", SECRET], ["list", f"--pin={SECRET}"],
    ["tokens", "--so-pin", SECRET],
])
def test_no_pin_option_and_the_value_is_never_echoed(argv: list[str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    out = capsys.readouterr()
    assert "there is no --" in out.err and "--pin-file" in out.err
    assert_no_pin(out.out + out.err, SECRET)


def test_argparse_knows_no_pin_and_does_not_abbreviate_to_pin_file() -> None:
    parser = build_parser()
    for argv in (["list", "--pin", SECRET], ["--pin", SECRET, "list"]):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
    assert not any("--pin" == s for a in parser._actions for s in a.option_strings)  # noqa: SLF001


def test_pin_repr_and_str_pin_in_trace_args() -> None:
    pin = Pin(SECRET)
    assert repr(pin) == "Pin(***)" and str(pin) == "Pin(***)" and f"{pin}" == "***"
    # A caller passing a plain str to login by mistake: the trace still shows ***.
    for args, kwargs in (((1, SECRET), {}), ((1,), {"pin": SECRET}), ((1, SECRET.encode()), {}),
                         ((1, pin), {"so_pin": SECRET})):
        assert_no_pin(summarize_args(args, kwargs, "login"), SECRET)


def test_str_pin_to_login_is_refused_and_not_traced(token: Any) -> None:
    buf = TraceBuffer()
    token.service.tracers.append(buf)
    try:
        with pytest.raises(IkmError) as info:
            token.service.run(Backend.login, token.slot_id, SECRET)
    finally:
        token.service.tracers.remove(buf)
    assert "takes a Pin" in str(info.value)
    assert_no_pin(str(info.value) + "\n".join(format_entry(e) for e in buf.entries), SECRET)


def test_trace_file_created_0600_even_with_open_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "trace.log"
        file_tracer(str(path))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        loose = tmp_path / "loose.log"
        loose.write_text("")
        loose.chmod(0o644)
        file_tracer(str(loose))
        assert stat.S_IMODE(loose.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def _cli(tok: Any, *args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = tok.env()
    env.pop("IKM_PIN", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "ikm_tui", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_cli_login_right_and_wrong_leaves_no_pin_anywhere(token: Any, tmp_path: Path) -> None:
    trace = tmp_path / "trace.log"
    good, bad = tmp_path / "good.pin", tmp_path / "bad.pin"
    good.write_text(token.pin + "\n")
    bad.write_text(SECRET + "\n")
    good.chmod(0o600)
    bad.chmod(0o600)
    common = ["list", "--json", "--module", token.module, "--token", token.label, "--trace", str(trace)]
    ok = _cli(token, *common, "--pin-file", str(good))
    assert ok.returncode == 0, ok.stderr
    wrong = _cli(token, *common, "--pin-file", str(bad))
    assert wrong.returncode == 5 and "CKR_PIN_INCORRECT" in wrong.stderr
    env_wrong = _cli(token, *common, env_extra={"IKM_PIN": SECRET})
    assert env_wrong.returncode == 5
    text = trace.read_text()
    assert "login(" in text and "***" in text and "CKR_PIN_INCORRECT" in text
    assert stat.S_IMODE(trace.stat().st_mode) == 0o600
    for out in (ok, wrong, env_wrong):
        assert "Traceback" not in out.stderr
        assert_no_pin(out.stdout + out.stderr, token.pin, SECRET)
    assert_no_pin(text, token.pin, SECRET)


def test_confirm_final_try_flag_is_accepted() -> None:
    args = build_parser().parse_args(["list", "--confirm-final-try"])
    assert args.confirm_final_try is True


# ----- modules that log PINs themselves ---------------------------------------------------------
def test_trace_warnings(tmp_path: Path) -> None:
    none: list[str] = []
    assert trace_warnings("/usr/lib/softhsm/libsofthsm2.so", env={}, p11kit_dirs=none,
                          p11kit_files=()) == []
    spy = trace_warnings("/usr/lib/x86_64-linux-gnu/pkcs11-spy.so",
                         env={"PKCS11SPY": "/usr/lib/softhsm/libsofthsm2.so"}, p11kit_dirs=none,
                         p11kit_files=())
    assert len(spy) == 1 and "pkcs11-spy" in spy[0] and "PIN" in spy[0]
    kit = "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so"
    assert trace_warnings(kit, env={}, p11kit_dirs=none, p11kit_files=()) == []
    assert "P11_KIT_DEBUG" in trace_warnings(kit, env={"P11_KIT_DEBUG": "all"}, p11kit_dirs=none,
                                             p11kit_files=())[0]
    (tmp_path / "softhsm.module").write_text("module: libsofthsm2.so\nlog-calls: yes\n")
    logged = trace_warnings(kit, env={}, p11kit_dirs=[str(tmp_path)], p11kit_files=())
    assert len(logged) == 1 and "log-calls" in logged[0]
    opensc = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
    quiet_conf = {"OPENSC_CONF": str(tmp_path / "none.conf")}
    assert trace_warnings(opensc, env={**quiet_conf, "OPENSC_DEBUG": "2"}, p11kit_dirs=none) == []
    assert "OpenSC debug level 3" in trace_warnings(opensc, env={**quiet_conf, "OPENSC_DEBUG": "3"},
                                                    p11kit_dirs=none)[0]
    conf = tmp_path / "opensc.conf"
    conf.write_text("app default {\n  debug = 9;\n}\n")
    assert trace_warnings(opensc, env={"OPENSC_CONF": str(conf)}, p11kit_dirs=none)


SPY = next((p for p in ("/usr/lib/x86_64-linux-gnu/pkcs11-spy.so", "/usr/lib/aarch64-linux-gnu/pkcs11-spy.so")
            if os.path.exists(p)), None)


@pytest.mark.skipif(SPY is None, reason="OpenSC's pkcs11-spy.so is not installed")
def test_cli_warns_before_logging_in_through_pkcs11_spy(token: Any, tmp_path: Path) -> None:
    log = tmp_path / "spy.log"
    pin = tmp_path / "pin"
    pin.write_text(token.pin)
    pin.chmod(0o600)
    res = _cli(token, "list", "--module", str(SPY), "--token", token.label, "--pin-file", str(pin),
               env_extra={"PKCS11SPY": token.module, "PKCS11SPY_OUTPUT": str(log)})
    assert res.returncode == 0, res.stderr
    assert "WARNING" in res.stderr and "pkcs11-spy" in res.stderr
    assert_no_pin(res.stdout + res.stderr, token.pin)
    # Why the warning exists: the spy's own log holds the PIN.
    assert token.pin in log.read_text(errors="replace")
