"""Labels and DNs from a token are shown as literal text: no markup, no terminal controls."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from textual.widgets import TabbedContent

from ikm_tui.core.p11 import objects
from ikm_tui.ui.widgets.details import DetailsPane
from ikm_tui.ui.widgets.object_table import ObjectTable
from ikm_tui.ui.text import literal
from tests.support.ui_helpers import SIZE, app_for, settle

EVIL_LABEL = "[@click=app.quit]boom[/]"
EVIL_CN = "CN=[/ foo \x1b]0;pwned\x07\x1b[2J \u202etxt.exe"


def test_literal_is_not_markup() -> None:
    assert literal(EVIL_LABEL).plain == EVIL_LABEL
    assert literal("CN=[/ foo").plain == "CN=[/ foo"
    assert "\x1b" not in literal(EVIL_CN).plain and "\\x1b" in literal(EVIL_CN).plain
    assert "\u202e" not in literal(EVIL_CN).plain


def _evil_cert() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, EVIL_CN)])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


async def test_markup_in_labels_and_dns_stays_literal(token: Any) -> None:
    token.login()
    der = _evil_cert()
    token.service.run(objects.write_certificate, token.slot_id, der, EVIL_LABEL, b"\x01")
    app = app_for(token)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        main = app.main_screen
        main.query_one("#tabs", TabbedContent).active = "tab-certs"
        await pilot.pause()
        certs = main.query_one("#certs", ObjectTable)
        certs.focus()
        certs.move_cursor(row=0)
        await pilot.pause()
        await pilot.click("#certs", offset=(10, 1))  # a live [@click=app.quit] would quit here
        await pilot.pause()
        assert app.is_running
        text = main.query_one("#details", DetailsPane).plain_text
        assert EVIL_LABEL in text
        assert "\x1b" not in text and "\\x1b]0" in text and "\\u202e" in text
        assert str(certs.get_row_at(0)[1]) == EVIL_LABEL


async def test_token_label_in_tree_is_literal(service: Any, module_path: str) -> None:
    from tests.conftest import delete_token, new_token

    tok = new_token(service, module_path, label="[@click=app.quit]tok[/")
    try:
        app = app_for(tok)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            from ikm_tui.ui.widgets.token_tree import TokenTree

            tree = app.main_screen.query_one("#tokens", TokenTree)
            labels = []
            stack = [tree.root]
            while stack:
                node = stack.pop()
                labels.append(node.label.plain)
                stack.extend(node.children)
            assert "[@click=app.quit]tok[/" in labels
            assert app.is_running
    finally:
        delete_token(tok)
