"""A remote token on a 20 ms link: first rows within 1 s, 100 certificates within (objects + 15) x RTT + 1 s.

`tests/support/delay_relay.py` holds every RPC request 20 ms in front of `p11-kit remote`, so each
PKCS#11 call costs one round trip, as ssh to a host that far away would. The listing's budget is one
attribute read per object plus a constant handful of calls (load, slots, session, searches). The relay
also counts the round trips: opening the token and listing it costs at most objects + 15 of them, and
the mechanism list (one round trip per mechanism) is read once per token.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.p11.modules import remote_candidates
from ikm_tui.core.p11.remote import client_module, request
from ikm_tui.core.p11.service import get_service
from tests.support.remote import delayed_remote, far_token_with_certs, round_trips

RTT = 0.020
N = 100

pytestmark = pytest.mark.skipif(client_module() is None, reason="p11-kit-client.so missing (bootstrap)")



def test_hundred_certificates_over_a_20ms_link(tmp_path: Path, module_path: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    home = far_token_with_certs(tmp_path / "far", module_path, "hundred", N)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    count = tmp_path / "round-trips"
    request([delayed_remote(home, module_path, RTT, count)])
    try:
        cand = remote_candidates()[0]
        started = time.monotonic()
        svc: Any = get_service(cand.path)
        svc.wait_ready()
        slot = svc.run(Backend.find_slot, "hundred")
        token_shown = time.monotonic() - started
        loaded = len(round_trips(count))
        previews: list[tuple[float, int]] = []
        listing = svc.run(Backend.list_objects, slot,
                          progress=lambda part: previews.append((time.monotonic() - started, len(part.objects))))
        listed = time.monotonic() - started
        opened = round_trips(count)[loaded:]
        mechanisms = svc.run(Backend.mechanisms, slot)
        first_read = len(round_trips(count))
        assert svc.run(Backend.mechanisms, slot) == mechanisms  # kept: no round trip
        again = len(round_trips(count)) - first_read
    finally:
        request([])
    certs = [o for o in listing.objects if o.cert is not None and o.cert.not_after is not None]
    budget = (N + 15) * RTT + 1.0
    print(f"20 ms link: token in the tree after {token_shown:.2f} s, first {previews[0][1]} rows after "
          f"{previews[0][0]:.2f} s, {len(certs)} certificates listed after {listed:.2f} s (budget {budget:.2f} s)")
    assert len(certs) == N
    assert token_shown < 1.0
    # Previews a few times a second, growing; the first within a second of loading the module.
    assert previews[0][0] < 1.0 and previews[0][1] > 0
    assert [n for _, n in previews] == sorted(n for _, n in previews) and len(previews) >= 3
    assert listed < budget
    print(f"round trips: {loaded} to load the module and find the token, {len(opened)} to open and list it")
    assert len(opened) <= N + 15 and "C_GetMechanismInfo" not in opened
    assert len(mechanisms) > 10 and again == 0
