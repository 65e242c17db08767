"""Injected faults around the real backend: PIN counting, hangs, removal, C_Initialize."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pkcs11.exceptions as p11x
import pytest

from tests.support import faults
from ikm_tui.core.errors import IkmError
from ikm_tui.core.p11.keys import KeySpec, generate_keypair
from ikm_tui.core.p11.lockout import LoginError
from ikm_tui.core.p11.objects import write_raw_certificate
from ikm_tui.core.pin import Pin
from ikm_tui.core.p11.service import TokenService
from ikm_tui.core.p11.backend import Backend

WRONG = Pin("00000000")
# python-pkcs11 0.10.1 prints "Exception ignored in OperationContext.__del__" when a search
# starts on a dead session (its finaliser calls C_FindObjectsFinal again): upstream, harmless.
UPSTREAM_DEL = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def test_pin_counter_walks_to_lock_with_one_c_login_per_submission(token: Any) -> None:
    svc, slot = token.service, token.slot_id
    plan = faults.FaultPlan().pin_counter(tries=3)
    with faults.installed(svc, plan):
        with pytest.raises(LoginError) as info:
            svc.run(Backend.login, slot, WRONG)
        assert plan.login_attempts == 1
        assert info.value.c_login_called and info.value.pin_after is not None
        assert info.value.pin_after.user_count_low
        with pytest.raises(LoginError) as info:
            svc.run(Backend.login, slot, WRONG)
        assert plan.login_attempts == 2 and info.value.pin_after.user_final_try
        assert "FINAL TRY" in info.value.cause
        # FINAL_TRY: refused without confirmation, and the refusal costs no try.
        with pytest.raises(LoginError) as info:
            svc.run(Backend.login, slot, WRONG)
        assert plan.login_attempts == 2 and not info.value.c_login_called
        with pytest.raises(LoginError) as info:
            svc.run(Backend.login, slot, WRONG, allow_final_try=True)
        assert plan.login_attempts == 3 and info.value.pin_after.user_locked
        assert "SO PIN / PUK" in info.value.next_step
        # LOCKED: even the right PIN, even confirmed, never reaches C_Login.
        for _ in range(3):
            with pytest.raises(LoginError) as info:
                svc.run(Backend.login, slot, Pin(token.pin), allow_final_try=True)
            assert info.value.ckr_name == "CKR_PIN_LOCKED"
        assert plan.login_attempts == 3


def test_good_login_after_count_low_warns_and_resets(token: Any) -> None:
    plan = faults.FaultPlan().pin_counter(tries=3)
    with faults.installed(token.service, plan):
        with pytest.raises(IkmError):
            token.service.run(Backend.login, token.slot_id, WRONG)
        result = token.service.run(Backend.login, token.slot_id, Pin(token.pin))
        assert result.warning is not None and result.warning.ckr_name == "CKF_USER_PIN_COUNT_LOW"
        assert result.pin_before.user_count_low and not result.token.pin.user_count_low
        assert plan.login_attempts == 2


def test_flags_are_read_before_every_login(token: Any) -> None:
    plan = faults.FaultPlan()
    with faults.installed(token.service, plan):
        token.service.run(Backend.login, token.slot_id, Pin(token.pin))
        token.service.run(Backend.logout, token.slot_id)
        token.service.run(Backend.login, token.slot_id, Pin(token.pin))
    assert plan.calls["token_info"] >= 2 * plan.login_attempts


def test_keygen_hang_keeps_caller_loop_free_and_queues_calls(token: Any) -> None:
    token.login()
    plan = faults.FaultPlan().hang("session.generate_keypair", seconds=30)

    async def scenario() -> tuple[float, bool, float]:
        loop = asyncio.get_running_loop()
        keygen = asyncio.ensure_future(token.service.arun(
            generate_keypair, token.slot_id, KeySpec.parse("ec:p256"), "hung"))
        await loop.run_in_executor(None, plan.hanging.wait, 10)
        queued = asyncio.ensure_future(token.service.arun(Backend.list_objects, token.slot_id))
        started = loop.time()
        await asyncio.sleep(0.2)  # the event loop keeps running while the module hangs
        tick = loop.time() - started
        still_queued = not queued.done()
        plan.release.set()
        await keygen
        listing = await queued
        return tick, still_queued, len(listing.objects)

    t0 = time.monotonic()
    with faults.installed(token.service, plan):
        tick, still_queued, count = asyncio.run(scenario())
    assert tick < 1.0 and still_queued and count == 2
    assert time.monotonic() - t0 < 20, "the hang is interruptible"


@UPSTREAM_DEL
def test_removal_mid_listing_never_gives_a_partial_listing(token: Any) -> None:
    for i in range(4):
        token.service.run(write_raw_certificate, token.slot_id, b"\x30\x00", f"c{i}", bytes([i]))
    before = token.service.run(Backend.list_objects, token.slot_id)
    plan = faults.FaultPlan().remove_token_during_listing(after=2)
    with faults.installed(token.service, plan) as faulty:
        with pytest.raises(IkmError) as info:
            token.service.run(Backend.list_objects, token.slot_id)
        assert info.value.ckr_name == "CKR_DEVICE_REMOVED"
        assert plan.calls["_describe"] == 3  # two objects read, the third failed
        with pytest.raises(IkmError):
            token.service.run(Backend.list_objects, token.slot_id)
        token.service.run(lambda b: b.simulate_reinsertion())
        after = token.service.run(Backend.list_objects, token.slot_id)
        assert faulty.plan.token_present
    assert len(after.objects) == len(before.objects) == 4


@UPSTREAM_DEL
def test_reinsertion_keeps_pin_count_and_asks_before_login(token: Any) -> None:
    token.login()
    plan = faults.FaultPlan().pin_counter(tries=3)
    with faults.installed(token.service, plan):
        token.service.run(lambda b: b.simulate_reinsertion())
        with pytest.raises(IkmError) as info:
            token.service.run(Backend.list_objects, token.slot_id)
        assert info.value.ckr_name == "CKR_SESSION_HANDLE_INVALID"
        assert plan.login_attempts == 0 and plan.counter is not None and plan.counter.left == 3
        assert not token.service.run(Backend.is_logged_in, token.slot_id)
        token.service.run(Backend.login, token.slot_id, Pin(token.pin))  # the operator said yes
        assert plan.login_attempts == 1


def test_initialize_failure_leaves_a_working_service(module_path: str) -> None:
    plan = faults.FaultPlan().fail_initialize(p11x.GeneralError)
    svc = TokenService(module_path, backend_factory=faults.faulty_factory(plan))
    with pytest.raises(IkmError) as info:
        svc.wait_ready(5)
    assert info.value.operation == "Loading the module"
    assert svc.load_error is not None
    with pytest.raises(IkmError):  # every later call tells the same story, nothing crashes
        svc.submit(Backend.slots).result(timeout=5)
    svc.close()


def test_fail_on_nth_call_only(token: Any) -> None:
    plan = faults.FaultPlan().fail("slots", p11x.GeneralError, on_call=2)
    with faults.installed(token.service, plan):
        token.service.run(Backend.slots)
        with pytest.raises(IkmError):
            token.service.run(Backend.slots)
        token.service.run(Backend.slots)


def test_uninstall_restores_the_real_backend(token: Any, tmp_path: Path) -> None:
    plan = faults.FaultPlan().fail("list_objects", p11x.GeneralError)
    with faults.installed(token.service, plan):
        with pytest.raises(IkmError):
            token.service.run(Backend.list_objects, token.slot_id)
    assert token.service.run(lambda b: type(b).__name__) == "Backend"
    token.service.run(Backend.list_objects, token.slot_id)
    assert threading.active_count() >= 1


def test_calls_by_function_reference_meet_the_wrapper(token: Any) -> None:
    """`svc.run(Backend.list_objects, ...)` names Backend's function, yet the fault on
    `list_objects` fires: the service routes it through the wrapper, which is a TokenBackend."""
    from ikm_tui.core.p11.protocol import TokenBackend

    svc, slot = token.service, token.slot_id
    plan = faults.FaultPlan().fail("list_objects", p11x.DeviceError, on_call=1)
    with faults.installed(svc, plan) as faulty:
        assert isinstance(faulty, TokenBackend)
        with pytest.raises(IkmError) as info:
            svc.run(Backend.list_objects, slot)
        assert info.value.ckr_name == "CKR_DEVICE_ERROR"
        assert plan.calls["list_objects"] == 1
        svc.run(Backend.list_objects, slot)  # the rule fired once; the real call goes through
        assert plan.calls["list_objects"] == 2
