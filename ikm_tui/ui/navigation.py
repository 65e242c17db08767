"""Keyboard-only navigation of the main screen: 1-5 and [ ] switch tabs, / filters, o orders by expiry."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import TabbedContent

from ikm_tui.ui.widgets.filter_bar import open_filter
from ikm_tui.ui.widgets.object_table import ObjectTable

TABS = ("tab-keys", "tab-certs", "tab-requests", "tab-mechs", "tab-trace")

# On the App, so the footer lists them; IkmApp.check_action keeps them off while a dialog is up.
# Only "1-5" and "/" are shown: the footer is full at 80 columns; ? lists the rest.
BINDINGS = [
    Binding("1", "tab(0)", "Tabs", key_display="1-5", id="nav.tab1",
            tooltip="Keys, Certificates, Requests, Mechanisms, Trace: keys 1 to 5"),
    *(Binding(str(n + 1), f"tab({n})", f"Tab {n + 1}", show=False, id=f"nav.tab{n + 1}",
              tooltip=f"Show the {name} tab")
      for n, name in enumerate(("Keys", "Certificates", "Requests", "Mechanisms", "Trace")) if n),
    Binding("left_square_bracket", "next_tab(-1)", "Previous tab", show=False, id="nav.prev_tab",
            tooltip="Show the tab to the left"),
    Binding("right_square_bracket", "next_tab(1)", "Next tab", show=False, id="nav.next_tab",
            tooltip="Show the tab to the right"),
    Binding("slash", "filter", "Filter", id="nav.filter",
            tooltip="Filter the Keys or Certificates table by label, subject, issuer or id (esc clears)"),
    Binding("o", "expiry_order", "Order by expiry", show=False, id="nav.expiry_order",
            tooltip="Certificates: soonest expiry first (again: back to the token's order)"),
]
ACTIONS = frozenset({"tab", "next_tab", "filter", "expiry_order"})


def _tabs(main: Screen[Any]) -> TabbedContent:
    return main.query_one("#tabs", TabbedContent)


def show_tab(main: Screen[Any], index: int) -> None:
    tabs = _tabs(main)
    tabs.active = TABS[index % len(TABS)]
    table = active_table(main)
    (table or tabs).focus()


def next_tab(main: Screen[Any], step: int) -> None:
    active = _tabs(main).active
    show_tab(main, (TABS.index(active) if active in TABS else 0) + step)


def active_table(main: Screen[Any]) -> ObjectTable | None:
    active = _tabs(main).active
    return {"tab-keys": main.query_one("#keys", ObjectTable),
            "tab-certs": main.query_one("#certs", ObjectTable)}.get(active)


def filter_table(main: Screen[Any]) -> None:
    table = active_table(main)
    if table is None:
        main.notify("The filter works on the Keys and Certificates tabs (1, 2).", severity="warning")
        return
    open_filter(table)


def expiry_order(main: Screen[Any]) -> None:
    if _tabs(main).active != "tab-certs":
        main.notify("o orders the Certificates tab (2) by expiry.", severity="warning")
        return
    table = main.query_one("#certs", ObjectTable)
    table.toggle_expiry_order()
    main.notify("Soonest expiry first." if table.by_expiry else "The token's order again.")
