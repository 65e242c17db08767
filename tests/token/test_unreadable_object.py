"""One object the module will not describe (CKR_ATTRIBUTE_VALUE_INVALID) is listed as unreadable and
the rest of the token still lists: Backend, `list`, `list --json` and `cert doctor` (issue #19 item 4)."""

from __future__ import annotations

import json
from typing import Any

import pkcs11.exceptions as p11x
import pytest

from ikm_tui.cli.main import main
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.p11.objects import write_raw_certificate
from tests.support import faults


def _seed(tok: Any, n: int = 4) -> None:
    for i in range(n):
        tok.service.run(write_raw_certificate, tok.slot_id, b"\x30\x00", f"c{i}", bytes([i]))


def _plan() -> faults.FaultPlan:
    # The second object's attribute read fails; a wrapped session takes the python-pkcs11 path.
    return faults.FaultPlan().fail("_describe", p11x.AttributeValueInvalid, on_call=2)


def test_listing_marks_one_bad_object_and_lists_the_rest(token: Any) -> None:
    _seed(token)
    with faults.installed(token.service, _plan()):
        listing = token.service.run(Backend.list_objects, token.slot_id)
    bad = [o for o in listing.objects if "unreadable" in o.flags]
    assert len(listing.objects) == 4 and len(bad) == 1
    assert bad[0].flags == ("unreadable", "CKR_ATTRIBUTE_VALUE_INVALID") and bad[0].label == ""
    assert len({o.label for o in listing.objects if o not in bad} & {"c0", "c1", "c2", "c3"}) == 3


def test_device_removed_still_fails_the_whole_listing(token: Any) -> None:
    _seed(token, 2)
    from ikm_tui.core.errors import IkmError

    with faults.installed(token.service, faults.FaultPlan().fail("_describe", p11x.DeviceRemoved, on_call=2)):
        with pytest.raises(IkmError):
            token.service.run(Backend.list_objects, token.slot_id)


@pytest.mark.parametrize("argv", [["list"], ["list", "--json"], ["cert", "doctor"]])
def test_cli_survives_one_bad_object(token: Any, argv: list[str], capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IKM_PIN", token.pin)  # logged in, as in the report
    _seed(token)
    with faults.installed(token.service, _plan()):
        rc = main(["--module", token.module, "--token", token.label, *argv])
    out = capsys.readouterr()
    assert rc in (0, 1) and "Traceback" not in out.err, out.err
    if argv == ["list"]:
        assert rc == 0 and "UNREADABLE (CKR_ATTRIBUTE_VALUE_INVALID)" in out.out
        assert sum(f"'c{i}'" in out.out for i in range(4)) == 3
    elif argv == ["list", "--json"]:
        objs = json.loads(out.out)["objects"]
        assert rc == 0 and len(objs) == 4 and sum("unreadable" in o.get("flags", []) for o in objs) == 1
    else:  # the doctor still reports on the readable certificates
        assert rc == 0 and "CKR_ATTRIBUTE_VALUE_INVALID" not in out.err
        assert out.out.count("certificate without a key on this token") == 3, out.out
