"""Issue #19: the journal of a multi-object write cut short names the half-done state, and
`ikm-tui journal finish|undo` reaches the state after or before it (deterministic half of
must-show 1; tests/token/test_crash_consistency.py sends the real signals).

The cut is a fault on the Nth object handle the operation asks for (tests/support/faults.py,
around the real SoftHSM backend), with the journal active as the CLI makes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pkcs11.exceptions as p11x
import pytest

from ikm_tui.cli.main import main
from ikm_tui.core import journal
from ikm_tui.core.errors import IkmError
from ikm_tui.core.ops import delete as delete_ops
from ikm_tui.core.ops import rename as rename_ops
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.tokenlock import token_key
from tests.support import faults


def _run(tok: Any, *words: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("IKM_PIN", tok.pin)
    try:
        return main(["--module", tok.module, "--token", tok.label, *words])
    except SystemExit as exc:
        return int(exc.code or 0)


def _labels(tok: Any) -> list[tuple[str, str]]:
    return sorted((o.cls.value, o.label) for o in tok.service.run(Backend.list_objects, tok.slot_id).objects)


@pytest.fixture
def web(token: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    assert _run(token, "cert", "create", "--label", "web", "--key-type", "ec:p256", "--subject", "CN=web",
                monkeypatch=monkeypatch) == 0
    token.login()
    yield token


def _cut(tok: Any, op: Any, *args: Any, on_call: int) -> None:
    """Run op with the journal active and the on_call-th object handle failing: a half-done write."""
    info = tok.service.run(Backend.token_info, tok.slot_id)
    note = journal.journal_path(token_key(tok.service.module_path, info.serial, info.label))
    journal.begin(note, ["test", op.__name__], info.label)
    journal.activate(note)
    plan = faults.FaultPlan().fail("pkcs11_object", p11x.DeviceRemoved, on_call=on_call)
    try:
        with faults.installed(tok.service, plan), pytest.raises(IkmError):
            tok.service.run(op, tok.slot_id, *args)
    finally:
        journal.activate(None)


BEFORE = [("certificate", "web"), ("private_key", "web"), ("public_key", "web")]
AFTER = [("certificate", "site"), ("private_key", "site"), ("public_key", "site")]


@pytest.mark.parametrize("way", ["finish", "undo"])
def test_a_half_renamed_pair_is_named_and_finished_or_undone(web: Any, way: str, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    plan = web.service.run(rename_ops.plan_rename, web.slot_id, "web", "site")
    _cut(web, rename_ops.apply_rename, plan, on_call=2)
    half = _labels(web)
    assert half not in (BEFORE, AFTER), half
    capsys.readouterr()
    assert _run(web, "journal", "show", "--json", monkeypatch=monkeypatch) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "ikm-tui/journal-show/v1" and doc["state"] == "partial"
    assert any(": done" in s for s in doc["steps"]) and any(": not done" in s for s in doc["steps"]), doc
    # While it stands, another write to the token is refused (3) and changes nothing.
    assert _run(web, "cert", "rename", "site", "other", monkeypatch=monkeypatch) == 3
    assert "journal show" in capsys.readouterr().err
    assert _labels(web) == half
    assert _run(web, "journal", way, monkeypatch=monkeypatch) == 0
    assert _labels(web) == (AFTER if way == "finish" else BEFORE)
    assert _run(web, "journal", way, monkeypatch=monkeypatch) == 4  # gone with the half-done state


def test_a_half_deleted_pair_cannot_be_undone_but_finished(web: Any, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    plan = web.service.run(delete_ops.plan_delete_key, web.slot_id, "web")
    assert [o.cls.value for o in plan.objects] == ["private_key", "public_key"]
    _cut(web, delete_ops.apply_delete, plan, on_call=2)
    assert _labels(web) == [("certificate", "web"), ("public_key", "web")]
    capsys.readouterr()
    # A destroyed private key cannot come back: undo says so (3) and writes nothing.
    assert _run(web, "journal", "undo", monkeypatch=monkeypatch) == 3
    err = capsys.readouterr().err
    assert "cannot be brought back" in err and "journal finish" in err
    assert _labels(web) == [("certificate", "web"), ("public_key", "web")]
    assert _run(web, "journal", "finish", monkeypatch=monkeypatch) == 0
    assert _labels(web) == [("certificate", "web")]


def test_two_tokens_written_at_once_each_record_into_their_own_journal(
        service: Any, module_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two TUI writes (ui/writes.GUARD) on two tokens of one module at the same time: each
    operation's intent lands in its own token's note. The first operation to reach the owner
    thread hangs on its first call until the other write has begun its note too, so a note slot
    shared by the process (the last one begun) would take the wrong token's intent."""
    import asyncio
    import threading

    from ikm_tui.ui.writes import GUARD
    from tests.conftest import delete_token, new_token

    toks = {name: new_token(service, module_path) for name in ("alpha", "beta")}
    try:
        notes = {}
        for name, tok in toks.items():
            assert _run(tok, "cert", "create", "--label", name, "--key-type", "ec:p256", "--subject",
                        f"CN={name}", monkeypatch=monkeypatch) == 0
            tok.login()
            notes[name] = journal.journal_path(token_key(module_path, tok.service.run(
                Backend.token_info, tok.slot_id).serial, tok.label))
        plans = {name: service.run(rename_ops.plan_rename, tok.slot_id, name, name + "2")
                 for name, tok in toks.items()}
        seen: dict[str, Any] = {}

        def rename_and_read(backend: Any, slot_id: int, plan: Any, name: str) -> Any:
            out = rename_ops.apply_rename(backend, slot_id, plan)
            seen[name] = journal.read(notes[name])  # before the guard ends the note
            return out

        plan = faults.FaultPlan().hang("list_objects", 20.0, on_call=1)

        def release_when_both_begun() -> None:
            for _ in range(400):
                if plan.hanging.is_set() and all(n.exists() for n in notes.values()):
                    break
                threading.Event().wait(0.05)
            plan.release.set()

        async def both() -> None:
            await asyncio.gather(*(GUARD.arun(service, toks[n].slot_id, "cert rename", rename_and_read, plans[n], n)
                                   for n in toks))

        with faults.installed(service, plan):
            releaser = threading.Thread(target=release_when_both_begun)
            releaser.start()
            asyncio.run(both())
            releaser.join()
        assert plan.calls["list_objects"] >= 2
        for name, entry in seen.items():
            assert entry is not None and entry.get("op") == "rename", (name, entry)
            steps = entry["steps"]
            assert len(steps) == 3 and {s["label"] for s in steps} == {name}, (name, steps)
            assert {s["new"]["label"] for s in steps} == {name + "2"}, (name, steps)
        assert set(seen) == {"alpha", "beta"}
        for name, tok in toks.items():
            assert {label for _, label in _labels(tok)} == {name + "2"}
            assert not notes[name].exists()
    finally:
        for tok in toks.values():
            delete_token(tok)


def test_a_taken_label_is_refused_before_the_intent_is_written(web: Any) -> None:
    """A create whose label another key has is refused before the journal names it: an intent
    that named `web` would let `journal undo` after a kill take the existing key for this run's."""
    from ikm_tui.core.ops.requests import intend_keygen, cert_create_steps

    info = web.service.run(Backend.token_info, web.slot_id)
    note = journal.journal_path(token_key(web.service.module_path, info.serial, info.label))
    journal.begin(note, ["test", "cert", "create"], info.label)
    journal.activate(note)
    try:
        with pytest.raises(IkmError, match="labelled 'web' already exists"):
            web.service.run(intend_keygen, web.slot_id, "cert create", cert_create_steps("web", None, None, 0))
    finally:
        journal.activate(None)
    entry = journal.read(note)
    assert entry is not None and not journal.has_steps(entry)
    journal.end(note)
    assert ("private_key", "web") in _labels(web) and ("certificate", "web") in _labels(web)
