"""core/text/use_elsewhere.py without a token: file names, modes, quoting, refusals (the tools run in tests/interop)."""

from __future__ import annotations

import shlex

import pytest

from ikm_tui.core.errors import RefusedError
from ikm_tui.core.seen_by import EngineView, JavaView, NssView
from ikm_tui.core.text.use_elsewhere import SCRIPT_MODE, TARGETS, KeyUse, bundle


def use(label: str = "web01", token: str = "tok", module: str = "/usr/lib/softhsm/libsofthsm2.so",
        finds: bool = True) -> KeyUse:
    uri = f"pkcs11:token={token};object={label};type=private"
    return KeyUse(module=module, token_label=token, token_serial="abc", slot_id=7, key_label=label,
                  key_id=b"\x01\x02", key_type="ec", cert_label=label,
                  java=JavaView("PrivateKeyEntry", label, "same CKA_ID"),
                  nss=NssView(f"{token}:{label}", "u,u,u", "same CKA_ID"),
                  engine=EngineView(finds, uri if finds else None, "unique label" if finds else "Ed25519 on token"))


def test_targets_write_distinct_files_so_one_directory_holds_all() -> None:
    names = [a.name for t in TARGETS for a in bundle(t, use()).files]
    assert len(names) == len(set(names))
    for t in TARGETS:
        b = bundle(t, use())
        assert b.proof in [a.name for a in b.files]
        for a in b.files:
            assert (a.mode == SCRIPT_MODE) == a.name.endswith(".sh")
            if a.name.endswith(".sh"):
                assert a.text.startswith("#!/bin/sh\n") and a.text.rstrip().endswith('"$@"')


def test_a_label_with_quote_and_space_reaches_openssl_as_one_word() -> None:
    u = use(label="it's web")
    script = next(a.text for a in bundle("openssl", u).files if a.name == "openssl-engine-check.sh")
    words = shlex.split(script.strip().splitlines()[-1])
    assert words[words.index("-key") + 1] == u.key_uri


def test_engine_uri_falls_back_to_label_and_id() -> None:
    u = use(finds=False)
    assert u.key_uri == "pkcs11:token=tok;object=web01;id=%01%02;type=private"
    assert any("engine will not find" in w for w in bundle("openssl", u).warnings)


def test_tpm2_engine_config_warns_that_the_engine_cannot_log_in() -> None:
    """Measured in tests/token/test_conformance_ops.py: libp11's engine loaded breaks tpm2-pkcs11's login."""
    warned = bundle("openssl", use(module="/usr/lib/x86_64-linux-gnu/libtpm2_pkcs11.so.1")).warnings
    assert any("cannot log in" in w and "tpm2-tss issue 3151" in w and "pkcs11-provider" in w for w in warned)
    assert not any("cannot log in" in w for w in bundle("openssl", use()).warnings)


def test_the_pin_is_a_placeholder_in_mq_and_absent_elsewhere() -> None:
    for t in TARGETS:
        text = "".join(a.text for a in bundle(t, use()).files)
        assert ("<PIN>" in text) == (t == "mq")


@pytest.mark.parametrize(("target", "kwargs"), [
    ("mq", {"token": "a;b"}),  # would end the GSK_PKCS11 token field early
    ("mq", {"label": "x'y"}),  # would end an MQSC string
    ("java", {"module": "/opt/m\nlibrary = /evil.so"}),  # a second config line
    ("openssl", {"module": "/opt/$HOME/p11.so"}),  # OpenSSL would expand it
])
def test_values_that_would_break_the_config_are_refused(target: str, kwargs: dict[str, str]) -> None:
    with pytest.raises(RefusedError):
        bundle(target, use(**kwargs))
