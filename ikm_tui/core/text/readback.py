"""What a rename read back in a fresh session, as the text both the CLI and the TUI show."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ikm_tui.core.ops.plans import ReadBack, describe


@dataclass(frozen=True)
class RenameReport:
    """One row per object renamed: (object as described, label asked for, what was read back)."""

    new: str
    rows: tuple[tuple[str, str, str], ...]
    ignored: int  # objects whose label the token did not take

    @property
    def ok(self) -> bool:
        return self.ignored == 0

    @property
    def title(self) -> str:
        return f"Renamed to {self.new}" if self.ok else "Rename NOT fully applied"

    @property
    def problem(self) -> str:
        """The failure in one sentence, without its full stop; "" when every object took the label."""
        return "" if self.ok else f"The token silently ignored the rename of {self.ignored} object(s)"

    def lines(self, lead: str = "", read_back: str = "") -> list[str]:
        """`{lead}{object} -> 'new': {read_back}{state}` for each object; state is ok, TOKEN KEPT or NOT FOUND."""
        return [f"{lead}{obj} -> {wanted!r}: {read_back}{state}" for obj, wanted, state in self.rows]


def _state(r: ReadBack) -> str:
    if r.ok:
        return "ok"
    return f"TOKEN KEPT {r.actual!r}" if r.actual is not None else "NOT FOUND"


def rename_report(results: Sequence[ReadBack], new: str) -> RenameReport:
    """The report of apply_rename's read-back, for `cert rename` and the TUI's rename dialog."""
    rows = tuple((describe(r.obj), r.wanted, _state(r)) for r in results)
    return RenameReport(new, rows, sum(1 for r in results if not r.ok))
