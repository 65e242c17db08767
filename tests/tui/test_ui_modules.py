"""The TUI on tpm2-pkcs11 (swtpm): `r` shows objects another tool just made there."""

from __future__ import annotations

from typing import Any

from ikm_tui.core.model import ObjClass
from tests.support.conformance import drop_token, make_token
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for
from tests.token.test_conformance import pkcs11_tool


def _has(app: Any, label: str) -> bool:
    listing = app.main_screen.listing
    return listing is not None and any(o.cls is ObjClass.PUBLIC_KEY and o.label == label
                                       for o in listing.objects)


async def test_r_on_tpm2_shows_objects_other_tools_made(modules: Any, service: Any, module_path: str) -> None:
    tok = make_token("tpm2", modules, service, module_path)
    try:
        app = app_for(tok)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.main_screen.listing is not None and not _has(app, "elsewhere")
            # Another process makes a key pair: tpm2-pkcs11 shows it only after re-initialising.
            pkcs11_tool(tok, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "07", "--label", "elsewhere")
            await pilot.press("r")
            await wait_for(pilot, lambda: _has(app, "elsewhere"), timeout=30)
    finally:
        drop_token(tok)
