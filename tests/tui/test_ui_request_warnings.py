"""The request form says what would make the signed certificate fail TLS, before the CA sees it (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Input

from tests.support.ui_helpers import SIZE, app_for, settle
from tests.tui.test_ui_requests import answer_offer, open_form


async def test_form_warns_about_ip_as_dns_and_keycertsign(token: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    token.login()
    app = app_for(token)
    said: list[tuple[str, str]] = []
    real_notify = app.notify

    def notify(message: str, **kw: Any) -> None:
        said.append((message, kw.get("severity", "information")))
        real_notify(message, **kw)

    monkeypatch.setattr(app, "notify", notify)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        form = await open_form(pilot)
        form.query_one("#form-label", Input).value = "seed"
        form.query_one("#form-subject", Input).value = "CN=mq.example.com"
        form.query_one("#form-sans", Input).value = "DNS:mq.example.com,DNS:10.1.2.3"
        form.query_one("#form-ku", Input).value = "digitalSignature,keyCertSign"
        form.query_one("#form-eku", Input).value = "serverAuth"
        await pilot.pause()
        assert form.problems() == []  # warnings, not blockers
        warnings = form.warnings()
        assert any("keyCertSign is for CA certificates" in w for w in warnings)
        assert any("DNS:10.1.2.3 is an IP address written as a DNS name" in w for w in warnings)
        await pilot.press("ctrl+s")
        await answer_offer(pilot)
        await settle(pilot)
    assert [m for m, sev in said if sev == "warning"][:2] == warnings
