"""The CA's "Issue certificate…" flow in the TUI on a real SoftHSM token (issue 17, must-show 3):
pick a pending request, preview, sign on the token, `openssl verify -x509_strict` accepts the file,
then "Receive it here" stores it next to its key. The action shows only for a CA with its key."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from textual.pilot import Pilot
from textual.widgets import Button, Input, OptionList, TabbedContent

from ikm_tui.core.model import ObjClass
from ikm_tui.core.ops import requests as reqs
from ikm_tui.core.ops.ca import create_ca
from ikm_tui.core.ops.ca_log import read as read_log
from ikm_tui.ui.app import make_app
from ikm_tui.ui.screens.issue_preview import IssuePreviewScreen
from ikm_tui.ui.screens.issue_result import IssueResultScreen
from ikm_tui.ui.screens.issue_source import IssueSourceScreen
from ikm_tui.ui.screens.receive_preview import ReceivePreviewScreen
from ikm_tui.ui.widgets.object_table import ObjectTable
from tests.support.ui_helpers import SIZE, settle, wait_for, wait_for_screen

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def ca_and_request(tok: Any, tmp_path: Path) -> Path:
    """A CA `flow-ca` and a pending request `web-flow` on the token; the CA certificate's PEM file."""
    tok.login()
    ca = tok.service.run(create_ca, tok.slot_id, "ec:p256", "flow-ca", "CN=Flow CA,O=ikm", 3650, 0)
    tok.service.run(reqs.create_request, tok.slot_id, "ec:p256", "web-flow", "CN=web-flow.example,O=ikm",
                    ["DNS:web-flow.example"])
    path = tmp_path / "flow-ca.pem"
    path.write_text(ca.pem)
    return path


async def select_cert(pilot: Pilot[Any], label: str) -> None:
    main = pilot.app.main_screen  # type: ignore[attr-defined]
    main.query_one("#tabs", TabbedContent).active = "tab-certs"
    await pilot.pause()
    listing = main.listing
    cert = next(o for o in listing.objects if o.cls is ObjClass.CERTIFICATE and o.label == label)
    main.query_one("#certs", ObjectTable).select_handle(cert.handle)
    await pilot.pause()


async def test_issue_from_a_pending_request_end_to_end(token: Any, tmp_path: Path) -> None:
    ca_pem = ca_and_request(token, tmp_path)
    out = tmp_path / "web-flow.pem"
    # The real clock: the certificate is signed for now (the fixed test clock is months back).
    app = make_app(module=token.module, token=token.label, modules=[token.module], ascii_only=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        main = app.main_screen
        await select_cert(pilot, "flow-ca")
        assert main.check_action("issue_certificate", ()) is True
        await pilot.press("I")
        source = await wait_for_screen(pilot, IssueSourceScreen)
        labels = [p.request.label for p in source.pending]
        options = source.query_one("#issue-pending", OptionList)
        options.highlighted = labels.index("web-flow")
        source.query_one("#issue-out", Input).value = str(out)
        source.query_one("#issue-ok", Button).press()
        preview = await wait_for_screen(pilot, IssuePreviewScreen, timeout=30)
        text = preview.plain_text
        for needle in ("subject: CN=web-flow.example,O=ikm", "SANs: DNS:web-flow.example", "profile: server",
                       "basic constr.: CA:FALSE", "key usage: digitalSignature", "ext. key use: serverAuth",
                       f"request: pending request 'web-flow' on token {token.label!r}", "(397 days)"):
            assert needle in text, text
        preview.query_one("#issue-sign", Button).press()
        result = await wait_for_screen(pilot, IssueResultScreen, timeout=30)
        assert f"written to {out}" in result.plain_text
        assert result.query_one("#issue-receive", Button).display  # the request's key is on this token
        r = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", str(ca_pem), "-purpose", "sslserver",
                            str(out)], capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr
        result.query_one("#issue-receive", Button).press()
        receive = await wait_for_screen(pilot, ReceivePreviewScreen, timeout=30)
        assert "matches private key 'web-flow'" in receive.plain_text
        receive.query_one("#receive-apply", Button).press()
        await wait_for(pilot, lambda: not isinstance(app.screen, ReceivePreviewScreen), timeout=30)
        await settle(pilot)
        listing = main.listing
        cert = next(o for o in listing.objects if o.cls is ObjClass.CERTIFICATE and o.label == "web-flow")
        key = next(o for o in listing.objects if o.cls is ObjClass.PRIVATE_KEY and o.label == "web-flow")
        assert cert.id == key.id and cert.value == _der(out)
        # Not a CA: the action is hidden for the received leaf.
        await select_cert(pilot, "web-flow")
        assert main.check_action("issue_certificate", ()) is False
    ca_sha = hashlib.sha256(_der(ca_pem)).hexdigest()
    assert [rec.subject for rec in read_log(ca_sha)] == ["CN=web-flow.example,O=ikm"]


