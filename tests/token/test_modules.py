"""Module discovery order: --module, IKM_MODULE, p11-kit registrations, well-known; trust store last."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import pytest

from tests.support import faults

from ikm_tui.core.p11 import modules
from ikm_tui.ui.app import make_app
from tests.support.ui_helpers import FIXED_NOW, SIZE, settle

# Installed by `make test` (scripts/bootstrap.sh: p11-kit-modules).
TRUST = next(iter(sorted(glob.glob("/usr/lib/*/pkcs11/p11-kit-trust.so"))), "p11-kit-trust.so missing")


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Three p11-kit registrations in the order p11-kit's own directory has them."""
    libs = []
    for name in ("opensc-pkcs11", "p11-kit-trust", "softhsm2"):
        lib = tmp_path / f"{name}.so"
        lib.write_bytes(b"")
        (tmp_path / f"{name}.module").write_text(f"module: {lib}\n")
        libs.append(lib)
    monkeypatch.setattr(modules, "_P11KIT_DIRS", [str(tmp_path)])
    monkeypatch.setattr(modules, "WELL_KNOWN", [])
    monkeypatch.delenv("IKM_MODULE", raising=False)
    return libs


def test_the_trust_store_comes_after_the_keystores(registry: list[Path]) -> None:
    opensc, trust, softhsm = map(str, registry)
    assert [c.path for c in modules.discover(None)] == [opensc, softhsm, trust]


def test_an_explicit_module_stays_first_even_the_trust_store(registry: list[Path]) -> None:
    opensc, trust, softhsm = map(str, registry)
    found = modules.discover(trust)
    assert found[0].path == trust and found[0].source == "--module"
    assert [c.path for c in found[1:]] == [opensc, softhsm]


async def test_the_tui_opens_a_keystore_not_system_trust(token: Any) -> None:
    """Even with the trust module listed first, the token opened without --token is the keystore."""
    from ikm_tui.core.p11.service import get_service

    trust_calls: list[str] = []
    keystore_calls: list[str] = []
    trust = get_service(TRUST)
    # Slow, as when it parses a big CA store: the keystore module loads meanwhile.
    slow = faults.FaultPlan().hang("module_info", seconds=0.3)
    faults.install(trust, slow)
    trust.tracers.append(lambda e: trust_calls.append(e.function))
    token.service.tracers.append(lambda e: keystore_calls.append(e.function))
    app = make_app(module=None, token=None, modules=[TRUST, token.module], clock=lambda: FIXED_NOW)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            main = app.main_screen
            assert main.current is not None and main.current.module_path == token.module
            assert main.listing is not None and main.listing.token.label != "System Trust"
    finally:
        faults.uninstall(trust)
        trust.tracers.clear()
        token.service.tracers.clear()
    # The trust module passed over, the keystore loaded beside it and then chosen: each module
    # asked once, not loaded again for the choice.
    for calls in (trust_calls, keystore_calls):
        assert calls.count("module_info") == 1 and calls.count("slots") == 1, calls


async def test_a_named_module_without_a_token_is_explained_not_replaced(token: Any) -> None:
    """--module with a typo (or a Nitrokey not plugged in): say why, do not open another module's token."""
    missing = "/opt/vendor/lib/libmissing-pkcs11.so"
    app = make_app(module=missing, token=None, clock=lambda: FIXED_NOW)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        main = app.main_screen
        assert main.current is None and main.listing is None
        details = main.query_one("#details").plain_text  # type: ignore[attr-defined]
        assert "libmissing-pkcs11.so: failed to load" in details
        assert "No token" in str(main.query_one("#status").render())  # type: ignore[attr-defined]
