"""The Requests tab of the main screen: filled from each listing, and its selection in the details pane.

Apart from ui.flows.request_flow (the dialogs and the token writes): this part runs for every token
opened, and imports core.ops.pending (cryptography, asn1crypto) only when there is a request to parse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ikm_tui.core.ops import request_files
from ikm_tui.ui.widgets.details import DetailsPane
from ikm_tui.ui.widgets.requests_pane import RequestsPane, request_notes, request_rows

if TYPE_CHECKING:
    from ikm_tui.ui.flows.host import FlowHost


def pane(main: FlowHost) -> RequestsPane:
    return main.query_one("#requests", RequestsPane)


def load_requests(main: FlowHost) -> None:
    """Fill the Requests pane from the listing just shown: the request data objects and their
    values are in it already, so this costs no further token calls."""
    if main.listing is None or not request_files.may_hold_requests(main.listing):
        pane(main).show([])
        return
    # Here, not at the top: parsing requests needs cryptography and asn1crypto (~35 ms of import),
    # which a token without requests never does (the first screen of most tokens).
    from ikm_tui.core.ops import pending as pending_ops

    pane(main).show(pending_ops.requests_in_listing(main.listing))


def show_request_details(main: FlowHost) -> bool:
    """Show the selected request in the details pane; False when there is none to show."""
    requests = pane(main)
    req = requests.current()
    details = main.query_one("#details", DetailsPane)
    if req is None:
        if requests.error:
            details.show("Requests could not be listed", [], [requests.error], None, warn=[requests.error])
            return True
        return False
    notes = request_notes(req)
    details.show(f"request {req.label}", request_rows(req), notes, None,
                 warn=[n for n in notes if not n.startswith("kept")])
    return True
