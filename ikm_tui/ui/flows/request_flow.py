"""Request flows of the TUI: new request / self-signed certificate, save, delete, re-sign.

Each flow is one coroutine run as an App-owned worker (ui.workers.start): it awaits dialogs with
push_screen_wait and the token through the module's TokenService (`svc.arun`), so token errors
reach the App's one error dialog. Key generation runs on the owner thread; the UI keeps going.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.widgets import TabbedContent

from ikm_tui.core.files import PUBLIC_MODE, write_file
from ikm_tui.core.ops import capabilities as capabilities_ops
from ikm_tui.core.ops import pending as pending_ops
from ikm_tui.core.ops import requests
from ikm_tui.core.model import ObjClass
from ikm_tui.ui import describe
from ikm_tui.ui.screens.confirm_screen import ConfirmScreen, TypeToConfirmScreen
from ikm_tui.ui.widgets.object_table import ObjectTable
from ikm_tui.ui.screens.pin_screen import PinScreen
from ikm_tui.ui.screens.request_form import RequestForm, RequestFormResult
from ikm_tui.ui.widgets.request_progress import RequestProgress
from ikm_tui.ui.screens.save_screen import SavePathScreen
from ikm_tui.ui.flows.requests_view import pane as _pane, show_request_details
from ikm_tui.ui.text import plain
from ikm_tui.ui.workers import start
from ikm_tui.ui.writes import GUARD
from ikm_tui.core.p11.backend import Backend

if TYPE_CHECKING:
    from ikm_tui.ui.flows.host import FlowHost


def _busy(main: FlowHost) -> bool:
    if main.query("#request-progress"):
        main.notify("A key pair is being made on this token: wait until it is done.", severity="warning")
        return True
    return False


async def ensure_login(main: FlowHost, svc: Any, why: str) -> bool:
    """Offer the PIN dialog when the token is not logged in; True when it is (now)."""
    ref, listing = main.current, main.listing
    if ref is None or listing is None:
        main.notify("Open a token first.", severity="warning")
        return False
    if listing.logged_in:
        return True
    main.notify(why, title="Log in first")
    info = await svc.arun(Backend.token_info, ref.slot_id)
    if not await main.app.push_screen_wait(PinScreen(svc, ref.slot_id, info)):
        return False
    await main.open_token(ref)
    return True


# ----- new request / self-signed certificate --------------------------------------------------

def start_new(main: FlowHost, *, self_signed: bool = False) -> None:
    if _busy(main):
        return
    # Not exclusive: a second flow must never cancel a keygen that is running.
    start(main, new_request(main, self_signed=self_signed), name="new_request", group="request",
          exclusive=False)


async def new_request(main: FlowHost, *, self_signed: bool = False) -> None:
    ref = main.current
    if ref is None or main.listing is None:
        main.notify("Open a token first.", severity="warning")
        return
    svc = main.ikm.service_for(ref.module_path)
    what = "A self-signed certificate" if self_signed else "A certificate request"
    if not await ensure_login(main, svc, f"{what} needs a key pair made on the token, "
                                          "which needs a login with the user PIN."):
        return
    listing = main.listing
    assert listing is not None
    caps = await svc.arun(capabilities_ops.capabilities, ref.slot_id)
    taken = {o.label for o in listing.objects if o.cls in describe.KEY_CLASSES or o.cls is ObjClass.CERTIFICATE}
    taken |= {r.label for r in _pane(main).requests}
    form = await main.app.push_screen_wait(
        RequestForm(caps, self_signed=self_signed, token_label=listing.token.label, taken_labels=taken))
    if form is None or _busy(main):
        return
    result = await _create(main, svc, ref.slot_id, form, self_signed)
    await main.open_token(ref)
    main.app.clear_notifications()
    if self_signed:
        select_certificate(main, None, form.label)
        main.notify(plain(f"Certificate {form.label} created on the token ({result.key_type})."),
                    title="Self-signed certificate", markup=False)
        return
    _select_request(main, form.label)
    notes = "\n".join(result.warnings)
    where = "on the token" if result.where == "token" else f"in {result.path}"
    if await main.app.push_screen_wait(ConfirmScreen(
            "Request created", f"Request {form.label} ({result.key_type}) is kept {where}.\n"
            + (f"{notes}\n" if notes else "") + "Save it to a file for the CA now?",
            yes="Save request…", no="Not now")):
        await save_request(main, form.label)


async def _create(main: FlowHost, svc: Any, slot_id: int, form: RequestFormResult, self_signed: bool) -> Any:
    progress = RequestProgress(f"Creating {form.key_type} key {form.label}…")
    await main.mount(progress, after=main.query_one("#topbar"))
    try:
        if self_signed:
            return await GUARD.arun(svc, slot_id, "cert create", requests.create_self_signed, form.key_type,
                                    form.label, form.subject, form.sans, form.key_usage, form.eku, form.hash,
                                    form.days or 365, form.key_id, progress=progress.hook)
        return await GUARD.arun(svc, slot_id, "certreq create", requests.create_request, form.key_type, form.label,
                                form.subject, form.sans, form.key_usage, form.eku, form.hash, form.key_id,
                                progress=progress.hook)
    finally:
        await progress.remove()


def _select_request(main: FlowHost, label: str) -> None:
    main.query_one("#tabs", TabbedContent).active = "tab-requests"
    pane = _pane(main)
    pane.select_label(label)
    pane.focus()
    show_request_details(main)


def select_certificate(main: FlowHost, handle: int | None, label: str) -> None:
    """Certificates tab, cursor on the cert (by handle, else by label), details shown: the pair
    appears linked ("paired with key …") and the Keys cursor moves to its key."""
    main.query_one("#tabs", TabbedContent).active = "tab-certs"
    assert main.listing is not None
    cert = main.listing.by_handle(handle) if handle is not None else None
    if cert is None or cert.cls is not ObjClass.CERTIFICATE:
        cert = next((o for o in main.listing.objects if o.cls is ObjClass.CERTIFICATE and o.label == label), None)
    table = main.query_one("#certs", ObjectTable)
    table.focus()
    if cert is not None:
        table.select_handle(cert.handle)
        main.show_object(cert)


# ----- save / delete / re-sign the selected request -------------------------------------------

def _selected(main: FlowHost, label: str | None) -> tuple[FlowHost, str] | None:
    """The screen and the request label a pane key (or the palette) asked about, when both are there."""
    if main.current is None or label is None:
        main.notify("Select a pending request on the Requests tab first.", severity="warning")
        return None
    return main, label


def default_path(label: str) -> str:
    """`./<label>.csr.pem`, with anything a file name should not hold replaced by `_`."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label).strip(".") or "request"
    return os.path.join(".", f"{safe}.csr.pem")


