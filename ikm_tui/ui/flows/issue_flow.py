"""The CA's "Issue certificate…" flow: pick a request (file or pending on any token of any module),
preview what will be issued, sign on the token, write the certificate, offer to receive it here.

Same shape as ui.manage_flow: one coroutine run as an App-owned worker; dialogs are awaited with
push_screen_wait and the token only through `svc.arun(core_fn, slot, ...)` on its owner thread, so
the UI never blocks and a token error reaches the App's one error dialog.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509 as cx509

from ikm_tui.core.errors import IkmError
from ikm_tui.core.files import PUBLIC_MODE, write_file
from ikm_tui.core.model import Listing, ObjectInfo
from ikm_tui.core.ops import request_files
from ikm_tui.core.ops.pending_machine import PendingOnToken, pending_everywhere
from ikm_tui.core.p11.modules import ModuleCandidate, canonical
from ikm_tui.core.x509.info import public_key_identity
from ikm_tui.ui.flows.manage_flow import receive_certs
from ikm_tui.ui.flows.selection import selected_ca
from ikm_tui.ui.flows.request_flow import ensure_login
from ikm_tui.ui.screens.confirm_screen import ConfirmScreen
from ikm_tui.ui.text import plain
from ikm_tui.ui.workers import start

if TYPE_CHECKING:
    from ikm_tui.ui.screens.issue_source import IssueSource
    from ikm_tui.ui.flows.host import FlowHost


def start_issue(main: FlowHost) -> None:
    if main.current is None or main.listing is None:
        main.notify("Open a token first.", severity="warning")
        return
    ca = selected_ca(main)
    if ca is None:
        main.notify("Select a CA certificate whose private key is on this token (Certificates tab; "
                    "log in to see the keys).", severity="warning")
        return
    start(main, issue_flow(main, ca), name="issue", group="manage")


def _out_path(choice: IssueSource) -> Path:
    return Path(choice.out or f"{choice.name}.pem").expanduser().absolute()


def _key_here(listing: Listing | None, csr_der: bytes) -> bool:
    if listing is None:
        return False
    ident = public_key_identity(cx509.load_der_x509_csr(csr_der).public_key())[3]
    return request_files.key_on_token(listing, ident)


async def _pending_in_tree(main: FlowHost, svc: Any) -> tuple[PendingOnToken, ...]:
    """Pending requests of every module in the tree (each read on its owner thread, in parallel)."""
    loaded = [e for e in main.entries if e.error is None]
    # Services made here, on the event loop: service_for touches the trace pane.
    services = {canonical(e.path): main.ikm.service_for(e.path) for e in loaded}
    cands = [ModuleCandidate(e.path, e.source, e.name) for e in loaded]
    search = await asyncio.to_thread(pending_everywhere, svc, cands, lambda path: services[canonical(path)])
    if search.unreadable:
        main.notify(plain(f"Pending requests of {', '.join(search.unreadable)} could not be read."),
                    title="Some modules not read", severity="warning", markup=False)
    return search.found


async def issue_flow(main: FlowHost, ca: ObjectInfo) -> None:
    ref = main.current
    assert ref is not None
    svc: Any = main.ikm.service_for(ref.module_path)
    if not await ensure_login(main, svc, "Issuing signs with the CA's private key: log in with the user PIN."):
        return
    # Here, not at the top: these screens and the CA code they show (asn1crypto) were ~35 ms of
    # the TUI's start-up, beside its first listing; they are needed once issuing starts.
    from ikm_tui.core.ops.ca_issue import issue_planned, plan_issue
    from ikm_tui.ui.screens.issue_preview import IssuePreviewScreen
    from ikm_tui.ui.screens.issue_result import IssueResultScreen
    from ikm_tui.ui.screens.issue_source import IssueSourceScreen

    pending = await _pending_in_tree(main, svc)
    choice: IssueSource | None = await main.app.push_screen_wait(IssueSourceScreen(ca.label, pending))
    if choice is None:
        return
    target = _out_path(choice)
    if target.is_dir():
        raise IkmError(f"{target} is a directory.", "Give a file name for the certificate.",
                       operation="Issuing a certificate")
    # Asked before signing: a certificate signed and logged but not written helps nobody.
    replace = target.exists()
    if replace and not await main.app.push_screen_wait(ConfirmScreen(
            "Overwrite?", f"{target} exists. Replace it with the new certificate?", yes="Overwrite")):
        main.notify("Nothing was issued.")
        return
    plan = await svc.arun(plan_issue, ref.slot_id, ca.label, choice.csr_der, choice.profile, choice.days,
                          source=choice.source, now=main.ikm.clock())
    if not await main.app.push_screen_wait(IssuePreviewScreen(plan)):
        main.notify("Nothing was issued.")
        return
    issued = await svc.arun(issue_planned, ref.slot_id, plan)
    written: str | None = str(target)
    try:
        write_file(target, issued.pem.encode("ascii"), overwrite=replace, mode=PUBLIC_MODE)
    except OSError as exc:
        written = None
        main.notify(plain(f"Issued serial {issued.record.serial} but could not write {target}: "
                          f"{exc.strerror or exc}"), title="Not written", severity="error", markup=False)
    key_here = _key_here(main.listing, choice.csr_der)
    if await main.app.push_screen_wait(IssueResultScreen(issued, written, key_here)):
        await receive_certs(main, (issued.der,), "pem", written or "the issued certificate")
