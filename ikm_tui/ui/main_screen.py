"""MainScreen: tokens tree | Keys, Certificates, Requests, Mechanisms, Trace tabs | details pane."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane, Tree

from ikm_tui.core.p11.quirks import quirks_for
from ikm_tui.core.errors import IkmError
from ikm_tui.core.model import Listing, ObjClass, ObjectInfo, SlotInfo
from ikm_tui.core.p11.modules import ModuleCandidate, canonical, is_trust_module
from ikm_tui.core.p11.prefetch import StartupPrefetch
from ikm_tui.ui import describe
from ikm_tui.ui.flows import manage_flow, pin_memory, request_flow, token_state
from ikm_tui.ui.screens.command_screen import CommandScreen, command_sections
from ikm_tui.ui.widgets.details import DetailsPane
from ikm_tui.ui.widgets.lint_view import LintView, certificate_findings
from ikm_tui.ui.widgets.mechanism_table import MechanismTable
from ikm_tui.ui.widgets.object_table import ObjectTable
from ikm_tui.ui.screens.pin_screen import PinScreen
from ikm_tui.ui.widgets.requests_pane import RequestsPane
from ikm_tui.ui.text import literal, plain
from ikm_tui.ui.widgets.token_activity import TokenActivity
from ikm_tui.ui.widgets.token_tree import ModuleEntry, NodeData, TokenRef, TokenTree
from ikm_tui.ui.widgets.trace_pane import TracePane
from ikm_tui.ui.workers import start

if TYPE_CHECKING:
    from ikm_tui.ui.app import IkmApp

# gc.freeze() is done once per process, by end_startup_gc.
_heap_frozen = False
# Seconds after which the cyclic GC is back on even if the first listing has not come.
STARTUP_GC_LIMIT = 5.0


def end_startup_gc() -> None:
    """Freeze what start-up allocated (once per process) and turn the cyclic GC back on.

    Why: Textual, Rich, the core and the first listing are ~300k objects that live as long as
    the app; every full collection rescanned them (~25 ms each). cli.prepare_tui turns the GC
    off until the first listing is on screen; frozen then, collections only see what came after.
    """
    global _heap_frozen
    if not _heap_frozen:
        gc.freeze()
        _heap_frozen = True
    gc.enable()


class MainScreen(Screen[None]):
    BINDINGS = [
        Binding("l", "toggle_login", "Login", id="main.login",
                tooltip="Log in with the user PIN (private keys appear), or log out"),
        Binding("r", "refresh", "Reload", id="main.refresh",
                tooltip="List the open token again, still logged in (shows objects other tools wrote); "
                        "with no token open, rescan"),
        Binding("ctrl+r", "rescan", "Rescan", id="main.rescan", show=False,
                tooltip="Re-initialise every module: finds tokens created or plugged in elsewhere "
                        "(logs out)"),
        Binding("c", "copy_uri", "Copy URI", id="main.copy_uri",
                tooltip="Copy the PKCS#11 URI of the selected token or object to the clipboard"),
        Binding("m", "show_commands", "Commands", id="main.show_commands",
                tooltip="Show me the command: the pkcs11-tool / openssl / p11tool / runmqakm lines "
                        "for the selected object's actions (PIN as a placeholder)"),
        Binding("n", "new_request", "New request", id="main.new_request",
                tooltip="Make a key pair on the token and a PKCS#10 request for it"),
        Binding("N", "new_self_signed", "Self-signed", id="main.new_self_signed", show=False,
                tooltip="Make a key pair on the token and a self-signed certificate for it"),
        # Certificate and key management (ui.manage_flow). Not in the footer: it is full at 80
        # columns; they are in the help (?), the command palette and the keys panel.
        *manage_flow.BINDINGS,
    ]

    def __init__(self) -> None:
        super().__init__(id="main")
        self.entries: list[ModuleEntry] = []
        self.current: TokenRef | None = None
        self.listing: Listing | None = None

    @property
    def ikm(self) -> IkmApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Horizontal(id="topbar"):
            yield Static(Content("ikm-tui"), id="status")
            yield TokenActivity(lambda: self.ikm.services, timings=self.ikm.timings, id="token-activity")
            if self.ikm.demo_pin is not None:
                yield Static(literal(f"Demo token – PIN {self.ikm.demo_pin}", "bold"), id="demo-banner")
        with Horizontal(id="body"):
            yield TokenTree(id="tokens")
            with Container(id="work"):
                with TabbedContent(id="tabs", initial="tab-keys"):
                    with TabPane("Keys", id="tab-keys"):
                        yield ObjectTable("keys", id="keys")
                    with TabPane("Certificates", id="tab-certs"):
                        yield ObjectTable("certs", id="certs")
                    with TabPane("Requests", id="tab-requests"):
                        yield RequestsPane(id="requests")
                    with TabPane("Mechanisms", id="tab-mechs"):
                        yield MechanismTable(id="mechanisms")
                    with TabPane("Trace", id="tab-trace"):
                        yield TracePane(self.ikm.trace_feed, timings=self.ikm.timings, id="trace")
                yield DetailsPane(id="details")
        yield Footer()

    def on_mount(self) -> None:
        # However long the first token takes (a hung module), the GC is back on soon.
        self.set_timer(STARTUP_GC_LIMIT, end_startup_gc)
        self.query_one("#tokens", TokenTree).border_title = "Tokens"
        self.query_one("#details", DetailsPane).border_title = "Details"
        start(self, self.load_modules(initial=True), name="discover", group="tokens")

    # ----- tokens -----------------------------------------------------------------------------
    async def load_modules(self, *, initial: bool = False, rescan: bool = False) -> None:
        """Ask every module for its slots; a module that fails to load becomes an error node."""
        if not initial:
            await self._load_modules(initial=False, rescan=rescan)
            return
        try:
            await self._load_modules(initial=True, rescan=rescan)
        finally:
            end_startup_gc()  # the first token is on screen (or failed): collect as usual

    async def _load_modules(self, *, initial: bool, rescan: bool) -> None:
        app = self.ikm
        cands = app.module_candidates()
        # Queued now, not from a task that starts when the event loop next comes round.
        early = None
        if initial and cands:
            # Usually queued by the CLI before Textual was imported (cli.prepare_tui); the
            # tests and the demo build the app directly, so queue it here then.
            early = app.prefetch
            app.prefetch = None  # one start-up only: a rescan asks the token afresh
            if early is None or not early.serves(cands[0].path, app.token):
                try:
                    early = StartupPrefetch(app.service_for(cands[0].path), cands[0].path, app.token)
                except Exception:  # noqa: BLE001 - load() below turns the same failure into an error node
                    early = None

        async def load(cand: ModuleCandidate, first: bool) -> ModuleEntry:
            try:
                svc = app.service_for(cand.path)
                if rescan:
                    await svc.acall("rescan")
                if first and early is not None:
                    info = await _outcome(early.info)
                    slots = await _outcome(early.slots)
                else:
                    info = await svc.acall("module_info")
                    slots = await svc.acall("slots")
            except IkmError as err:
                return ModuleEntry(cand.path, cand.source, error=str(err))
            except Exception as exc:  # noqa: BLE001 - a module that cannot even start must not stop the others
                return ModuleEntry(cand.path, cand.source, error=token_state.load_failure(exc))
            return ModuleEntry(info.path, cand.source, info, tuple(slots))

        # Side by side: every module has its own owner thread, and a slow one (OpenSC waiting
        # for readers, p11-kit-trust parsing the CA store) must not hold up the others. The
        # entries keep the candidates' order.
        tree = self.query_one("#tokens", TokenTree)
        if initial and len(cands) > 1:
            opened = await self._open_first_module_first(cands, load, early)
            if opened is None:
                return
            entries = opened
        elif len(cands) == 1:
            # No gather (a task per module) for the usual single module: with the start-up
            # calls already done, the token is then listed before the first frame is drawn.
            entries = [await load(cands[0], True)]
        else:
            entries = list(await asyncio.gather(*(load(c, i == 0) for i, c in enumerate(cands))))
        self.entries = entries
        tree.show_modules(entries)
        target = self.current if self.current and tree.slot_info(self.current) else None
        if target is None and self.current is not None:
            # The token we were showing is not back yet: say so, never switch to another one.
            token_state.show_removed(self, self.current, None)
            return
        if target is None and app.token is not None:
            try:
                target = await self._find_token(app.token, early)
            except IkmError as err:
                if err.ckr_name not in token_state.GONE or tree.first_token() is not None:
                    raise  # tokens are present, just not this one: the dialog lists their labels
                token_state.show_absent(self, entries, err)
                return
        if target is None and app.token is None and cands and cands[0].source in ("--module", "IKM_MODULE"):
            named = entries[0]
            if named.error is not None or not any(s.token is not None and s.token.initialized
                                                  for s in named.slots):
                # The operator named this module (a mistyped path, a Nitrokey not plugged in):
                # say why it shows no token instead of opening some other module's token.
                token_state.show_absent(self, [named])
                return
        if target is None:
            target = tree.first_token()
        if target is None:
            token_state.show_absent(self, entries)
            return
        tree.select_token(target)
        await self.open_token(target, early)

    async def _open_first_module_first(self, cands: list[ModuleCandidate], load: Any,
                                       early: StartupPrefetch | None) -> list[ModuleEntry] | None:
        """At start-up, open the token on the first module without waiting for the others.

        The other modules load meanwhile (each on its own thread) and join the tree when they
        are in. Why: p11-kit-trust parsing the CA store or OpenSC waiting for readers must not
        hold back the token the operator asked for. None when done; when the first module does
        not have the token to open, every module's entry (once all are in) for the caller to
        choose from, without asking any module twice.
        """
        tree = self.query_one("#tokens", TokenTree)
        others = [asyncio.ensure_future(load(c, False)) for c in cands[1:]]
        first: ModuleEntry = await load(cands[0], True)
        target = None
        if first.error is None:
            self.entries = [first]
            tree.show_modules([first])
            if self.ikm.token is not None:
                try:
                    target = await self._find_token(self.ikm.token, early)
                except IkmError:
                    target = None  # maybe on another module: the caller asks them all
            else:
                target = tree.first_token()
                if target is not None and is_trust_module(target.module_path):
                    target = None  # the system CA list: a keystore on another module comes first
        if target is None:
            return [first, *await asyncio.gather(*others)]
        tree.select_token(target)
        try:
            await self.open_token(target, early)
        except asyncio.CancelledError:
            for task in others:  # a reload took over: it loads every module itself
                task.cancel()
            raise
        except BaseException:
            # The error dialog must not wait for a slow module: the others join on their own.
            start(self, self._join_modules(others), name="join", group="modules")
            raise
        await self._join_modules(others)
        return None

    async def _join_modules(self, others: list[asyncio.Future[ModuleEntry]]) -> None:
        """Add the modules that loaded after the first one to the tree, below it."""
        shown = self.entries
        rest = list(await asyncio.gather(*others))
        if self.entries is not shown:
            return  # a reload rebuilt the tree meanwhile, with every module in it
        self.entries = [*shown, *rest]
        self.query_one("#tokens", TokenTree).add_modules(rest)

    async def _find_token(self, selector: str, early: StartupPrefetch | None = None) -> TokenRef:
        """--token LABEL|URI: ask each loaded module; the first module's error names the labels."""
        first_error: IkmError | None = None
        for index, entry in enumerate(self.entries):
            if entry.error is not None:
                continue
            try:
                if index == 0 and early is not None:
                    # Already asked, right after the module's slots (see StartupPrefetch).
                    slot = await _outcome(early.slot)
                else:
                    slot = await self.ikm.service_for(entry.path).acall("find_slot", selector)
            except IkmError as err:
                first_error = first_error or err
                continue
            return TokenRef(entry.path, slot)
        raise first_error or IkmError(f"No token matches {selector!r}.", "Run `ikm-tui tokens`.")

    async def open_token(self, ref: TokenRef, early: StartupPrefetch | None = None) -> None:
        svc = self.ikm.service_for(ref.module_path)
        reinserted = False
        mechanisms = None
        try:
            try:
                if early is not None and await _prefetch_lists(early, ref):
                    listing: Listing = await _outcome(early.listing)
                    mechanisms = await _outcome(early.mechanisms)
                else:
                    listing = await svc.acall("list_objects", ref.slot_id)
            except IkmError as err:
                if err.ckr_name not in token_state.SESSION_LOST:
                    raise
                # Reinserted: the service forgot the dead session, so this opens a public one.
                reinserted = self.current == ref and self.listing is not None and self.listing.logged_in
                listing = await svc.acall("list_objects", ref.slot_id)
                mechanisms = None
            if mechanisms is None:
                mechanisms = await svc.acall("mechanisms", ref.slot_id)
        except IkmError as err:
            if err.ckr_name not in token_state.GONE:
                raise
            token_state.show_removed(self, ref, err)  # never a half-read listing as complete
            raise  # and the error dialog says what happened and what to do
        self.current = ref
        self.listing = listing
        self._show_listing(listing)
        request_flow.load_requests(self)
        self.query_one("#mechanisms", MechanismTable).show(mechanisms)
        self._show_current_details()
        if reinserted:
            start(self, token_state.offer_relogin(self, ref), name="login", group="login")

    def _show_listing(self, listing: Listing) -> None:
        now = self.ikm.clock()
        keys = [o for o in listing.objects
                if o.cls in describe.KEY_CLASSES or (o.cls is ObjClass.DATA and not describe.is_request(o))]
        certs = [o for o in listing.objects if o.cls is ObjClass.CERTIFICATE]
        self.query_one("#keys", ObjectTable).show(listing, keys, now)
        self.query_one("#certs", ObjectTable).show(listing, certs, now)
        t = listing.token
        state = ("logged in" if listing.logged_in else
                 "public only (l: log in)" if t.login_required else "no login needed")
        status = Content.assemble(literal(t.label, "bold"), literal(f"  serial {t.serial}  · {state}"))
        if not listing.complete and listing.warning:
            status = Content.assemble(status, literal(f"  · {listing.warning}", "bold yellow"))
        self._set_status(status)

    def _set_status(self, content: Content) -> None:
        self.query_one("#status", Static).update(content)

    # ----- selection and details --------------------------------------------------------------
    def _active_table(self) -> ObjectTable | None:
        active = self.query_one("#tabs", TabbedContent).active
        return {"tab-keys": self.query_one("#keys", ObjectTable),
                "tab-certs": self.query_one("#certs", ObjectTable)}.get(active)

    def _show_current_details(self) -> None:
        if self.current is None:
            # No token open: the pane holds the empty state (no token, why, what to do) or
            # its first hint; a tab switch (or the first tab's activation, which can come
            # after a start-up that was over at once) must not replace it.
            return
        if self.query_one("#tabs", TabbedContent).active == "tab-requests" and \
                request_flow.show_request_details(self):
            return
        table = self._active_table()
        handle = table.current_handle() if table is not None else None
        if handle is not None and self.listing is not None:
            obj = self.listing.by_handle(handle)
            if obj is not None:
                self.show_object(obj)
                return
        self.show_token_details(self.current)

    @on(DataTable.RowHighlighted, "#keys, #certs")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Moving the other table's cursor (to show the pair) also posts RowHighlighted; only
        # the table on the visible tab drives the details pane.
        if event.data_table is not self._active_table() or self.listing is None:
            return
        obj = self.listing.by_handle(int(event.row_key.value or -1))
        if obj is not None:
            self.show_object(obj)

    @on(DataTable.RowHighlighted, "#requests")
    def _request_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.query_one("#tabs", TabbedContent).active == "tab-requests":
            request_flow.show_request_details(self)

    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._show_current_details()

    def show_object(self, obj: ObjectInfo) -> None:
        listing = self.listing
        assert listing is not None
        self._highlight_pair(obj)
        notes = describe.pairing_lines(listing, obj)
        rows = describe.object_rows(listing, obj, self.ikm.clock())
        title = f"{describe.class_name(obj)} {obj.label or '(no label)'}"
        self.query_one("#details", DetailsPane).show(title, rows, notes, obj.uri)
        if obj.cls is ObjClass.CERTIFICATE:
            self.query_one(LintView).show(certificate_findings(listing, obj, self.ikm.clock()))

    def _highlight_pair(self, obj: ObjectInfo) -> None:
        """Put the other table's cursor on the partner: cert → its key, key → its (first) cert."""
        assert self.listing is not None
        p = self.listing.pairing
        if obj.cls is ObjClass.CERTIFICATE and obj.handle in p.cert_to_key:
            self.query_one("#keys", ObjectTable).select_handle(p.cert_to_key[obj.handle])
        elif obj.cls is ObjClass.PRIVATE_KEY and p.key_to_cert.get(obj.handle):
            self.query_one("#certs", ObjectTable).select_handle(p.key_to_cert[obj.handle][0])
        elif obj.cls is ObjClass.PUBLIC_KEY and obj.handle in p.public_to_private:
            priv = p.public_to_private[obj.handle]
            if p.key_to_cert.get(priv):
                self.query_one("#certs", ObjectTable).select_handle(p.key_to_cert[priv][0])

    def show_token_details(self, ref: TokenRef | None) -> None:
        pane = self.query_one("#details", DetailsPane)
        slot = self.query_one("#tokens", TokenTree).slot_info(ref) if ref else None
        if slot is None:
            pane.show_message("Select a token, key or certificate.")
            return
        self._show_slot(slot)

    def _show_slot(self, slot: SlotInfo) -> None:
        entry = next((e for e in self.entries if canonical(e.path) == canonical(slot.module_path)), None)
        desc = ""
        if entry is not None and entry.info is not None:
            i = entry.info
            desc = f"{i.description} {i.library_version} ({i.manufacturer}), Cryptoki {i.cryptoki_version}"
        uri = describe.token_uri_of(slot.token) if slot.token is not None and slot.token.initialized else None
        title = f"token {slot.token.label}" if slot.token is not None else f"slot {slot.slot_id}"
        self.query_one("#details", DetailsPane).show(title, describe.token_rows(slot, desc), (), uri)

    @on(Tree.NodeHighlighted, "#tokens")
    def _tree_highlighted(self, event: Tree.NodeHighlighted[NodeData]) -> None:
        data = event.node.data
        tree = self.query_one("#tokens", TokenTree)
        pane = self.query_one("#details", DetailsPane)
        if isinstance(data, TokenRef):
            slot = tree.slot_info(data)
            if slot is not None:
                self._show_slot(slot)
        elif isinstance(data, SlotInfo):
            self._show_slot(data)
        elif isinstance(data, ModuleEntry):
            rows = [("module", data.path), ("found by", data.source)]
            if data.info is not None:
                rows += [("description", data.info.description), ("manufacturer", data.info.manufacturer),
                         ("version", data.info.library_version), ("Cryptoki", data.info.cryptoki_version),
                         ("slots", str(len(data.slots)))]
            notes = data.error.splitlines() if data.error else []  # a note is one line
            pane.show(f"module {data.path}", rows, notes, None, warn=notes)

    @on(TokenTree.TokenChosen)
    def _token_chosen(self, event: TokenTree.TokenChosen) -> None:
        start(self, self.open_token(event.ref), name="open_token", group="tokens")

    # ----- actions ----------------------------------------------------------------------------
    def action_refresh(self) -> None:
        """Re-read slots and list the open token again on the session it has (still logged in).

        Other processes' objects show (SoftHSM and smart-card modules see them without
        re-initialising); tokens created elsewhere on SoftHSM need the rescan. With no token
        open there is no session to keep, so r rescans (the old meaning of r).
        """
        if self.current is None or self.listing is None:
            self.action_rescan()
            return
        if quirks_for(self.current.module_path).foreign_objects_need_reinit:
            # tpm2-pkcs11 shows objects other tools made only after C_Finalize + C_Initialize,
            # which ends the login: r then does what ctrl+r does, and says so.
            self.notify("This module shows objects other tools wrote only after re-initialising: "
                        "rescanned. Log in again (l) to see private keys.", title="Reload",
                        markup=False)
            self.action_rescan()
            return
        start(self, self.load_modules(), name="refresh", group="tokens")

    def action_rescan(self) -> None:
        start(self, self.load_modules(rescan=True), name="rescan", group="tokens")

    def action_copy_uri(self) -> None:
        uri = self.query_one("#details", DetailsPane).uri
        if not uri:
            self.notify("Nothing selected that has a PKCS#11 URI.", severity="warning")
            return
        self.app.copy_to_clipboard(uri)
        self.notify(plain(f"Copied {uri}"), title="URI copied", markup=False)

    def action_show_commands(self) -> None:
        table = self._active_table()
        handle = table.current_handle() if table is not None else None
        obj = self.listing.by_handle(handle) if handle is not None and self.listing is not None else None
        module = self.current.module_path if self.current is not None else "<MODULE>"
        title = (f"Show me the command: {describe.class_name(obj)} {obj.label or '(no label)'}" if obj else
                 "Show me the command: " + (f"token {self.listing.token.label}" if self.listing else "token"))
        self.app.push_screen(CommandScreen(title, command_sections(module, self.listing, obj)))

    def action_new_request(self) -> None:
        request_flow.start_new(self)

    def action_new_self_signed(self) -> None:
        request_flow.start_new(self, self_signed=True)

    def action_manage(self, what: str) -> None:
        """i, a, x, p, d, R, P, D: certificate and key management flows (ui.manage_flow)."""
        manage_flow.start_action(self, what)

    def action_toggle_login(self) -> None:
        start(self, self.toggle_login(), name="login", group="login")

    async def toggle_login(self) -> None:
        ref, listing = self.current, self.listing
        if ref is None or listing is None:
            self.notify("Open a token first.", severity="warning")
            return
        svc: Any = self.ikm.service_for(ref.module_path)
        if listing.logged_in:
            await svc.acall("logout", ref.slot_id)
            await self.open_token(ref)
            self.notify("Logged out: private objects are hidden again.")
            return
        # Fresh flags: COUNT_LOW / FINAL_TRY / LOCKED may have changed since the listing.
        info = await svc.acall("token_info", ref.slot_id)
        tree = self.query_one("#tokens", TokenTree)
        tree.update_token(ref, info)
        store = await self._pin_store()
        remembered = await pin_memory.login_with_remembered(self, svc, ref.slot_id, info, store)
        if remembered:
            await self.open_token(ref)
            self.notify("Logged in with the PIN remembered in the OS keyring.")
            return
        if remembered is False:  # the refused try changed the flags: show them before asking
            info = await svc.acall("token_info", ref.slot_id)
            tree.update_token(ref, info)
        if await self.app.push_screen_wait(PinScreen(svc, ref.slot_id, info, pin_store=store,
                                                     on_flags=lambda i: tree.update_token(ref, i))):
            await self.open_token(ref)
            self.notify("Logged in: private keys are listed.")

    async def _pin_store(self) -> Any:
        """The app's PinStore, made once (off the event loop: probing the keyring may block)."""
        if self.ikm.pin_store is None:
            self.ikm.pin_store = await asyncio.to_thread(pin_memory.default_store)
        return self.ikm.pin_store


async def _outcome(fut: concurrent.futures.Future[Any]) -> Any:
    """A start-up call's result; without a trip round the event loop when it is already in.

    Why: each trip lets Textual lay out and draw a frame first, and at start-up the calls are
    usually done (queued before Textual was imported), so the table can be filled before the
    first frame instead of after two or three.
    """
    if fut.done():
        return fut.result()
    return await asyncio.wrap_future(fut)


async def _prefetch_lists(early: StartupPrefetch, ref: TokenRef) -> bool:
    """Whether the start-up chain lists the token `ref` names (so open_token takes its results)."""
    try:
        await _outcome(early.info)
        await _outcome(early.slot)
    except IkmError:
        return False
    return early.lists(ref.module_path, ref.slot_id)
