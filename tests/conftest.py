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
# The conformance suite's `modules` fixture (swtpm, tpm2-abrmd, p11-kit server), for any test that asks.
pytest_plugins = ["tests.support.conformance"]

_RUN_DIR = Path(tempfile.mkdtemp(prefix="ikm-tests-"))
os.environ["SOFTHSM2_CONF"] = str(_RUN_DIR / "softhsm2.conf")
os.environ["XDG_DATA_HOME"] = str(_RUN_DIR / "xdg")
# Journals and lock files of this run, apart from the user's (and other runs').
os.environ["XDG_STATE_HOME"] = str(_RUN_DIR / "state")
# The certificate parse cache (core/x509/certcache.py) and remote module copies of this run.
os.environ["XDG_CACHE_HOME"] = str(_RUN_DIR / "cache")
os.environ.pop("IKM_CERT_CACHE", None)
os.environ.pop("IKM_PIN", None)
os.environ.pop("IKM_MODULE", None)

from ikm_tui.core.p11 import softhsm  # noqa: E402
from ikm_tui.core.pin import Pin  # noqa: E402
from ikm_tui.core.p11.backend import Backend  # noqa: E402

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
        self.service.run(Backend.login, self.slot_id, Pin(self.pin))

    def env(self) -> dict[str, str]:
        return HOME.env()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from ikm_tui.core.p11.service import close_all

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
    from ikm_tui.core.p11.service import get_service

    svc = get_service(module_path)
    svc.wait_ready()
    return svc


def new_token(service: Any, module_path: str, label: str | None = None) -> TestToken:
    label = label or f"ikm-test-{os.getpid()}-{next(_counter)}"
    softhsm.init_token(HOME, label, PIN, SO_PIN)
    # Tokens made by another process are invisible until the module is re-initialised.
    service.run(Backend.rescan)
    slot = service.run(Backend.find_slot, label)
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
        tok.service.run(Backend.logout, tok.slot_id)
    except Exception:  # noqa: BLE001 - a test may have removed the token on purpose
        pass
    delete_token(tok)


# ----- TUI: the snapshot token and top-level snapshots/ --------------------------------------
# Appended for the TUI tests (tests/test_ui_*.py).

SNAPSHOT_TOKEN_SRC = Path(__file__).resolve().parent / "support" / "fixtures" / "snapshot-token"
SNAPSHOT_LABEL = "UserPIN (snapshot)"  # tests/support/fixtures/make_snapshot_token.py
SNAPSHOTS_DIR = Path(__file__).resolve().parent.parent / "snapshots"


@pytest.fixture
def snapshot_token(service: Any, module_path: str) -> Any:
    """The committed snapshot token, copied into this run's token dir (same serial, slot id,
    CKA_IDs and fingerprints every time), seen by the module after a rescan."""
    copied = []
    for src in SNAPSHOT_TOKEN_SRC.iterdir():
        dst = HOME.tokendir / src.name
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
        copied.append(dst)
    service.run(Backend.rescan)
    slot = service.run(Backend.find_slot, SNAPSHOT_LABEL)
    yield TestToken(SNAPSHOT_LABEL, slot, service, module_path)
    try:
        service.run(Backend.logout, slot)
    except Exception:  # noqa: BLE001
        pass
    for dst in copied:
        shutil.rmtree(dst, ignore_errors=True)
    service.run(Backend.rescan)


def _top_level_svg_extension() -> Any:
    from pytest_textual_snapshot import SVGImageExtension

    class TopLevelSVGExtension(SVGImageExtension):
        """pytest-textual-snapshot 1.1.0 (pinned) writes SVGs to tests/__snapshots__/<module>/;
        the project keeps them in snapshots/<module>/ at the top level."""

        @classmethod
        def dirname(cls, *, test_location: Any) -> str:
            return str(SNAPSHOTS_DIR / test_location.basename)

    return TopLevelSVGExtension


@pytest.fixture
def snapshot(snapshot: Any) -> Any:
    """syrupy's `snapshot`, but swapping in TopLevelSVGExtension when `snap_compare` asks for
    the plugin's SVGImageExtension (it calls `snapshot.use_extension(SVGImageExtension)`)."""
    from pytest_textual_snapshot import SVGImageExtension
    from syrupy.assertion import SnapshotAssertion

    top_level = _top_level_svg_extension()

    class TopLevelSnapshotAssertion(SnapshotAssertion):
        def use_extension(self, extension_class: Any = None) -> Any:
            if extension_class is SVGImageExtension:
                extension_class = top_level
            return super().use_extension(extension_class)

    return TopLevelSnapshotAssertion(
        session=snapshot.session,
        extension_class=snapshot.extension_class,
        test_location=snapshot.test_location,
        update_snapshots=snapshot.update_snapshots,
    )


@pytest.fixture(autouse=True)
def _no_os_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """The TUI's PIN memory sees the 'fail' keyring, as on an SSH host with no D-Bus: what the
    operator sees then is the same on every machine, and no test touches a real keyring."""
    from keyring.backends import fail

    from ikm_tui.core.ops.pinstore import PinStore
    from ikm_tui.ui.flows import pin_memory

    monkeypatch.setattr(pin_memory, "default_store", lambda: PinStore(fail.Keyring()))
