"""Finish or undo what a killed command's journal (core/journal.py) says it was doing.

All functions take (backend, slot_id, entry) and run on the owner thread via `service.run`.
Each step is judged against the token as it is now: done, not done, or gone astray. `finish`
does the steps not yet done; `undo` reverses the done ones, last first. What cannot be reached
(a destroyed private key cannot come back, a key pair that never got its request cannot be
finished without it) is refused with the way that does work, before anything is written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


from ikm_tui.core.errors import RefusedError, from_exception
from ikm_tui.core.journal import Step, command_of, is_hollow
from ikm_tui.core.model import Listing, ObjClass, ObjectInfo
from ikm_tui.core.p11 import objects, softhsm
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.p11.objects import CATEGORY_TOKEN_USER
from ikm_tui.core.sanitize import safe_text

_KIND = {"private_key": "private key", "public_key": "public key", "certificate": "certificate",
         "data": "request", "secret_key": "secret key"}


@dataclass(frozen=True)
class StepState:
    step: Step
    done: bool | None  # None: cannot be told (a PIN change)

    def describe(self) -> str:
        s = self.step
        what = f"{_KIND.get(s.get('cls', ''), s.get('cls', '?'))} {s.get('label', '')!r}"
        if s.get("id"):
            what += f" id={s['id']}"
        verb = {"set": "set " + ", ".join(f"{k} {v!r}" for k, v in s.get("new", {}).items()),
                "destroy": "delete", "create": "create", "pin": "change the user PIN"}.get(s.get("do", ""), "?")
        mark = {True: "done", False: "not done", None: "cannot be read back"}[self.done]
        text = f"{what}: {verb}" if s.get("do") != "pin" else verb
        return safe_text(f"{text}: {mark}")


@dataclass(frozen=True)
class JournalState:
    command: str
    started: str
    steps: tuple[StepState, ...]
    torn: int = 0  # objects the killed write left half-made (journal.is_hollow)

    def lines(self) -> list[str]:
        out = [st.describe() for st in self.steps]
        if self.torn:
            out.append(f"{self.torn} object(s) left half-made (no value, or the module cannot describe "
                       "them): finish and undo delete them first")
        return out

    @property
    def state(self) -> str:
        """"before", "after" or "partial" (or "unknown" for a PIN change)."""
        if self.torn:
            return "partial"
        known = [s.done for s in self.steps if s.done is not None]
        if not known:
            return "unknown" if self.steps else "before"
        if all(known):
            return "after"
        return "before" if not any(known) else "partial"


def _matches(o: ObjectInfo, s: Step, label: str, key_id: str | None) -> bool:
    if o.cls.value != s.get("cls") or o.label != label:
        return False
    if key_id is not None and o.id.hex() != key_id:
        return False
    if s.get("app") is not None and o.application != s["app"]:
        return False
    return not s.get("sha256") or (o.value is not None and hashlib.sha256(o.value).hexdigest() == s["sha256"])


def _find(listing: Listing, s: Step, *, new: bool = False) -> list[ObjectInfo]:
    label, key_id = s.get("label", ""), s.get("id")
    if new:
        label = s.get("new", {}).get("label", label)
        key_id = s.get("new", {}).get("id", key_id)
    return [o for o in listing.objects if _matches(o, s, label, key_id)]


def _half_set(listing: Listing, s: Step, *, toward_new: bool) -> list[ObjectInfo]:
    """Objects of a "set" step not yet at the target: CKA_ID and CKA_LABEL are two writes, so a
    kill between them leaves one changed and the other not."""
    labels = {s.get("label", ""), s.get("new", {}).get("label", s.get("label", ""))}
    ids = {s.get("id"), s.get("new", {}).get("id", s.get("id"))}
    target = _find(listing, s, new=toward_new)
    return [o for o in listing.objects if o not in target
            and any(_matches(o, s, lab, i) for lab in labels for i in ids)]


def _done(listing: Listing, s: Step) -> bool | None:
    do = s.get("do")
    if do == "create":
        return bool(_find(listing, s))
    if do == "destroy":
        return not _find(listing, s)
    if do == "set":
        return bool(_find(listing, s, new=True)) and not _half_set(listing, s, toward_new=True)
    return None


def _torn(listing: Listing, entry: dict[str, Any]) -> list[ObjectInfo]:
    """Hollow objects (journal.is_hollow) beyond those the operation saw before its first write."""
    before = entry.get("hollow_before")
    now = [o for o in listing.objects if is_hollow(o)]
    return now if isinstance(before, int) and len(now) > before else []


def journal_state(backend: Backend, slot_id: int, entry: dict[str, Any]) -> JournalState:
    listing = backend.list_objects(slot_id)
    steps = tuple(StepState(s, _done(listing, s)) for s in entry.get("steps", []) if isinstance(s, dict))
    return JournalState(command_of(entry), str(entry.get("started", "?")), steps, len(_torn(listing, entry)))


def _clear_torn(backend: Backend, slot_id: int, entry: dict[str, Any]) -> None:
    """Delete what the killed write left half-made: only when the token had no unreadable object
    before it (then every one now is this run's); else say which tool can tell them apart."""
    torn = _torn(backend.list_objects(slot_id), entry)
    if not torn:
        return
    if entry.get("hollow_before"):
        raise RefusedError(f"The killed write left {len(torn)} half-made object(s), and the token held such "
                           "objects before it: they cannot be told apart; nothing was changed.",
                           "Inspect them with `pkcs11-tool -O` and delete the half-made one by hand, then run "
                           "this again.", operation="Repairing from the journal")
    stuck = []
    for o in torn:
        try:
            objects.destroy(backend, slot_id, o.handle)
        except Exception as exc:  # noqa: BLE001 - SoftHSM cannot destroy an object it cannot read
            stuck.append(from_exception(exc))
    if stuck and not _remove_new_file(backend, slot_id, entry, len(stuck)):
        raise RefusedError(f"The killed write left {len(stuck)} half-made object(s) the module will neither "
                           f"describe nor delete ({stuck[0].ckr_name or stuck[0].cause}); nothing else was changed.",
                           "Delete it with the module's own tool (SoftHSM: with no program using the token, "
                           "the newest *.object file in its token directory), then run this again.",
                           operation="Repairing from the journal")


def _remove_new_file(backend: Backend, slot_id: int, entry: dict[str, Any], stuck: int) -> bool:
    """SoftHSM file store: the one object file that appeared since the journal began, when no
    object the operation creates is there yet, is the half-made one."""
    before = entry.get("files_before")
    if not isinstance(before, list) or stuck != 1:
        return False
    info = backend.token_info(slot_id)
    now = softhsm.object_files(backend.module_path, info.serial) or []
    new = sorted(set(now) - set(before))
    listing = backend.list_objects(slot_id)
    made = [s for s in entry.get("steps", []) if isinstance(s, dict) and s.get("do") == "create" and _find(listing, s)]
    if len(new) != 1 or made:
        return False
    return softhsm.remove_object_file(backend.module_path, info.serial, new[0])


def _create(backend: Backend, slot_id: int, s: Step) -> None:
    value = bytes.fromhex(s["value"])
    if s["cls"] == ObjClass.CERTIFICATE.value:
        objects.write_certificate(backend, slot_id, value, s["label"], bytes.fromhex(s.get("id") or ""),
                                  int(s.get("category") or CATEGORY_TOKEN_USER))
    else:
        objects.create_data_object(backend, slot_id, str(s.get("app") or ""), s["label"], value, private=False)


def _set(backend: Backend, slot_id: int, o: ObjectInfo, label: str | None, key_id: str | None) -> None:
    objects.set_attributes(backend.pkcs11_object(slot_id, o.handle), label=label,
                           key_id=bytes.fromhex(key_id) if key_id is not None else None)


def _refuse(state: JournalState, why: str, other: str) -> RefusedError:
    return RefusedError(f"Cannot {why}; nothing was changed. The journal stays.",
                        f"Run `ikm-tui journal {other}` instead (it reaches the other whole state).",
                        operation="Repairing from the journal")


def finish(backend: Backend, slot_id: int, entry: dict[str, Any]) -> JournalState:
    """Do the steps not done yet; returns the state read back afterwards."""
    _clear_torn(backend, slot_id, entry)
    state = journal_state(backend, slot_id, entry)
    todo = [st.step for st in state.steps if st.done is False]
    for s in todo:
        if s["do"] == "create" and not s.get("value"):
            raise _refuse(state, f"finish: the {_KIND.get(s['cls'], s['cls'])} {s['label']!r} was never made "
                          "and cannot be made from the journal", "undo")
    listing = backend.list_objects(slot_id)
    try:
        for s in todo:
            if s["do"] == "create":
                _create(backend, slot_id, s)
            elif s["do"] == "destroy":
                for o in _find(listing, s):
                    objects.destroy(backend, slot_id, o.handle)
            elif s["do"] == "set":
                for o in _half_set(listing, s, toward_new=True):
                    _set(backend, slot_id, o, s["new"].get("label"), s["new"].get("id"))
    except Exception as exc:  # noqa: BLE001 - what the module said, the journal stays
        raise from_exception(exc, "Finishing from the journal") from None
    return journal_state(backend, slot_id, entry)


def undo(backend: Backend, slot_id: int, entry: dict[str, Any]) -> JournalState:
    """Reverse the done steps, last first; returns the state read back afterwards."""
    _clear_torn(backend, slot_id, entry)
    state = journal_state(backend, slot_id, entry)
    listing = backend.list_objects(slot_id)
    done = [st.step for st in state.steps
            if st.done is True or (st.step.get("do") == "set" and _half_set(listing, st.step, toward_new=False))]
    for s in done:
        if s["do"] == "destroy" and not s.get("value"):
            raise _refuse(state, f"undo: the {_KIND.get(s['cls'], s['cls'])} {s['label']!r} is already deleted "
                          "and a key cannot be brought back", "finish")
    try:
        for s in reversed(done):
            if s["do"] == "create":
                for o in _find(listing, s):
                    objects.destroy(backend, slot_id, o.handle)
            elif s["do"] == "destroy":
                _create(backend, slot_id, s)
            elif s["do"] == "set":
                for o in _find(listing, s, new=True) + _half_set(listing, s, toward_new=False):
                    _set(backend, slot_id, o, s.get("label") if "label" in s["new"] else None,
                         s.get("id") if "id" in s["new"] else None)
    except Exception as exc:  # noqa: BLE001
        raise from_exception(exc, "Undoing from the journal") from None
    return journal_state(backend, slot_id, entry)
