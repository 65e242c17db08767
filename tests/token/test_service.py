"""The owner thread: every backend call runs on one thread; errors come back as IkmError."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from ikm_tui.core.errors import IkmError
from ikm_tui.core.pin import Pin
from ikm_tui.core.p11.service import TokenService
from ikm_tui.core.p11.backend import Backend


def test_all_calls_run_on_the_owner_thread(token: Any) -> None:
    seen: set[str] = set()

    def probe(backend: Any) -> None:
        seen.add(threading.current_thread().name)

    svc = token.service
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(20):
                svc.run(probe)
                svc.run(Backend.list_objects, token.slot_id)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert seen == {svc.owner_thread.name}


async def test_async_facade(token: Any) -> None:
    listing = await token.service.arun(Backend.list_objects, token.slot_id)
    assert listing.token.label == token.label


def test_wrong_pin_is_named_and_leaves_no_session(token: Any) -> None:
    with pytest.raises(IkmError) as info:
        token.service.run(Backend.login, token.slot_id, Pin("00000000"))
    assert info.value.ckr_name == "CKR_PIN_INCORRECT"
    assert "00000000" not in str(info.value)
    assert info.value.__traceback__ is None or "00000000" not in repr(info.value)
    # No leaked session: a correct login works straight after.
    token.login()
    assert token.service.run(Backend.is_logged_in, token.slot_id)


def test_missing_module_is_explained() -> None:
    svc = TokenService("/nonexistent/libnothing.so")
    with pytest.raises(IkmError) as info:
        svc.wait_ready(5)
    assert "does not exist" in str(info.value)
    svc.close()


def test_pin_never_prints() -> None:
    pin = Pin("s3cret-pin")
    assert "s3cret" not in repr(pin) and "s3cret" not in str(pin) and "s3cret" not in f"{pin}"
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(pin)


def test_asyncio_loop_not_blocked(token: Any) -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        gaps: list[float] = []
        stop = False

        async def ticker() -> None:
            last = loop.time()
            while not stop:
                await asyncio.sleep(0.001)
                now = loop.time()
                gaps.append(now - last)
                last = now

        t = asyncio.create_task(ticker())
        from ikm_tui.core.p11.keys import KeySpec, generate_keypair

        token.login()
        await token.service.arun(generate_keypair, token.slot_id, KeySpec.parse("rsa:2048"), "k")
        stop = True
        await t
        return max(gaps)

    assert asyncio.run(main()) < 0.5