def _der(path: Path) -> bytes:
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)


async def test_cancel_in_the_preview_issues_nothing(token: Any, tmp_path: Path) -> None:
    ca_pem = ca_and_request(token, tmp_path)
    out = tmp_path / "never.pem"
    app = make_app(module=token.module, token=token.label, modules=[token.module], ascii_only=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_cert(pilot, "flow-ca")
        await pilot.press("I")
        source = await wait_for_screen(pilot, IssueSourceScreen)
        source.query_one("#issue-out", Input).value = str(out)
        source.query_one("#issue-ok", Button).press()
        preview = await wait_for_screen(pilot, IssuePreviewScreen, timeout=30)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, IssuePreviewScreen))
        await settle(pilot)
    assert not out.exists()
    ca_sha = hashlib.sha256(_der(ca_pem)).hexdigest()
    assert read_log(ca_sha) == []
    assert preview.plan.ca_label == "flow-ca"


async def test_hostile_request_text_is_shown_literally(token: Any, tmp_path: Path) -> None:
    """A request label and DN that look like markup stay those characters in the dialog and the preview."""
    ca_and_request(token, tmp_path)
    label, dn = "evil[@click=app.quit]q[/]", "CN=[/ foo,O=[b]bold[/b]"
    token.service.run(reqs.create_request, token.slot_id, "ec:p256", label, dn, ["DNS:evil.example"])
    app = make_app(module=token.module, token=token.label, modules=[token.module], ascii_only=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await select_cert(pilot, "flow-ca")
        await pilot.press("I")
        source = await wait_for_screen(pilot, IssueSourceScreen)
        options = source.query_one("#issue-pending", OptionList)
        index = [p.request.label for p in source.pending].index(label)
        assert label in str(options.get_option_at_index(index).prompt)
        options.highlighted = index
        source.query_one("#issue-out", Input).value = str(tmp_path / "evil.pem")
        source.query_one("#issue-ok", Button).press()
        preview = await wait_for_screen(pilot, IssuePreviewScreen, timeout=30)
        assert f"subject: {dn}" in preview.plain_text and f"pending request {label!r}" in preview.plain_text
        assert app.is_running


async def test_pending_requests_of_another_module_are_offered(token: Any, tmp_path: Path, module_path: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The source dialog lists requests pending on any module in the tree: here one on a token
    reached only through --remote (p11-kit-client.so), beside this module's own."""
    import os
    import sys

    from ikm_tui.core.p11 import softhsm
    from ikm_tui.core.p11.modules import remote_candidates
    from ikm_tui.core.p11.remote import client_module, request
    from tests.conftest import PIN, SO_PIN

    if client_module() is None or shutil.which("p11-kit") is None:
        pytest.skip("p11-kit-client.so / p11-kit missing (bootstrap)")
    ca_and_request(token, tmp_path)
    far = softhsm.make_home(tmp_path / "far")
    softhsm.init_token(far, "far", PIN, SO_PIN)
    command = f"env SOFTHSM2_CONF={far.conf} p11-kit remote {module_path}"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    env = {**os.environ, "IKM_PIN": PIN}
    made = subprocess.run([sys.executable, "-m", "ikm_tui", "--remote", command, "--module", "remote", "--token",
                           "far", "certreq", "create", "--label", "far-req", "--key-type", "ec:p256", "--subject",
                           "CN=far-req.example", "--out", str(tmp_path / "far.csr")],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert made.returncode == 0, made.stderr
    request([command])
    try:
        remote = remote_candidates()[0]
        app = make_app(module=token.module, token=token.label, modules=[token.module, remote.path],
                       ascii_only=False)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await select_cert(pilot, "flow-ca")
            await pilot.press("I")
            source = await wait_for_screen(pilot, IssueSourceScreen, timeout=30)
            where = {p.request.label: (p.token_label, p.module) for p in source.pending}
            assert where["web-flow"] == (token.label, "") and where["far-req"] == ("far", "remote"), where
            options = source.query_one("#issue-pending", OptionList)
            shown = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
            assert any("far-req" in s and "[token far · remote]" in s for s in shown), shown
            await pilot.press("escape")
    finally:
        request([])
