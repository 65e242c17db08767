"""The terminal driver for plain terminals: nothing but ASCII reaches them (core.text.plain_terminal)."""

from __future__ import annotations

from typing import Any

from textual.drivers.linux_driver import LinuxDriver
from textual.widgets import Tree

from ikm_tui.core.text.plain_terminal import to_ascii


class AsciiDriver(LinuxDriver):
    """LinuxDriver whose every write is ASCII.

    Why at the driver: borders, the tree's arrows, scrollbars, tab underlines and labels from
    the token all end up here; on a C locale Python would otherwise write them as `\\u256d`
    escapes (stderr's backslashreplace) and a vt100 would draw garbage. The screen also uses
    ASCII borders (the -ascii class in app.tcss), so boxes look like boxes, not '+' rows.
    """

    def write(self, data: str) -> None:
        super().write(to_ascii(data))


ASCII_LINES = ("    ", "|   ", "`-- ", "|-- ")


def plain_tree(tree: Tree[Any]) -> None:
    """The tree's arrows and guides in ASCII (instance attributes: other apps keep theirs)."""
    tree.ICON_NODE, tree.ICON_NODE_EXPANDED = "> ", "v "
    tree.LINES = dict.fromkeys(Tree.LINES, ASCII_LINES)
