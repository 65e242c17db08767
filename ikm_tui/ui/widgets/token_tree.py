"""TokenTree: every discovered module, its slots and tokens, with PIN-state badges."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ikm_tui.core.model import ModuleInfo, SlotInfo, TokenInfo
from ikm_tui.core.p11.modules import is_trust_module
from ikm_tui.ui.text import literal_text


@dataclass(frozen=True)
class TokenRef:
    """What a token node stands for: enough to ask the module's service about it."""

    module_path: str
    slot_id: int


@dataclass(frozen=True)
class ModuleEntry:
    """One discovered module: loaded (info + slots) or failed (error text)."""

    path: str
    source: str
    info: ModuleInfo | None = None
    slots: tuple[SlotInfo, ...] = ()
    error: str | None = None
    name: str = ""  # a remote's name (`--remote`, remotes.toml); local modules go by file name


NodeData = ModuleEntry | SlotInfo | TokenRef | None


class TokenTree(Tree[NodeData]):
    """module → slot → token. Labels come from the token, so they are rendered literally."""

    class TokenChosen(Message):
        """The operator picked a token node (Enter or click)."""

        def __init__(self, ref: TokenRef) -> None:
            self.ref = ref
            super().__init__()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text("PKCS#11 modules"), id=id)
        self.show_root = False
        self.guide_depth = 2
        self._token_nodes: dict[TokenRef, TreeNode[NodeData]] = {}
        self._slots: dict[TokenRef, SlotInfo] = {}

    def on_mount(self) -> None:
        if self.app.has_class("-ascii"):  # a plain terminal (ui.ascii_driver)
            from ikm_tui.ui.ascii_driver import plain_tree

            plain_tree(self)

    def show_modules(self, entries: list[ModuleEntry]) -> None:
        self.clear()
        self._token_nodes.clear()
        self._slots.clear()
        for entry in entries:
            self._add_module(entry)

    def add_modules(self, entries: list[ModuleEntry]) -> None:
        """Append modules that came in later, keeping the cursor where it is."""
        for entry in entries:
            self._add_module(entry)

    def slot_info(self, ref: TokenRef) -> SlotInfo | None:
        return self._slots.get(ref)

    def _add_module(self, entry: ModuleEntry) -> None:
        # The file name identifies the module; the full path is in the details pane.
        name = entry.name or os.path.basename(entry.path)
        if entry.error is not None:
            label = literal_text(name, "bold")
            label.append_text(literal_text("  failed to load", "red"))
            node = self.root.add(label, data=entry, expand=True)
            node.add_leaf(literal_text(entry.error.splitlines()[0], "red"), data=entry)
            return
        label = literal_text(name, "bold")
        if entry.name:  # through p11-kit's RPC: every call is a round trip to that host
            label.append_text(literal_text("  (remote)", "dim"))
        if entry.info is not None and entry.info.description:
            label.append_text(literal_text(f"  {entry.info.description}", "dim"))
        node = self.root.add(label, data=entry, expand=True)
        if not entry.slots:
            node.add_leaf(Text("no slots (reader connected? pcscd running?)", style="dim"), data=entry)
        for slot in entry.slots:
            self._add_slot(node, slot)

    def _add_slot(self, parent: TreeNode[NodeData], slot: SlotInfo) -> None:
        slot_label = literal_text(f"slot {slot.slot_id}", "dim")
        if slot.token is None:
            slot_label.append_text(Text("  (empty)", style="dim"))
            parent.add_leaf(slot_label, data=slot)
            return
        snode = parent.add(slot_label, data=slot, expand=True)
        t = slot.token
        ref = TokenRef(slot.module_path, slot.slot_id)
        self._slots[ref] = slot
        if not t.initialized:
            snode.add_leaf(Text("(not initialised)", style="dim"), data=slot)
            return
        self._token_nodes[ref] = snode.add_leaf(_token_label(t), data=ref)

    def update_token(self, ref: TokenRef, info: TokenInfo) -> None:
        """New flags for a token (read after a login attempt): redraw its badges."""
        node, slot = self._token_nodes.get(ref), self._slots.get(ref)
        if node is None or slot is None:
            return
        self._slots[ref] = replace(slot, token=info)
        node.set_label(_token_label(info))

    def select_token(self, ref: TokenRef) -> None:
        """Move the cursor to a token's node (without posting TokenChosen)."""
        node = self._token_nodes.get(ref)
        if node is not None:
            if node.line < 0:
                # Tree lines are built lazily (when idle or drawn); right after show_modules the
                # node has no line yet and move_cursor would put the cursor nowhere (line 0 later).
                # Asking for a line builds them.
                self.get_node_at_line(0)
            self.move_cursor(node)

    def first_token(self) -> TokenRef | None:
        """The token to open when none was named: the first keystore, the trust store only when
        it is all there is (p11-kit-trust lists the system CAs as a token)."""
        refs = list(self._token_nodes)
        return next((r for r in refs if not is_trust_module(r.module_path)), refs[0] if refs else None)

    def on_tree_node_selected(self, event: Tree.NodeSelected[NodeData]) -> None:
        if isinstance(event.node.data, TokenRef):
            event.stop()
            self.post_message(self.TokenChosen(event.node.data))


def _token_label(t: TokenInfo) -> Text:
    label = literal_text(t.label or "(no label)")
    for badge in t.pin.badges():
        style = "bold white on red" if "LOCKED" in badge or "FINAL" in badge else "black on yellow"
        label.append(" ")
        label.append_text(literal_text(f" {badge} ", style))
    return label
