"""The bench's TUI probe: seconds from process spawn to an object table holding every object.

    IKM_PIN=... SOFTHSM2_CONF=... python bench/tui_probe.py MODULE TOKEN_LABEL EXPECTED_ROWS T_SPAWN

Starts the TUI headless (App.run_test, 160x50) the way `ikm-tui` starts it (cli.tui.prepare_tui),
logged in as the CLI is with IKM_PIN, and prints one JSON line: {"populated": seconds, "rows": n}
(or {"skipped": why}). T_SPAWN is time.time() just before the parent spawned this process.
Its own file, so that it imports only what the TUI does: bench/run.py's imports (statistics,
multiprocessing, subprocess, ...: ~45 ms) would count against the TUI.
"""

import json
import os
import sys
import time
from typing import Any

# ikm_tui from this checkout, as bench/run.py does.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

def probe_tui(module: str, label: str, expected: int, t_spawn: float) -> None:
    """Start the TUI headless; print seconds from process spawn to a table with all objects."""
    import asyncio

    try:
        from ikm_tui.cli.tui import prepare_tui
    except ImportError as exc:
        print(json.dumps({"skipped": f"no TUI yet ({exc})"}), flush=True)
        return
    from ikm_tui.core.p11.backend import Backend
    from ikm_tui.core.pin import Pin
    from ikm_tui.core.p11.service import get_service

    # Log in through the same process-wide service the TUI uses, as the CLI does with IKM_PIN,
    # so both list every object (the Keys and Certificates tables together). Queued, not
    # awaited: the owner thread runs it before the TUI's own first calls (one queue, in order),
    # and the TUI then starts exactly as `ikm-tui` does (cli.prepare_tui).
    svc = get_service(module)
    login = svc.after(svc.submit(Backend.find_slot, label), Backend.login,
                      lambda slot: (slot, Pin(os.environ["IKM_PIN"])))
    app = prepare_tui(module, label)
    from ikm_tui.ui.widgets.object_table import ObjectTable

    # "Populated" is every object in the tables *and* the visible table drawn with all of its
    # rows, not just rows added (a table can hold rows the screen has not drawn yet). Big tokens
    # filled in chunks (tried; see the README) draw the visible table for the last time before
    # the hidden one is complete, and nothing is drawn again: completion is what counts then.
    drawn: list[float] = []
    tables: list[ObjectTable] = []
    last_draw: dict[int, tuple[float, int]] = {}  # id(table) -> (when, rows it had)
    render_line = ObjectTable.render_line

    def watch(table: ObjectTable, y: int) -> Any:
        if not tables:  # both tables exist from the first frame on
            tables.extend(table.screen.query(ObjectTable))
        now = time.time()
        last_draw[id(table)] = (now, table.row_count)
        if not drawn and sum(t.row_count for t in tables) >= expected:
            drawn.append(now)
        return render_line(table, y)

    def complete_and_drawn() -> float | None:
        """When the rows were all in and every drawn table had been drawn with all of its."""
        if drawn:
            return drawn[0]
        if tables and sum(t.row_count for t in tables) >= expected and all(
                last_draw[id(t)][1] == t.row_count for t in tables if id(t) in last_draw):
            return time.time()
        return None

    ObjectTable.render_line = watch  # type: ignore[method-assign,assignment]

    async def main() -> dict[str, Any]:
        async with app.run_test(headless=True, size=(160, 50)) as pilot:
            deadline = time.monotonic() + 120
            rows = 0
            while time.monotonic() < deadline:
                rows = sum(t.row_count for t in app.screen.query(ObjectTable))
                done = complete_and_drawn()
                if done is not None:
                    return {"populated": done - t_spawn, "rows": rows}
                await pilot.pause(0.005)
            login.result(0)  # a failed login explains a short table
            return {"skipped": f"table not populated in 120 s ({rows}/{expected} rows)"}

    print(json.dumps(asyncio.run(main())), flush=True)


if __name__ == "__main__":
    probe_tui(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
