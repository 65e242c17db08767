"""Export the README screenshot: the main screen on a fresh demo token, logged in, a cert selected.

    .venv/bin/python scripts/readme_screenshot.py assets/screenshot.svg
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path


async def _shoot(out: Path, size: tuple[int, int]) -> None:
    from ikm_tui.core.ops.demo import DEMO_PIN, ensure_demo_token
    from ikm_tui.core.model import ObjClass
    from ikm_tui.core.p11.backend import Backend
    from ikm_tui.core.pin import Pin
    from ikm_tui.core.p11.service import get_service
    from ikm_tui.ui.app import make_app
    from ikm_tui.ui.widgets.object_table import ObjectTable

    # A throw-away demo token: the user's own demo token (and its PIN state) stays untouched.
    module, label = ensure_demo_token(get_service, Path(tempfile.mkdtemp(prefix="ikm-shot-")))
    svc = get_service(module)
    svc.run(Backend.rescan)
    svc.run(Backend.login, svc.run(Backend.find_slot, label), Pin(DEMO_PIN))
    app = make_app(module=module, token=label, demo_pin=DEMO_PIN, modules=[module])
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.5)
        await app.workers.wait_for_complete()
        main = app.main_screen
        main.query_one("#tabs").active = "tab-certs"  # type: ignore[attr-defined]
        await pilot.pause()
        certs = main.query_one("#certs", ObjectTable)
        certs.focus()
        assert main.listing is not None
        cert = next(o.handle for o in main.listing.objects
                    if o.cls is ObjClass.CERTIFICATE and o.label == "mq-server")
        certs.select_handle(cert)
        await pilot.pause(0.5)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(app.export_screenshot(title="ikm-tui"), encoding="utf-8")


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "assets/screenshot.svg")
    asyncio.run(_shoot(out, (120, 36)))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
