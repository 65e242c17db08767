"""Test fixtures: a real SoftHSM2 token per test, in a SOFTHSM2_CONF private to this run."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# SoftHSM reads SOFTHSM2_CONF when the module initialises: set it before anything loads it,
# so no test ever touches the system token directory.
_RUN_DIR = Path(tempfile.mkdtemp(prefix="ikm-tests-"))
os.environ["SOFTHSM2_CONF"] = str(_RUN_DIR / "softhsm2.conf")
os.environ["XDG_DATA_HOME"] = str(_RUN_DIR / "xdg")
os.environ.pop("IKM_PIN", None)
os.environ.pop("IKM_MODULE", None)

from ikm_tui.core import softhsm  # noqa: E402
from ikm_tui.core.pin import Pin  # noqa: E402

HOME = softhsm.make_home(_RUN_DIR)
MODULE = softhsm.softhsm_module()
PIN = "24681357"
SO_PIN = "13572468"
_counter = itertools.count(1)


@dataclass
class TestToken:
    """A freshly initialised SoftHSM token, reached through the process-wide TokenService."""

    label: str
    slot_id: int
    service: Any
    module: str
    pin: str = PIN
    so_pin: str = SO_PIN

    def login(self) -> None:
        self.service.call("login", self.slot_id, Pin(self.pin))

    def env(self) -> dict[str, str]:
        return HOME.env()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from ikm_tui.core.service import close_all

    close_all()
    shutil.rmtree(_RUN_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def softhsm_home() -> softhsm.SoftHsmHome:
    return HOME


@pytest.fixture(scope="session")
def module_path() -> str:
    if MODULE is None:
        pytest.fail("SoftHSM2 is not installed: run `make test`, which installs it")
    return MODULE


@pytest.fixture(scope="session")
def service(module_path: str) -> Any:
    from ikm_tui.core.service import get_service

    svc = get_service(module_path)
    svc.wait_ready()
    return svc


def new_token(service: Any, module_path: str, label: str | None = None) -> TestToken:
    label = label or f"ikm-test-{os.getpid()}-{next(_counter)}"
    softhsm.init_token(HOME, label, PIN, SO_PIN)
    # Tokens made by another process are invisible until the module is re-initialised.
    service.call("rescan")
    slot = service.call("find_slot", label)
    return TestToken(label, slot, service, module_path)


def delete_token(tok: TestToken) -> None:
    util = shutil.which("softhsm2-util")
    if util:
        subprocess.run([util, "--delete-token", "--token", tok.label], env=HOME.env(),
                       capture_output=True, check=False)


@pytest.fixture
def token(service: Any, module_path: str) -> Any:
    tok = new_token(service, module_path)
    yield tok
    try:
        tok.service.call("logout", tok.slot_id)
    except Exception:  # noqa: BLE001 - a test may have removed the token on purpose
        pass
    delete_token(tok)
