"""MainScreen: tokens tree | Keys, Certificates, Requests, Mechanisms, Trace tabs | details pane."""

from __future__ import annotations

import asyncio

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
from ikm_tui.core.p11.modules import ModuleCandidate, display_name
from ikm_tui.core.p11.prefetch import StartupPrefetch
from ikm_tui.ui import describe
# Only what the first screen needs: the flows behind the action keys (request_flow, manage_flow,
# issue_flow, login_flow) import their dialogs and core operations (cryptography, asn1crypto:
# ~100 ms of start-up together), so each action_ method imports its flow when it runs.
from ikm_tui.ui.flows import cli_login, listing_view, mechanisms_view, requests_view, selection, token_state
from ikm_tui.ui.flows.host import AppHost
from ikm_tui.ui.flows.startup import end_startup_gc, open_first_module_first
from ikm_tui.ui.flows.startup import outcome as _outcome, prefetch_lists as _prefetch_lists
from ikm_tui.ui.messages import DeleteRequest, ResignRequest, SaveRequest
from ikm_tui.ui.widgets.details import DetailsPane
from ikm_tui.ui.widgets.lint_view import LintView, certificate_findings
from ikm_tui.ui.widgets.mechanism_table import MechanismTable
from ikm_tui.ui.widgets.object_table import ObjectTable, select_partner
from ikm_tui.ui.widgets.requests_pane import RequestsPane
from ikm_tui.ui.text import literal, plain
from ikm_tui.ui.widgets.token_activity import TokenActivity
from ikm_tui.ui.widgets.token_tree import ModuleEntry, NodeData, TokenRef, TokenTree
from ikm_tui.ui.widgets.trace_pane import TracePane
from ikm_tui.ui.workers import start
from ikm_tui.core.p11.backend import Backend

# Seconds after which the cyclic GC is back on even if the first listing has not come.
STARTUP_GC_LIMIT = 5.0


