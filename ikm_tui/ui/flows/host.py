"""FlowHost: the few things a flow needs from the screen it runs on (MainScreen satisfies it).

Why a protocol: flows used to take MainScreen and call back into it, so the screen, its flows
and its widgets imported one another in a circle. A flow now names only what it uses; the
screen imports the flows, never the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

if TYPE_CHECKING:
    from textual.app import App
    from textual.css.query import DOMQuery
    from textual.notifications import SeverityLevel
    from textual.widget import AwaitMount, Widget

    from ikm_tui.core.model import Listing, ObjectInfo
    from ikm_tui.core.p11.modules import ModuleCandidate
    from ikm_tui.core.p11.prefetch import StartupPrefetch
    from ikm_tui.core.p11.trace import TraceFeed
    from ikm_tui.ui.widgets.token_tree import ModuleEntry, TokenRef

W = TypeVar("W", bound="Widget")


class AppHost(Protocol):
    """What the IkmApp holds for its screens and flows: the token services and start-up state."""

    token: str | None  # --token LABEL|URI
    demo_pin: str | None
    prefetch: StartupPrefetch | None  # the start-up calls the CLI queued; taken once
    pin_store: Any  # core.ops.pinstore.PinStore, made on first login
    clock: Callable[[], datetime]
    timings: bool
    services: list[Any]
    trace_feed: TraceFeed

    def module_candidates(self) -> list[ModuleCandidate]: ...

    def service_for(self, module_path: str) -> Any: ...


class FlowHost(Protocol):
    """The screen a flow runs on: the open token, its listing, its panes, the App's dialogs."""

    current: TokenRef | None  # the token shown (kept while it is removed, to reopen it)
    listing: Listing | None  # None while no token is shown
    entries: list[ModuleEntry]  # every module in the tree

    @property
    def app(self) -> App[object]: ...  # push_screen_wait, clear_notifications

    @property
    def ikm(self) -> AppHost: ...

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None: ...

    async def open_token(self, ref: TokenRef, early: StartupPrefetch | None = None) -> None:
        """List `ref` afresh and show it: the reload after a change."""
        ...

    def show_object(self, obj: ObjectInfo) -> None: ...

    def action_toggle_login(self) -> None: ...

    # The screen's panes, by id (#tabs, #keys, #certs, #requests, #details, #tokens, #status, ...).
    @overload
    def query_one(self, selector: str) -> Widget: ...

    @overload
    def query_one(self, selector: str, expect_type: type[W]) -> W: ...

    def query(self, selector: str) -> DOMQuery[Widget]: ...

    def mount(self, *widgets: Widget, before: int | str | Widget | None = None,
              after: int | str | Widget | None = None) -> AwaitMount: ...

    def call_after_refresh(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> bool: ...

