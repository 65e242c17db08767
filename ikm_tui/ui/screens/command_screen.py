"""CommandScreen ("show me the command"): the pkcs11-tool / openssl / p11tool / runmqakm lines
for the actions on the selected object, with the PIN as a placeholder, never its value."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from ikm_tui.core.text.equivalents import ACTIONS, CommandContext, equivalent_commands, format_equivalents
from ikm_tui.core.model import Listing, ObjClass, ObjectInfo
from ikm_tui.core.sanitize import safe_text
from ikm_tui.ui import describe
from ikm_tui.ui.text import literal

# What an operator can do to each kind of object (the TUI's and runmqakm's verbs).
_ACTIONS_FOR = {
    ObjClass.CERTIFICATE: ("cert-extract", "rename", "delete"),
    ObjClass.PRIVATE_KEY: ("key-export-public", "rename", "delete"),
    ObjClass.PUBLIC_KEY: ("key-export-public", "delete"),
    ObjClass.SECRET_KEY: ("delete",),
    ObjClass.DATA: ("delete",),
}
_TOKEN_ACTIONS = ("list", "login", "certreq-create", "cert-add")
_OBJECT_TYPE = {ObjClass.CERTIFICATE: "cert", ObjClass.PRIVATE_KEY: "private", ObjClass.PUBLIC_KEY: "public",
                ObjClass.DATA: "request"}

Section = tuple[str, list[str]]  # (heading, command lines)


def command_sections(module: str, listing: Listing | None, obj: ObjectInfo | None) -> list[Section]:
    """The equivalents of each action on `obj` (or on the token when obj is None)."""
    values: dict[str, object] = {"module": module}
    if listing is not None:
        values.update(token_label=listing.token.label, token_serial=listing.token.serial,
                      login=listing.logged_in)
    if obj is None:
        actions: Sequence[str] = _TOKEN_ACTIONS
    else:
        actions = _ACTIONS_FOR.get(obj.cls, ())
        values.update(label=obj.label or None, key_id=obj.id.hex() or None,
                      object_type=_OBJECT_TYPE.get(obj.cls), key_spec=describe.key_kind(obj) or None)
    ctx = CommandContext.from_values(**values)
    sections: list[Section] = []
    for action in actions:
        info = ACTIONS[action]
        heading = f"{action}: {info.summary}   (ikm-tui: {info.ikm_command})"
        sections.append((heading, format_equivalents(equivalent_commands(action, ctx), prefix="  ")))
    return sections


class CommandScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,m,q", "close", "Close", id="commands.close", tooltip="Close the command lines"),
        Binding("c,y", "copy", "Copy all", id="commands.copy",
                tooltip="Copy every command line to the clipboard (OSC 52: works over SSH in most terminals)"),
    ]

    def __init__(self, title: str, sections: list[Section]) -> None:
        super().__init__()
        self._title = title
        self.sections = sections
        self.plain_text = safe_text("\n".join([title] + [line for h, lines in sections for line in (h, *lines)]),
                                    multiline=True)

    def compose(self) -> ComposeResult:
        parts: list[Content] = [literal(self._title, "bold"), Content("\n"),
                                literal("The PIN is never part of a command: $PIN, a prompt or <PIN>.", "dim"),
                                Content("\n")]
        for heading, lines in self.sections:
            parts += [Content("\n"), literal(heading, "bold"), Content("\n")]
            for line in lines:
                parts += [literal(line, "dim" if line.lstrip().startswith("#") else ""), Content("\n")]
        # Never wrapped (text-wrap: nowrap in app.tcss): a command broken mid-URI breaks when
        # pasted. Wider than the dialog, it scrolls sideways; c copies them all.
        with VerticalScroll(id="commands-dialog", classes="dialog"):
            yield Static(Content.assemble(*parts), id="commands-text")
        yield Footer()

    def action_copy(self) -> None:
        commands = [line.strip() for _, lines in self.sections for line in lines
                    if line.strip() and not line.lstrip().startswith("#")]
        self.app.copy_to_clipboard(safe_text("\n".join(commands), multiline=True) + "\n")
        self.notify(f"Copied {len(commands)} command line(s) to the clipboard.", title="Commands copied")

    def action_close(self) -> None:
        self.dismiss(None)