class MainScreen(Screen[None]):
    """The token browser. It is the FlowHost (ui.flows.host) its flows run on: it imports them,
    they never import it; its widgets reach it with Messages (ui.messages)."""

    BINDINGS = [
        Binding("l", "toggle_login", "Login", id="main.login",
                tooltip="Log in with the user PIN (private keys appear), or log out"),
        Binding("r", "refresh", "Reload", id="main.refresh",
                tooltip="List the open token again, still logged in (shows objects other tools wrote); "
                        "with no token open, rescan"),
        Binding("ctrl+r", "rescan", "Rescan", id="main.rescan", show=False,
                tooltip="Re-initialise every module: finds tokens created or plugged in elsewhere "
                        "(logs out)"),
        Binding("c", "copy_uri", "Copy URI", id="main.copy_uri", show=False,
                tooltip="Copy the PKCS#11 URI of the selected token or object to the clipboard"),
        Binding("m", "show_commands", "Commands", id="main.show_commands",
                tooltip="Show me the command: the pkcs11-tool / openssl / p11tool / runmqakm lines "
                        "for the selected object's actions (PIN as a placeholder)"),
        Binding("n", "new_request", "Request", id="main.new_request",
                tooltip="Make a key pair on the token and a PKCS#10 request for it"),
        Binding("N", "new_self_signed", "Self-signed", id="main.new_self_signed", show=False,
                tooltip="Make a key pair on the token and a self-signed certificate for it"),
        # In the footer only while a CA certificate with its key here is selected (check_action).
        Binding("I", "issue_certificate", "Issue cert…", id="main.issue_certificate",
                tooltip="Sign a request with the selected CA's key on the token: preview, sign, write"),
        # Certificate and key management (ui.manage_flow). Not in the footer: it is full at 80
        # columns; they are in the help (?), the command palette and the keys panel.
        *selection.MANAGE_BINDINGS,
    ]

    def __init__(self) -> None:
        super().__init__(id="main")
        self.entries: list[ModuleEntry] = []
        self.current: TokenRef | None = None
        self.listing: Listing | None = None

    @property
    def ikm(self) -> AppHost:
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
        yield Footer(show_command_palette=False)  # 80 columns: every shown key fits; ^p is in ?

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
        await cli_login.login_once(self)  # IKM_PIN / --pin-file: one try, at start-up only

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
            name = display_name(cand) if display_name(cand) != cand.path else ""
            try:
                svc = app.service_for(cand.path)
                if rescan:
                    await svc.arun(Backend.rescan)
                if first and early is not None:
                    info = await _outcome(early.info)
                    slots = await _outcome(early.slots)
                else:
                    info = await svc.arun(Backend.module_info)
                    slots = await svc.arun(Backend.slots)
            except IkmError as err:
                return ModuleEntry(cand.path, cand.source, error=str(err), name=name)
            except Exception as exc:  # noqa: BLE001 - a module that cannot even start must not stop the others
                return ModuleEntry(cand.path, cand.source, error=token_state.load_failure(exc), name=name)
            return ModuleEntry(info.path, cand.source, info, tuple(slots), name=name)

        # Side by side: every module has its own owner thread, and a slow one (OpenSC waiting
        # for readers, p11-kit-trust parsing the CA store) must not hold up the others. The
        # entries keep the candidates' order.
        tree = self.query_one("#tokens", TokenTree)
        if initial and len(cands) > 1:
            opened = await open_first_module_first(self, cands, load, self._find_token, early)
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
                    slot = await self.ikm.service_for(entry.path).arun(Backend.find_slot, selector)
            except IkmError as err:
                first_error = first_error or err
                continue
            return TokenRef(entry.path, slot)
        raise first_error or IkmError(f"No token matches {selector!r}.", "Run `ikm-tui tokens`.")

    async def open_token(self, ref: TokenRef, early: StartupPrefetch | None = None) -> None:
        svc = self.ikm.service_for(ref.module_path)
        reinserted = False
        mechanisms = None
        preview = listing_view.Preview(self, ref)  # a remote token's rows while they arrive
        try:
            try:
                if early is not None and await _prefetch_lists(early, ref):
                    listing: Listing = await _outcome(early.listing)
                    mechanisms = await _outcome(early.mechanisms)
                else:
                    listing = await svc.arun(Backend.list_objects, ref.slot_id, progress=preview.sink())
            except IkmError as err:
                if err.ckr_name not in token_state.SESSION_LOST:
                    raise
                # Reinserted: the service forgot the dead session, so this opens a public one.
                reinserted = self.current == ref and self.listing is not None and self.listing.logged_in
                listing = await svc.arun(Backend.list_objects, ref.slot_id)
                mechanisms = None
            if mechanisms is None and not mechanisms_view.deferred(ref):
                mechanisms = await svc.arun(Backend.mechanisms, ref.slot_id)
        except IkmError as err:
            if err.ckr_name not in token_state.GONE:
                raise
            token_state.show_removed(self, ref, err)  # never a half-read listing as complete
            raise  # and the error dialog says what happened and what to do
        finally:
            preview.stop()
        self.current = ref
        self.listing = listing
        self._show_listing(listing)
        requests_view.load_requests(self)
        mechanisms_view.show(self, ref, mechanisms)
        self._show_current_details()
        start(self, token_state.check_journal(self, ref), name="journal", group="journal", exclusive=False)
        if reinserted:
            start(self, token_state.offer_relogin(self, ref), name="login", group="login")

    def _show_listing(self, listing: Listing) -> None:
        listing_view.show_listing(self, listing)

    def _set_status(self, content: Content) -> None:
        self.query_one("#status", Static).update(content)

    # ----- selection and details --------------------------------------------------------------
    def _active_table(self) -> ObjectTable | None:
        active = self.query_one("#tabs", TabbedContent).active
        return {"tab-keys": self.query_one("#keys", ObjectTable),
                "tab-certs": self.query_one("#certs", ObjectTable)}.get(active)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "issue_certificate":
            return selection.selected_ca(self) is not None  # hidden from the footer otherwise
        return True

    def _show_current_details(self) -> None:
        if self.current is None:
            # No token open: the pane holds the empty state (no token, why, what to do) or
            # its first hint; a tab switch (or the first tab's activation, which can come
            # after a start-up that was over at once) must not replace it.
            return
        if self.query_one("#tabs", TabbedContent).active == "tab-requests" and \
                requests_view.show_request_details(self):
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
        self.refresh_bindings()  # "Issue cert…" follows the selection
        obj = self.listing.by_handle(int(event.row_key.value or -1))
        if obj is not None:
            self.show_object(obj)

    @on(DataTable.RowHighlighted, "#requests")
    def _request_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.query_one("#tabs", TabbedContent).active == "tab-requests":
            requests_view.show_request_details(self)

    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()
        self._show_current_details()
        mechanisms_view.tab_shown(self)

    def show_object(self, obj: ObjectInfo) -> None:
        listing = self.listing
        assert listing is not None
        select_partner(self.query_one("#keys", ObjectTable), self.query_one("#certs", ObjectTable), listing, obj)
        notes = describe.pairing_lines(listing, obj)
        rows = describe.object_rows(listing, obj, self.ikm.clock())
        title = f"{describe.class_name(obj)} {obj.label or '(no label)'}"
        self.query_one("#details", DetailsPane).show(title, rows, notes, obj.uri)
        if obj.cls is ObjClass.CERTIFICATE:
            self.query_one(LintView).show(certificate_findings(listing, obj, self.ikm.clock()))

    def show_token_details(self, ref: TokenRef | None) -> None:
        pane = self.query_one("#details", DetailsPane)
        slot = self.query_one("#tokens", TokenTree).slot_info(ref) if ref else None
        if slot is None:
            pane.show_message("Select a token, key or certificate.")
            return
        self._show_slot(slot)

    def _show_slot(self, slot: SlotInfo) -> None:
        self.query_one("#details", DetailsPane).show_slot(slot, self.entries)

    @on(Tree.NodeHighlighted, "#tokens")
    def _tree_highlighted(self, event: Tree.NodeHighlighted[NodeData]) -> None:
        data = event.node.data
        if isinstance(data, TokenRef):
            slot = self.query_one("#tokens", TokenTree).slot_info(data)
            if slot is not None:
                self._show_slot(slot)
        elif isinstance(data, SlotInfo):
            self._show_slot(data)
        elif isinstance(data, ModuleEntry):
            self.query_one("#details", DetailsPane).show_module(data)

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
            self.notify("This module shows objects other tools wrote only after re-initialising: rescanned. "
                        "Log in again (l) to see private keys.", title="Reload", markup=False)
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
        from ikm_tui.ui.screens.command_screen import CommandScreen, command_sections

        self.app.push_screen(CommandScreen(title, command_sections(module, self.listing, obj)))

    # Each flow is imported when its key is first pressed (see the imports at the top).
    def action_new_request(self) -> None:
        from ikm_tui.ui.flows import request_flow
        request_flow.start_new(self)

    def action_new_self_signed(self) -> None:
        from ikm_tui.ui.flows import request_flow
        request_flow.start_new(self, self_signed=True)

    def action_issue_certificate(self) -> None:
        from ikm_tui.ui.flows import issue_flow
        issue_flow.start_issue(self)

    def action_manage(self, what: str) -> None:
        """i, a, x, p, d, R, P, D: certificate and key management flows (ui.manage_flow)."""
        from ikm_tui.ui.flows import manage_flow
        manage_flow.start_action(self, what)

    # The Requests pane's keys (s, d, e) and the palette post these (ui.messages).
    @on(SaveRequest)
    def _save_request(self, event: SaveRequest) -> None:
        from ikm_tui.ui.flows import request_flow
        request_flow.start_save(self, event.label)

    @on(DeleteRequest)
    def _delete_request(self, event: DeleteRequest) -> None:
        from ikm_tui.ui.flows import request_flow
        request_flow.start_delete(self, event.label)

    @on(ResignRequest)
    def _resign_request(self, event: ResignRequest) -> None:
        from ikm_tui.ui.flows import request_flow
        request_flow.start_recreate(self, event.label)

    def action_toggle_login(self) -> None:
        from ikm_tui.ui.flows import login_flow
        start(self, login_flow.toggle_login(self), name="login", group="login")