def start_save(main: FlowHost, label: str | None) -> None:
    if (sel := _selected(main, label)) is not None:
        start(sel[0], save_request(*sel), name="save_request", group="request-save")


async def save_request(main: FlowHost, label: str) -> None:
    ref = main.current
    assert ref is not None
    path = await main.app.push_screen_wait(SavePathScreen(f"Save request {label} as PEM", default_path(label)))
    if not path:
        return
    target = Path(path).expanduser()
    confirmed = target.exists()
    if confirmed:
        if target.is_dir():
            main.notify(plain(f"{target} is a directory: give a file name."), severity="error", markup=False)
            return
        if not await main.app.push_screen_wait(ConfirmScreen(
                "Overwrite?", f"{target} exists. Replace it with request {label}?", yes="Overwrite")):
            main.notify("Nothing saved.")
            return
    pem = await main.ikm.service_for(ref.module_path).arun(pending_ops.extract, ref.slot_id, label)
    try:
        # Replace only what the operator confirmed: a file that appeared meanwhile is not replaced.
        write_file(target, pem, overwrite=confirmed, mode=PUBLIC_MODE)
    except OSError as exc:
        main.notify(plain(f"Could not write {target}: {exc.strerror or exc}"), title="Not saved",
                    severity="error", markup=False)
        return
    main.notify(plain(f"Wrote {target}"), title="Request saved", markup=False)


def start_delete(main: FlowHost, label: str | None) -> None:
    if (sel := _selected(main, label)) is not None:
        start(sel[0], delete_request(*sel), name="delete_request", group="request-delete")


async def delete_request(main: FlowHost, label: str) -> None:
    ref = main.current
    assert ref is not None
    confirmed, with_key = await main.app.push_screen_wait(TypeToConfirmScreen(
        f"Delete request {label}",
        f"The pending request {label!r} will be removed from the token. Type its label to confirm.",
        label))
    if not confirmed:
        return
    svc = main.ikm.service_for(ref.module_path)
    if with_key and not await ensure_login(main, svc, "Deleting the key pair needs a login with the user PIN."):
        return
    done = await GUARD.arun(svc, ref.slot_id, "certreq delete", pending_ops.delete, label, with_key=with_key)
    await main.open_token(ref)
    main.notify(plain(f"Deleted: {', '.join(done)} ({label})"), title="Request deleted", markup=False)


def start_recreate(main: FlowHost, label: str | None) -> None:
    if _busy(main):
        return
    if (sel := _selected(main, label)) is not None:
        start(main, recreate_request(*sel), name="recreate_request", group="request", exclusive=False)


async def recreate_request(main: FlowHost, label: str) -> None:
    ref = main.current
    assert ref is not None
    svc = main.ikm.service_for(ref.module_path)
    if not await main.app.push_screen_wait(ConfirmScreen(
            f"Re-sign request {label}", "Sign a new request with the same key pair, subject, SANs and "
            "usages; it replaces the pending one.", yes="Re-sign")):
        return
    if not await ensure_login(main, svc, "Signing with the private key needs a login with the user PIN."):
        return
    progress = RequestProgress(f"Signing a new request for {label}…")
    await main.mount(progress, after=main.query_one("#topbar"))
    try:
        await GUARD.arun(svc, ref.slot_id, "certreq recreate", requests.recreate, label, progress=progress.hook)
    finally:
        await progress.remove()
    await main.open_token(ref)
    _select_request(main, label)
    main.notify(plain(f"Request {label} signed again."), title="Request replaced", markup=False)
