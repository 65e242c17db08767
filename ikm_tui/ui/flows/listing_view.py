"""A listing on the main screen's tables and header; and previews of a remote token's listing while it arrives.

Through p11-kit's RPC every object costs a round trip (core/p11/progress.py): the tables show the
objects read so far a few times a second, with "reading…" in the header, until the listing is
complete. Local modules list in one go (a preview would only redraw the table).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

from ikm_tui.core.model import Listing, ObjClass
from ikm_tui.core.p11.quirks import quirks_for
from ikm_tui.ui import describe, expiry
from ikm_tui.ui.text import literal
from ikm_tui.ui.widgets.object_table import ObjectTable

if TYPE_CHECKING:
    from ikm_tui.core.p11.progress import Progress
    from ikm_tui.ui.flows.host import FlowHost
    from ikm_tui.ui.widgets.token_tree import TokenRef


def show_listing(main: FlowHost, listing: Listing, *, reading: bool = False) -> None:
    """Keys (and data objects that are not requests) and certificates in their tables; the header."""
    now = main.ikm.clock()
    keys = [o for o in listing.objects
            if o.cls in describe.KEY_CLASSES or (o.cls is ObjClass.DATA and not describe.is_request(o))
            or describe.is_unreadable(o)]
    certs = [o for o in listing.objects if o.cls is ObjClass.CERTIFICATE]
    main.query_one("#keys", ObjectTable).show(listing, keys, now)
    main.query_one("#certs", ObjectTable).show(listing, certs, now)
    status = expiry.status_line(listing, certs, now)
    if reading:
        status = Content.assemble(status, literal(f" · reading… {len(listing.objects)} objects so far", "dim"))
    main.query_one("#status", Static).update(status)


class Preview:
    """The previews of one listing of `ref`, shown until stop() (the listing is done or abandoned)."""

    def __init__(self, main: FlowHost, ref: TokenRef) -> None:
        self.main = main
        self.live = quirks_for(ref.module_path).remote
        self.loop = asyncio.get_running_loop()

    def sink(self) -> Progress | None:
        """The list_objects progress callback (called on the owner thread), or None for a local module."""
        return self._from_owner_thread if self.live else None

    def _from_owner_thread(self, listing: Listing) -> None:
        self.loop.call_soon_threadsafe(self._show, listing)

    def _show(self, listing: Listing) -> None:
        if self.live:  # not after the full listing, nor once the operator opened another token
            show_listing(self.main, listing, reading=True)

    def stop(self) -> None:
        self.live = False
