"""Opt-in PIN memory: only real OS keyrings, read-back, a rejected PIN deleted and never retried."""

from __future__ import annotations

from typing import Any

import pkcs11.exceptions as p11x
import pytest
from keyring.backends import SecretService, chainer, fail, null

from tests.support import faults

from ikm_tui.core.ops import pinstore
from ikm_tui.core.errors import IkmError
from ikm_tui.core.pin import Pin
from ikm_tui.core.ops.pinstore import NO_KEYRING_NOTICE, PinStore
from ikm_tui.core.p11.backend import Backend


class MemoryKeyring(SecretService.Keyring):
    """Claims to be Secret Service (so PinStore accepts it) but keeps secrets in a dict."""

    def __init__(self, keep: bool = True) -> None:
        self.store: dict[tuple[str, str], str] = {}
        self.keep = keep

    def set_password(self, service: str, username: str, password: str) -> None:
        if self.keep:
            self.store[(service, username)] = password

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


class FakeAltPlaintext:
    """Stands in for keyrings.alt.file.PlaintextKeyring (not installed here)."""


FakeAltPlaintext.__module__ = "keyrings.alt.file"


def test_fail_backend_gives_one_clear_notice() -> None:
    pinstore._notices_given.clear()  # noqa: SLF001 - per-process memory, reset for the test
    store = PinStore(fail.Keyring())
    assert not store.available and store.notice == NO_KEYRING_NOTICE
    assert "D-Bus" in store.notice
    assert store.take_notice() == NO_KEYRING_NOTICE
    assert PinStore(fail.Keyring()).take_notice() is None, "once per process"
    assert store.recall("serial") is None  # prompting goes on as before
    with pytest.raises(IkmError):
        store.remember("serial", Pin("1234"))


@pytest.mark.parametrize("backend,why", [
    (null.Keyring(), "discards"),
    (FakeAltPlaintext(), "keyrings.alt"),
])
def test_plaintext_and_null_are_refused(backend: Any, why: str) -> None:
    store = PinStore(backend)
    assert not store.available and store.notice and why in store.notice


def test_chainer_without_a_real_backend_is_refused() -> None:
    chain = chainer.ChainerBackend()
    assert pinstore.refusal_reason(chain) is not None or any(
        pinstore.refusal_reason(b) is None for b in chain.backends)
    if not any(pinstore.refusal_reason(b) is None for b in chain.backends):
        assert not PinStore(chain).available


def test_bad_keyring_setting_is_a_notice_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "no.such.module.Keyring")
    import keyring.core

    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    store = PinStore()
    assert not store.available and store.notice


def test_remember_reads_back() -> None:
    kr = MemoryKeyring()
    store = PinStore(kr)
    assert store.available
    store.remember("SER1", Pin("2468"))
    assert store.recall("SER1") == Pin("2468")
    store.forget("SER1")
    assert store.recall("SER1") is None


def test_a_keyring_that_drops_writes_is_detected() -> None:
    store = PinStore(MemoryKeyring(keep=False))
    with pytest.raises(IkmError) as info:
        store.remember("SER1", Pin("2468"))
    assert "read back" in info.value.cause and "2468" not in str(info.value)


def test_rejected_cached_pin_is_deleted_and_never_retried(token: Any) -> None:
    serial = token.service.run(Backend.token_info, token.slot_id).serial
    store = PinStore(MemoryKeyring())
    store.remember(serial, Pin("00000000"))  # a stale PIN
    plan = faults.FaultPlan()
    with faults.installed(token.service, plan):
        with pytest.raises(IkmError) as info:
            store.login_with_remembered(
                lambda pin: token.service.run(Backend.login, token.slot_id, pin), serial)
        assert info.value.ckr_name == "CKR_PIN_INCORRECT"
        assert plan.login_attempts == 1, "one C_Login, no retry"
        assert store.recall(serial) is None, "the rejected PIN is gone"
        assert store.login_with_remembered(lambda pin: pytest.fail("no retry"), serial) is None


def test_session_loss_keeps_the_cached_pin(token: Any) -> None:
    serial = token.service.run(Backend.token_info, token.slot_id).serial
    store = PinStore(MemoryKeyring())
    store.remember(serial, Pin(token.pin))
    plan = faults.FaultPlan().fail("login", p11x.SessionHandleInvalid, on_call=1)
    with faults.installed(token.service, plan):
        with pytest.raises(IkmError) as info:
            store.login_with_remembered(
                lambda pin: token.service.run(Backend.login, token.slot_id, pin), serial)
        assert info.value.ckr_name == "CKR_SESSION_HANDLE_INVALID"
        assert store.recall(serial) == Pin(token.pin), "not a wrong PIN: kept"
        result = store.login_with_remembered(
            lambda pin: token.service.run(Backend.login, token.slot_id, pin), serial)
        assert result.token.serial == serial
