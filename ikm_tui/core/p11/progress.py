"""Listing previews: the objects read so far, handed out a few times a second while a slow listing runs.

Why: through p11-kit's RPC every object is one round trip (20 ms on a WAN link: 100 objects take
two seconds), and the operator should see the first rows at once. Called on the owner thread; the
receiver must hand the preview to its own thread (the TUI: call_soon_threadsafe) and return.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ikm_tui.core.model import Listing, ObjectInfo, TokenInfo
from ikm_tui.core.pairing import pair_objects

# The first object at once, then a preview every quarter second: the table is not rebuilt so
# often that drawing it costs more than the listing.
INTERVAL = 0.25

Progress = Callable[[Listing], None]


class Previews:
    """Throttled previews of one listing; `progress` None makes every call a no-op."""

    def __init__(self, progress: Progress | None, tinfo: TokenInfo, slot_id: int, logged_in: bool) -> None:
        self.progress = progress
        self.tinfo, self.slot_id, self.logged_in = tinfo, slot_id, logged_in
        self.last = float("-inf")  # the first object is shown at once

    def __call__(self, objects: list[ObjectInfo]) -> None:
        if self.progress is None or time.monotonic() - self.last < INTERVAL:
            return
        self.last = time.monotonic()
        shown = tuple(objects)
        # A preview, not the listing: the final Listing comes from list_objects as before.
        self.progress(Listing(token=self.tinfo, slot_id=self.slot_id, objects=shown,
                              pairing=pair_objects(shown, self.logged_in or not self.tinfo.login_required),
                              logged_in=self.logged_in))
