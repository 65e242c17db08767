"""Fixtures of the module conformance suite: one fresh token per test on SoftHSM2, tpm2-pkcs11, p11-kit-client."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ikm_tui.core.p11 import softhsm
from ikm_tui.core.pin import Pin
from ikm_tui.core.p11.backend import Backend
from tests.conftest import HOME, PIN, SO_PIN, delete_token, new_token
from tests.support.modules import P11KitSetup, Processes, Tpm2Setup, start_p11kit, start_tpm2

MODULE_KINDS = ("softhsm", "tpm2", "p11kit")
# p11-kit server loads its provider once, at start: tokens made later are invisible through it,
# so the p11-kit tests take theirs from a pool made before the server starts.
P11KIT_POOL = 24
_counter = itertools.count(1)


@dataclass
class ModToken:
    """A fresh token on one of the three modules, reached through its process-wide TokenService."""

    kind: str
    label: str
    slot_id: int
    service: Any
    module: str
    pin: str = PIN
    so_pin: str = SO_PIN
    tpm2: Tpm2Setup | None = None  # for tpm2_ptool (keys pkcs11-tool cannot make there)

    def login(self) -> None:
        self.service.run(Backend.login, self.slot_id, Pin(self.pin))

    def env(self) -> dict[str, str]:
        # os.environ carries SOFTHSM2_CONF, the tpm2 TCTI/store and P11_KIT_SERVER_ADDRESS.
        return dict(os.environ)


@dataclass
class Modules:
    tpm2: Tpm2Setup
    p11kit: P11KitSetup
    pool: list[str]


@pytest.fixture(scope="module")
def modules() -> Iterator[Modules]:
    """swtpm + tpm2-abrmd + a tpm2-pkcs11 store, and p11-kit server over SoftHSM; stopped at the end.

    Module-scoped, and the environment is restored afterwards: later tests (module discovery,
    the TUI) must find tpm2-pkcs11 and p11-kit-client as on a machine without them running.
    """
    # A test before this one may have loaded tpm2-pkcs11 through discovery (it is registered with
    # p11-kit) without a TPM: that failed service and library must not answer for ours.
    _forget_modules()
    root = Path(tempfile.mkdtemp(prefix="ikm-modules-"))
    procs = Processes()
    saved = dict(os.environ)
    relay = None
    try:
        tpm2 = start_tpm2(root / "tpm2", procs)
        # Read by tpm2-pkcs11 at C_Initialize: set before the module is first loaded.
        os.environ.update(tpm2.env())
        pool = [f"p11kit-{os.getpid()}-{i}" for i in range(P11KIT_POOL)]
        for label in pool:
            softhsm.init_token(HOME, label, PIN, SO_PIN)
        p11 = start_p11kit(root / "p11kit", procs, softhsm.softhsm_module() or "",
                           "pkcs11:manufacturer=SoftHSM%20project", HOME.env())
        relay = p11.relay
        # Read by p11-kit-client.so when it loads.
        os.environ.update(p11.env())
        yield Modules(tpm2, p11, pool)
    finally:
        # Close the services of these modules while their daemons still run (logout).
        _forget_modules()
        if relay is not None:
            relay.close()
        procs.stop()
        for label in [f"p11kit-{os.getpid()}-{i}" for i in range(P11KIT_POOL)]:
            delete_token(ModToken("softhsm", label, 0, None, ""))  # type: ignore[arg-type]
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(root, ignore_errors=True)


def _forget_modules() -> None:
    """Drop the token services of tpm2-pkcs11 and p11-kit-client and finalize their libraries
    (python-pkcs11 keeps one per path): the next load initialises them again with the
    environment of that moment."""
    import pkcs11

    from ikm_tui.core.p11.service import _registry, _registry_lock

    ours = ("tpm2", "p11-kit-client")
    with _registry_lock:
        for path in [p for p in _registry if any(o in p for o in ours)]:
            _registry.pop(path).close()
    for path, lib in list(pkcs11._loaded.items()):  # noqa: SLF001
        if any(o in path for o in ours) and lib.initialized:
            try:
                lib.finalize()
            except Exception:  # noqa: BLE001 - the daemons may be gone already
                pass


def _service(module: str) -> Any:
    from ikm_tui.core.p11.service import get_service

    svc = get_service(module)
    svc.wait_ready()
    return svc


def make_token(kind: str, modules: Modules, service: Any, module_path: str) -> ModToken:
    label = f"conf-{os.getpid()}-{next(_counter)}"
    if kind == "softhsm":
        t = new_token(service, module_path, label)
        return ModToken(kind, t.label, t.slot_id, service, module_path)
    if kind == "tpm2":
        modules.tpm2.add_token(label, PIN, SO_PIN)
        svc = _service(modules.tpm2.module)
    else:
        label = modules.pool.pop()
        svc = _service(modules.p11kit.module)
    # Re-initialise: tokens made by another process are invisible until then (and a module
    # loaded earlier by discovery picks up the environment set above).
    svc.run(Backend.rescan)
    slot = svc.run(Backend.find_slot, label)
    return ModToken(kind, label, slot, svc, svc.module_path, tpm2=modules.tpm2 if kind == "tpm2" else None)


def drop_token(tok: ModToken) -> None:
    try:
        tok.service.run(Backend.logout, tok.slot_id)
    except Exception:  # noqa: BLE001 - a test may have changed the PIN or the token
        pass
    if tok.kind == "softhsm":
        delete_token(tok)  # type: ignore[arg-type]
