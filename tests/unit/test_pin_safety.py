"""PIN in memory (issue #19 item 8): no core dump once a PIN exists, a wipeable copy, text checks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ikm_tui.cli.common import refuse_pin_argv, undecodable_arg
from ikm_tui.core.pin import Pin, pin_problem, pin_text_problem

_PROBE = """
import ctypes, resource
libc = ctypes.CDLL(None)
def state():
    return [list(resource.getrlimit(resource.RLIMIT_CORE)), libc.prctl(3, 0, 0, 0, 0)]
soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
before = state()
from ikm_tui.core.pin import Pin
pin = Pin("86420975")
print(json.dumps([before, state()]))
""".replace("import ctypes", "import json, ctypes")


def test_a_pin_in_memory_means_no_core_dump() -> None:
    """The rlimit check the issue allows: after the first Pin, RLIMIT_CORE is (0, 0) (the hard
    limit too, so nothing in the process can raise it again) and the process is not dumpable,
    which also stops a core_pattern pipe (systemd-coredump) from getting a core."""
    res = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    before, after = json.loads(res.stdout)
    assert before[1] == 1, before  # a fresh process is dumpable: the probe can tell the difference
    assert after == [[0, 0], 0], after


def test_the_tui_disables_core_dumps_before_any_pin_is_typed() -> None:
    """The PIN dialog's Input holds the PIN as a str before a Pin exists: run_tui protects first."""
    probe = ("import resource, ikm_tui.cli.tui as t\n"
             "from ikm_tui.core.p11.hardening import dumpable\n"
             "class Stop(Exception): pass\n"
             "def stop(*a, **k): raise Stop\n"
             "t.prepare_tui = stop\n"
             "try:\n    t.run_tui(None, None)\nexcept Stop:\n    pass\n"
             "print(resource.getrlimit(resource.RLIMIT_CORE), dumpable())\n")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30, check=True)
    assert res.stdout.strip() == "(0, 0) 0"


def test_wipe_zeroes_our_copy() -> None:
    pin = Pin("86420975")
    buf = pin._buf  # noqa: SLF001 - the buffer is what a core would have held
    assert pin.reveal() == "86420975" and len(pin) == 8
    pin.wipe()
    assert bytes(buf) == b"\0" * 8 and len(pin) == 0 and pin.reveal() == ""
    assert "86420975" not in repr(pin) + str(pin) + f"{pin}"


@pytest.mark.parametrize("value, why", [
    ("", "empty"), ("1234\n5678", "more than one line"), ("12\x0034", "control character"),
    ("1234\u202e", "control character"), (b"12\xff34".decode("utf-8", "surrogateescape"), "UTF-8"),
])
def test_pin_text_problems(value: str, why: str) -> None:
    problem = pin_text_problem(value)
    assert problem is not None and why in problem and (not value or value not in problem)


def test_pin_length_against_the_token() -> None:
    assert pin_problem(Pin("123"), 4, 255) == "The PIN is too short: this token needs at least 4 characters."
    assert "too long" in (pin_problem(Pin("1" * 9), 4, 8) or "")
    assert pin_problem(Pin("1234"), 4, 8) is None and pin_problem(Pin("1234"), None, None) is None
    assert pin_problem(Pin("ünïcødé"), 4, 8) is None  # characters, not bytes, as the TUI counts


def test_pin_value_in_a_uri_and_undecodable_args() -> None:
    assert refuse_pin_argv(["--token", "pkcs11:token=a?pin-value=1"]) is not None
    assert refuse_pin_argv(["--token=pkcs11:token=a;object=b?pin%2dvalue=1", "list"]) is not None
    assert refuse_pin_argv(["--token", "pkcs11:token=pin-valueless"]) is not None  # conservative
    assert refuse_pin_argv(["--token", "pkcs11:token=a", "list"]) is None
    assert undecodable_arg(["list", "--token", b"\xff".decode("utf-8", "surrogateescape")]) == 3
    assert undecodable_arg(["list", "ünïcødé"]) is None
