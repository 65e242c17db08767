"""Start token work as app-level workers, so one handler (IkmApp) turns their errors into a dialog."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from textual.worker import Worker

if TYPE_CHECKING:
    from textual.app import App


class _InApp(Protocol):
    """A widget, a screen or a flow's host: anything that knows its App."""

    @property
    def app(self) -> App[object]: ...


def start(node: _InApp, work: Coroutine[Any, Any, Any], *, name: str, group: str,
          exclusive: bool = True) -> Worker[Any]:
    """Run `work` (which awaits the token service) as a worker owned by the App.

    Worker.StateChanged does not bubble, so workers owned by screens or widgets would need a
    handler each; owning them by the App gives one place that shows failures. `exit_on_error`
    is off: a token error is something to tell the operator, not a reason to quit.
    """
    return node.app.run_worker(work, name=name, group=group, exclusive=exclusive,
                               exit_on_error=False, description=name)
