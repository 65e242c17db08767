"""Certificate and key management flows of the TUI: receive, add CA cert, extract, export public
key, delete, rename, change PIN, pairing doctor.

Same shape as ui.request_flow: each flow is one coroutine run as an App-owned worker; it awaits
dialogs with push_screen_wait and the token through `svc.arun(core_fn, slot, ...)`, so a token
error (no matching key, changed token, wrong PIN) reaches the App's one error dialog and nothing
half-done is hidden. Every action on an object starts from the *selected row's handle*.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any


from ikm_tui.core.ops import delete as delete_ops
from ikm_tui.core.ops import doctor as doctor_ops
from ikm_tui.core.ops import export as export_ops
from ikm_tui.core.ops import plans as plans_ops
from ikm_tui.core.ops import receive, receive_gate
from ikm_tui.core.ops import rename as rename_ops
from ikm_tui.core.files import PUBLIC_MODE, write_file
from ikm_tui.core.text.readback import rename_report
from ikm_tui.core.x509.pem import encode as pem_encode
from ikm_tui.core.errors import IkmError
from ikm_tui.core.model import ObjClass, ObjectInfo
from ikm_tui.ui import describe
from ikm_tui.ui.screens.confirm_screen import ConfirmScreen
from ikm_tui.ui.screens.delete_screen import DeleteObjectScreen
from ikm_tui.ui.screens.doctor_screen import DoctorScreen
from ikm_tui.ui.screens.export_screen import ExportChoice, ExportScreen
from ikm_tui.ui.screens.label_screen import LabelScreen, label_problem
from ikm_tui.ui.screens.message_screen import MessageScreen
from ikm_tui.ui.screens.pin_change_screen import PinChangeScreen
from ikm_tui.ui.screens.receive_preview import ReceivePreviewScreen
from ikm_tui.ui.flows.request_flow import ensure_login, select_certificate
from ikm_tui.ui.flows.selection import selected_object
from ikm_tui.ui.text import plain
from ikm_tui.ui.workers import start
from ikm_tui.ui.writes import GUARD
from ikm_tui.core.p11.backend import Backend

if TYPE_CHECKING:
    from ikm_tui.core.x509.certfile import CertBundle  # asn1crypto, PKCS#7/12: when a file is read
    from ikm_tui.ui.flows.host import FlowHost

_PAIR = (ObjClass.CERTIFICATE, ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY)


def _svc(main: FlowHost) -> Any:
    assert main.current is not None
    return main.ikm.service_for(main.current.module_path)


def _token_open(main: FlowHost) -> bool:
    if main.current is None or main.listing is None:
        main.notify("Open a token first.", severity="warning")
        return False
    return True


def _need_selection(main: FlowHost, what: str, classes: tuple[ObjClass, ...] | None = None) -> ObjectInfo | None:
    if not _token_open(main):
        return None
    obj = selected_object(main, classes)
    if obj is None:
        main.notify(what, severity="warning")
    return obj


def _safe_name(label: str, fallback: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label).strip(".") or fallback


async def write_file_asking(main: FlowHost, path: str, data: bytes, what: str) -> bool:
    """Write `data` to `path`, asking before replacing a file; False when nothing was written."""
    target = Path(path).expanduser()
    if target.is_dir():
        main.notify(plain(f"{target} is a directory: give a file name."), severity="error", markup=False)
        return False
    confirmed = target.exists()
    if confirmed and not await main.app.push_screen_wait(ConfirmScreen(
            "Overwrite?", f"{target} exists. Replace it with {what}?", yes="Overwrite")):
        main.notify("Nothing saved.")
        return False
    try:
        # Replace only what the operator confirmed: a file that appeared meanwhile is not replaced.
        write_file(target, data, overwrite=confirmed, mode=PUBLIC_MODE)
    except OSError as exc:
        main.notify(plain(f"Could not write {target}: {exc.strerror or exc}"), title="Not saved",
                    severity="error", markup=False)
        return False
    main.notify(plain(f"Wrote {what} to {target}"), title="Saved", markup=False)
    return True


# ----- receive ----------------------------------------------------------------------------------

def start_receive(main: FlowHost) -> None:
    if _token_open(main):
        start(main, receive_flow(main), name="receive", group="manage")


async def receive_flow(main: FlowHost) -> None:
    ref = main.current
    assert ref is not None
    svc = _svc(main)
    if not await ensure_login(main, svc, "Receiving a certificate needs the private keys, which are "
                                          "visible only after login with the user PIN."):
        return
    from ikm_tui.ui.screens.receive_screen import CertSourceScreen  # TextArea: ~20 ms of import, not at start-up

    bundle: CertBundle | None = await main.app.push_screen_wait(
        CertSourceScreen("Receive a signed certificate (PEM, DER, PKCS#7, bundle)"))
    if bundle is None:
        return
    await receive_certs(main, bundle.certs, bundle.fmt, bundle.source)


async def receive_certs(main: FlowHost, certs: tuple[bytes, ...], fmt: str, source: str) -> None:
    """Preview, confirm and store certificates read from `source` (also the CA's "Receive it here")."""
    ref = main.current
    assert ref is not None
    svc = _svc(main)
    # Reads only; no matching key → an IkmError naming the keys present, nothing written.
    preview = await svc.arun(receive.preview_receive, ref.slot_id, certs, fmt)
    now = main.ikm.clock()
    findings = receive_gate.preview_findings(preview, now=now)
    choice = await main.app.push_screen_wait(
        ReceivePreviewScreen(preview, findings, now, source, len(certs)))
    if choice is None:
        main.notify("Nothing was written.")
        return
    result = await GUARD.arun(svc, ref.slot_id, "cert receive", receive.apply_receive, preview,
                              replace=choice.replace, with_chain=choice.with_chain, assign_id=choice.assign_id,
                              force=choice.force, now=now)
    await main.open_token(ref)
    select_certificate(main, result.written.handle, result.written.label)
    lines = [f"Stored {result.written.label!r} (id {result.written.id.hex()}) next to its key."]
    lines += [f"Replaced {r.label!r} serial {r.fields.serial}." for r in result.removed]
    lines += [f"Stored CA certificate {c.label!r}." for c in result.chain_written]
    lines += [f"Removed the fulfilled request {r.label!r}." for r in result.requests_removed]
    lines += list(result.notes)
    main.notify(plain("\n".join(lines)), title="Certificate received", markup=False)


# ----- add a CA certificate -------------------------------------------------------------------

def start_add_ca(main: FlowHost) -> None:
    if _token_open(main):
        start(main, add_ca_flow(main), name="add_ca", group="manage")


async def add_ca_flow(main: FlowHost) -> None:
    ref, listing = main.current, main.listing
    assert ref is not None and listing is not None
    from ikm_tui.ui.screens.receive_screen import CertSourceScreen

    bundle: CertBundle | None = await main.app.push_screen_wait(
        CertSourceScreen("Add a CA / signer certificate", ok_label="Next"))
    if bundle is None:
        return
    if len(bundle.certs) != 1:
        raise IkmError(f"{bundle.source} holds {len(bundle.certs)} certificates; a CA certificate is "
                       "stored one at a time under one label.",
                       "Split the file, or receive your certificate with its chain (i, store chain).",
                       operation="Adding the certificate")
    der = bundle.certs[0]
    taken = frozenset(o.label for o in listing.objects if o.cls in _PAIR)
    label = await main.app.push_screen_wait(LabelScreen(
        "Label for the CA certificate",
        "Java shows it as the alias, NSS as the nickname. It is stored as category authority.",
        receive.cn_label(der), ok="Add", check=lambda v: label_problem(v, taken)))
    if label is None:
        return
    ref_cert = await main.ikm.service_for(ref.module_path).arun(
        receive.add_authority_cert, ref.slot_id, der, label)
    await main.open_token(ref)
    select_certificate(main, ref_cert.handle, ref_cert.label)
    note = "" if ref_cert.fields.is_ca else "\nWarning: it is not marked as a CA (basicConstraints CA:TRUE)."
    main.notify(plain(f"Stored CA certificate {ref_cert.label!r} (id {ref_cert.id.hex()}).{note}"),
                title="CA certificate added", severity="warning" if note else "information", markup=False)


# ----- extract a certificate / export a public key --------------------------------------------

def start_extract(main: FlowHost) -> None:
    cert = _need_selection(main, "Select a certificate on the Certificates tab first.", (ObjClass.CERTIFICATE,))
    if cert is not None:
        start(main, extract_flow(main, cert), name="extract_cert", group="manage")


async def extract_flow(main: FlowHost, cert: ObjectInfo) -> None:
    if not cert.value:
        raise IkmError(f"The certificate {cert.label!r} has no value on the token.", "Refresh (r) and retry.",
                       operation="Saving the certificate")
    choice: ExportChoice | None = await main.app.push_screen_wait(ExportScreen(
        f"Save certificate {cert.label}", os.path.join(".", _safe_name(cert.label, "cert") + ".pem")))
    if choice is None:
        return
    data = pem_encode(cert.value).encode() if choice.fmt == "pem" else cert.value
    await write_file_asking(main, choice.path, data, f"certificate {cert.label} ({choice.fmt.upper()})")


def start_export_public(main: FlowHost) -> None:
    key = _need_selection(main, "Select a private or public key on the Keys tab first.",
                          (ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY))
    if key is not None:
        start(main, export_public_flow(main, key), name="export_public", group="manage")


async def export_public_flow(main: FlowHost, key: ObjectInfo) -> None:
    ref = main.current
    assert ref is not None
    obj, pem = await _svc(main).arun(export_ops.export_public_key, ref.slot_id, key.label, key.id)
    choice = await main.app.push_screen_wait(ExportScreen(
        f"Save the public key of {obj.label} (PEM)",
        os.path.join(".", _safe_name(obj.label, "key") + ".pub.pem"), formats=False))
    if choice is not None:
        await write_file_asking(main, choice.path, pem.encode("ascii"), f"public key {obj.label}")


def start_use_elsewhere(main: FlowHost) -> None:
    obj = _need_selection(main, "Select a private key (Keys tab) or its certificate first.",
                          (ObjClass.PRIVATE_KEY, ObjClass.CERTIFICATE))
    if obj is not None:
        from ikm_tui.ui.flows.use_elsewhere_flow import use_elsewhere_flow

        start(main, use_elsewhere_flow(main, obj), name="use_elsewhere", group="manage")


# ----- delete -------------------------------------------------------------------------------------

def start_delete(main: FlowHost) -> None:
    obj = _need_selection(main, "Select a key or certificate on the Keys or Certificates tab first.")
    if obj is not None:
        start(main, delete_flow(main, obj), name="delete_object", group="manage")


async def delete_flow(main: FlowHost, obj: ObjectInfo) -> None:
    ref = main.current
    assert ref is not None
    svc = _svc(main)
    plan: plans_ops.Plan = await svc.arun(delete_ops.plan_delete_object, ref.slot_id, obj.handle)
    lines = ["This deletes exactly:"] + [f"  {plans_ops.describe(o)}" for o in plan.objects]
    lines += [f"Warning: {w}" for w in plan.warnings]
    lines.append("Type the label to confirm.")
    confirmed, _ = await main.app.push_screen_wait(DeleteObjectScreen(
        f"Delete {describe.class_name(obj)} {obj.label or '(no label)'}", "\n".join(lines), obj.label))
    if not confirmed:
        main.notify("Nothing was deleted.")
        return
    done = await GUARD.arun(svc, ref.slot_id, "delete", delete_ops.apply_delete, plan)
    await main.open_token(ref)
    main.notify(plain("Deleted: " + "; ".join(plans_ops.describe(o) for o in done)), title="Deleted", markup=False)


# ----- rename -------------------------------------------------------------------------------------

def start_rename(main: FlowHost) -> None:
    obj = _need_selection(main, "Select a certificate or key first.", _PAIR)
    if obj is not None:
        start(main, rename_flow(main, obj), name="rename", group="manage")


async def rename_flow(main: FlowHost, obj: ObjectInfo) -> None:
    ref, listing = main.current, main.listing
    assert ref is not None and listing is not None
    svc = _svc(main)
    taken = frozenset(o.label for o in listing.objects if o.cls in _PAIR and o.id != obj.id)
    new = await main.app.push_screen_wait(LabelScreen(
        f"Rename {obj.label or '(no label)'}",
        "The certificate, private key and public key with this label and CKA_ID "
        f"({obj.id.hex() or '-'}) get the new label together; Java's alias and NSS's nickname follow.",
        obj.label, ok="Rename", check=lambda v: label_problem(v, taken) or ("Same label." if v == obj.label else "")))
    if new is None:
        return
    try:
        plan: plans_ops.Plan = await svc.arun(rename_ops.plan_rename, ref.slot_id, obj.label, new, obj.id)
    except ValueError as exc:
        raise IkmError(f"Cannot rename to {new!r}: {exc}.", "Give another label.", operation="Renaming") from None
    if plan.warnings and not await main.app.push_screen_wait(ConfirmScreen(
            "Rename anyway?", "\n".join([f"Renaming {len(plan.objects)} object(s) to {new!r}:"]
                                       + [f"  {plans_ops.describe(o)}" for o in plan.objects]
                                       + [f"Warning: {w}" for w in plan.warnings]), yes="Rename")):
        return
    results = await GUARD.arun(svc, ref.slot_id, "cert rename", rename_ops.apply_rename, plan)
    await main.open_token(ref)
    report = rename_report(results, new)
    lines = ["Read back in a fresh session:", *report.lines("  ")]
    if not report.ok:
        lines.append(f"{report.problem}.")
    cert = next((r.obj for r in results if r.obj.cls is ObjClass.CERTIFICATE), None)
    if cert is not None:
        select_certificate(main, cert.handle, new)
    await main.app.push_screen_wait(MessageScreen(report.title, "\n".join(lines), warning=not report.ok))


# ----- change the user PIN ------------------------------------------------------------------------

def start_change_pin(main: FlowHost) -> None:
    if _token_open(main):
        start(main, change_pin_flow(main), name="change_pin", group="manage")


async def change_pin_flow(main: FlowHost) -> None:
    ref = main.current
    assert ref is not None
    svc = _svc(main)
    info = await svc.arun(Backend.token_info, ref.slot_id)
    if await main.app.push_screen_wait(PinChangeScreen(svc, ref.slot_id, info)):
        main.notify("The user PIN was changed. Use the new PIN from now on.", title="PIN changed")


# ----- pairing doctor ---------------------------------------------------------------------------

def start_doctor(main: FlowHost) -> None:
    if _token_open(main):
        start(main, doctor_flow(main), name="doctor", group="manage")


async def doctor_flow(main: FlowHost) -> None:
    ref = main.current
    assert ref is not None
    svc = _svc(main)
    if not await ensure_login(main, svc, "The pairing doctor needs the private keys, which are visible "
                                          "only after login with the user PIN."):
        return
    from ikm_tui.core.ops import repair_ids

    report: doctor_ops.DoctorReport = await svc.arun(doctor_ops.diagnose, ref.slot_id)
    ids, _ = await svc.arun(repair_ids.diagnose_ids, ref.slot_id)
    screen = DoctorScreen(report, ids)
    if not await main.app.push_screen_wait(screen):
        return
    if not await main.app.push_screen_wait(ConfirmScreen(
            f"Apply {len(screen.todo)} repair(s)?", "\n".join(r.describe() for r in screen.todo), yes="Apply")):
        main.notify("Nothing was changed.")
        return
    # CKA_ID groups first (rolled back as a group on failure), then the cert repairs on a fresh plan.
    lines: list[str] = []
    for r in ids.id_repairs:
        if r.blocked is None:
            back = await GUARD.arun(svc, ref.slot_id, "cert doctor --fix", repair_ids.apply_id_repair, r)
            lines += [f"{plans_ops.describe(o)}: CKA_ID now {r.new_id.hex()} "
                      + ("(ok)" if back.get(o.handle) == r.new_id else "(READ BACK differs)") for o in r.objects]
    if ids.id_repairs:
        report = await svc.arun(doctor_ops.diagnose, ref.slot_id)
    results = await GUARD.arun(svc, ref.slot_id, "cert doctor --fix", doctor_ops.apply_repairs, report)
    await main.open_token(ref)
    bad = [r for r in results if not r.ok] + [line for line in lines if line.endswith("differs)")]
    lines += [f"{plans_ops.describe(r.obj)}: label|id now {r.wanted!r} "
              + ("(ok)" if r.ok else f"(READ BACK {r.actual!r})") for r in results]
    await main.app.push_screen_wait(MessageScreen(
        f"{len(bad)} repair(s) did not stick" if bad else "Repairs applied", "\n".join(lines), warning=bool(bad)))


# ----- keys and palette ---------------------------------------------------------------------------
# MainScreen binds the keys (ui.flows.selection.MANAGE_BINDINGS) to `manage('<flow>')` and runs
# start_action(); the palette's entries reach it through the App's manage action.
ACTIONS: dict[str, Any] = {
    "receive": start_receive,
    "add_ca": start_add_ca,
    "extract": start_extract,
    "export_public": start_export_public,
    "use_elsewhere": start_use_elsewhere,
    "delete": start_delete,
    "rename": start_rename,
    "change_pin": start_change_pin,
    "doctor": start_doctor,
}


def start_action(main: FlowHost, what: str) -> None:
    ACTIONS[what](main)

