"""Trace pane, lint in the details pane and "show me the command" on the snapshot token."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, TabbedContent

from ikm_tui.core.model import ObjClass
from ikm_tui.core.p11.service import TraceEntry
from ikm_tui.ui.screens.command_screen import CommandScreen
from ikm_tui.ui.widgets.lint_view import LintView
from ikm_tui.ui.widgets.object_table import ObjectTable
from ikm_tui.ui.screens.pin_screen import PinScreen
from ikm_tui.ui.widgets.trace_pane import MAX_ROWS, TracePane
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for, wait_for_screen


async def _select_cert(pilot: Any, label: str) -> None:
    main = pilot.app.main_screen
    main.query_one("#tabs", TabbedContent).active = "tab-certs"
    await pilot.pause()
    certs = main.query_one("#certs", ObjectTable)
    certs.focus()
    certs.select_handle(next(o.handle for o in main.listing.objects
                             if o.cls is ObjClass.CERTIFICATE and o.label == label))
    await settle(pilot)


async def test_trace_pane_shows_login_with_pin_redacted(snapshot_token: Any) -> None:
    app = app_for(snapshot_token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await wait_for_screen(pilot, PinScreen)
        await pilot.press(*"99999999", "enter")
        await wait_for(pilot, lambda: app.screen.attempts == 1 and not app.screen.busy)  # type: ignore[attr-defined]
        await pilot.press(*snapshot_token.pin, "enter")
        await wait_for(pilot, lambda: app.main_screen.listing is not None and app.main_screen.listing.logged_in)
        await settle(pilot)
        app.main_screen.query_one("#tabs", TabbedContent).active = "tab-trace"
        await pilot.pause()
        pane = app.main_screen.query_one(TracePane)
        text = pane.plain_text
        assert "list_objects(" in text and "mechanisms(" in text
        logins = [line for line in text.splitlines() if " login(" in line]
        assert len(logins) == 2, text
        assert "***" in logins[0] and "CKR_PIN_INCORRECT" in logins[0]
        assert "-> OK" in logins[1]
        for pin in ("99999999", snapshot_token.pin):
            assert pin not in text and pin.encode().hex() not in text
        table = pane.query_one("#trace-table", DataTable)
        assert table.row_count == len(pane.lines)
    # The process-wide service does not keep the closed app's buffer.
    assert app.trace_feed.buffer not in snapshot_token.service.tracers


async def test_trace_pane_batches_a_flood_from_the_owner_thread(snapshot_token: Any) -> None:
    app = app_for(snapshot_token)
    posted: list[Any] = []
    async with app.run_test(size=SIZE, message_hook=posted.append) as pilot:
        await settle(pilot)
        pane = app.main_screen.query_one(TracePane)
        before = len(pane.lines)
        posted.clear()

        def flood(backend: Any) -> None:
            # On the owner thread, like the service's own tracer calls.
            for i in range(3000):
                app.trace_feed.buffer(TraceEntry(10**6 + i, "fake", "", "OK", 0.0, 0.0))

        await snapshot_token.service.arun(flood)
        await wait_for(pilot, lambda: len(pane.lines) >= min(before + 3001, MAX_ROWS))
        await pilot.pause(0.2)
        wakeups = [m for m in posted if isinstance(m, TracePane.NewEntries)]
        assert len(wakeups) < 100, len(wakeups)  # batched, not one message per call
        assert pane.query_one("#trace-table", DataTable).row_count <= MAX_ROWS
        assert pane.lines[-1].startswith(f"#{app.trace_feed.count} flood(")


async def test_trace_warns_about_pkcs11_spy(snapshot_token: Any, monkeypatch: Any) -> None:
    import ikm_tui.core.p11.trace as trace

    monkeypatch.setattr(trace, "trace_warnings", lambda path: [f"{path} is pkcs11-spy: it logs PINs"])
    app = app_for(snapshot_token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = app.main_screen.query_one(TracePane)
        assert pane.warnings and "pkcs11-spy" in pane.plain_text
        assert any("pkcs11-spy" in n.message for n in app._notifications)  # noqa: SLF001


async def test_lint_shows_keycertsign_without_ca_as_error(snapshot_token: Any) -> None:
    app = app_for(snapshot_token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _select_cert(pilot, "keyCertSign-but-not-CA")
        lint = app.main_screen.query_one(LintView)
        assert lint.display
        assert lint.findings[0].severity == "error"
        assert "keycertsign-without-ca" in {f.code for f in lint.findings}
        assert "ERROR keycertsign-without-ca" in lint.plain_text
        # A clean server certificate chains to the token's CA: no errors.
        await _select_cert(pilot, "mq-server")
        assert not any(f.severity == "error" for f in lint.findings), lint.plain_text
        assert not any(f.code == "chain-missing-issuer" for f in lint.findings)
        # Keys have no lint.
        app.main_screen.query_one("#tabs", TabbedContent).active = "tab-keys"
        await settle(pilot)
        assert not lint.display


async def test_show_me_the_command_for_a_certificate(snapshot_token: Any) -> None:
    app = app_for(snapshot_token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _select_cert(pilot, "mq-server")
        await pilot.press("m")
        await wait_for_screen(pilot, CommandScreen)
        text = app.screen.plain_text  # type: ignore[attr-defined]
        assert "cert-extract" in text and "delete" in text and "rename" in text
        assert "pkcs11-tool" in text and "p11tool" in text and "runmqakm" in text
        assert "mq-server" in text and "env:PIN" in text and "<PIN>" in text
        assert snapshot_token.pin not in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, CommandScreen)


def test_new_bindings_have_id_and_tooltip() -> None:
    from ikm_tui.ui.main_screen import MainScreen

    for b in [*CommandScreen.BINDINGS, *MainScreen.BINDINGS]:
        assert b.id and b.tooltip, b  # type: ignore[union-attr]
