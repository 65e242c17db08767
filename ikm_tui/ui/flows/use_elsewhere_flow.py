"""'Use this key elsewhere…': the TUI face of `ikm-tui export-config` (the same core, the same files)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ikm_tui.core.model import ObjClass, ObjectInfo
from ikm_tui.core.ops.export_config import pick_key, write_bundle
from ikm_tui.core.text.use_elsewhere import bundle
from ikm_tui.ui.flows.request_flow import ensure_login
from ikm_tui.ui.screens.confirm_screen import ConfirmScreen
from ikm_tui.ui.screens.message_screen import MessageScreen
from ikm_tui.ui.screens.use_elsewhere_screen import NAMES, UseChoice, UseElsewhereScreen

if TYPE_CHECKING:
    from ikm_tui.ui.flows.host import FlowHost


def _dir_name(label: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label).strip(".") or "key"
    return os.path.join(".", f"{safe}-elsewhere")


async def use_elsewhere_flow(main: FlowHost, obj: ObjectInfo) -> None:
    """For the selected key (or the key of the selected certificate): ask tool + directory, write, report."""
    ref = main.current
    assert ref is not None
    svc = main.ikm.service_for(ref.module_path)
    if not await ensure_login(main, svc, "Private keys are visible after login."):
        return
    # A certificate stands for the key of its CKA_ID: the key Java, NSS and OpenSSL pair it with.
    if obj.cls is ObjClass.CERTIFICATE and not obj.id:
        main.notify("This certificate has no CKA_ID, so no tool pairs it with a key. The pairing doctor (D) "
                    "can repair that.", title="No key for it", severity="warning")
        return
    label, key_id = (obj.label, obj.id) if obj.cls is ObjClass.PRIVATE_KEY else (None, obj.id)
    use = await svc.arun(pick_key, ref.slot_id, label, key_id)
    choice: UseChoice | None = await main.app.push_screen_wait(UseElsewhereScreen(
        f"Use key {use.key_label} elsewhere", _dir_name(use.key_label)))
    if choice is None:
        return
    made = bundle(choice.target, use)
    where = Path(choice.directory).expanduser()
    taken = [a.name for a in made.files if os.path.lexists(where / a.name)]
    force = bool(taken)
    if taken and not await main.app.push_screen_wait(ConfirmScreen(
            "Replace files?", f"{', '.join(taken)} already in {where}. Replace them?", yes="Replace")):
        main.notify("Nothing written.")
        return
    paths = write_bundle(made, where, force=force)
    proof = paths[[a.name for a in made.files].index(made.proof)]
    lines = [f"{NAMES[choice.target]}: key {use.key_label!r} on token {use.token_label!r}", ""]
    lines += [f"wrote {p}  ({a.purpose})" for a, p in zip(made.files, paths, strict=True)]
    lines += ["", f"Prove it: sh {proof}", f"It works when it prints: {made.expect}"]
    lines += [f"Warning: {w}" for w in made.warnings]
    await main.app.push_screen_wait(MessageScreen("Files written", "\n".join(lines), warning=bool(made.warnings)))
