"""Snapshots (in snapshots/) of receiving a certificate: the preview, and the result with the pair
linked on the Certificates tab.

Deterministic: the committed snapshot token (its key 'new-key-no-cert' has no certificate), a fixed
clock/theme/size, and a certificate issued for that key's public key by an Ed25519 CA whose key is
a constant (Ed25519 signatures are deterministic, so the DER and its fingerprint are too), with a
fixed serial and dates. The file is read by a relative name from a temporary working directory,
so no temporary path is on screen. `snap_compare` runs its own event loop: plain functions.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Input

from ikm_tui.core.ops import export as export_ops
from tests.support import FIXTURES
from ikm_tui.ui.screens.receive_preview import ReceivePreviewScreen
from ikm_tui.ui.screens.receive_screen import CertSourceScreen
from tests.support.fixtures.make_snapshot_token import FIXED_NOW
from tests.support.ui_helpers import SIZE, app_for, settle, wait_for, wait_for_screen

KEY_LABEL = "new-key-no-cert"  # seeded without a certificate (core.demo.seed)
CA_KEY: Any = serialization.load_pem_private_key(
    (FIXTURES / "snapshot_ca_key.pem").read_bytes(), password=None)
CA_NAME = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Snapshot"),
                     x509.NameAttribute(NameOID.COMMON_NAME, "Snapshot Test CA")])


def _ca_cert() -> x509.Certificate:
    pub = CA_KEY.public_key()
    return (x509.CertificateBuilder().subject_name(CA_NAME).issuer_name(CA_NAME).public_key(pub)
            .serial_number(0x3000).not_valid_before(FIXED_NOW - timedelta(days=30))
            .not_valid_after(FIXED_NOW + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
            .sign(CA_KEY, hashes.SHA256()))


def write_signed_bundle(tok: Any, directory: Path) -> Path:
    """signed.pem: the leaf for the key's public key, then the CA (a PEM bundle with its chain)."""
    _, pem = tok.service.run(export_ops.export_public_key, tok.slot_id, KEY_LABEL)
    pub = serialization.load_pem_public_key(pem.encode())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ikm-tui demo"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, "new.example.com")]))
            .issuer_name(CA_NAME).public_key(pub).serial_number(0x3001)  # type: ignore[arg-type]
            .not_valid_before(FIXED_NOW - timedelta(days=1)).not_valid_after(FIXED_NOW + timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("new.example.com")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(CA_KEY.public_key()), critical=False)
            .sign(CA_KEY, hashes.SHA256()))
    path = directory / "signed.pem"
    path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM)
                     + _ca_cert().public_bytes(serialization.Encoding.PEM))
    return path


async def _to_preview(pilot: Pilot[Any]) -> ReceivePreviewScreen:
    await settle(pilot)
    await pilot.press("i")
    await wait_for_screen(pilot, CertSourceScreen)
    await pilot.pause()
    pilot.app.screen.query_one("#source-path", Input).value = "signed.pem"  # relative: cwd is tmp
    pilot.app.screen.query_one("#source-ok", Button).press()
    await wait_for_screen(pilot, ReceivePreviewScreen)
    # Not settle(): the receive worker is waiting on this very dialog.
    for _ in range(3):
        await pilot.pause()
    return pilot.app.screen  # type: ignore[return-value]


def test_receive_preview(snap_compare: Any, snapshot_token: Any, tmp_path: Path, monkeypatch: Any) -> None:
    snapshot_token.login()
    write_signed_bundle(snapshot_token, tmp_path)
    monkeypatch.chdir(tmp_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        preview = await _to_preview(pilot)
        assert "matches private key 'new-key-no-cert'" in preview.plain_text

    assert snap_compare(app_for(snapshot_token), terminal_size=SIZE, run_before=run_before)


def test_received_pair_linked(snap_compare: Any, snapshot_token: Any, tmp_path: Path, monkeypatch: Any) -> None:
    snapshot_token.login()
    write_signed_bundle(snapshot_token, tmp_path)
    monkeypatch.chdir(tmp_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        preview = await _to_preview(pilot)
        preview.query_one("#receive-chain", Checkbox).value = True
        await pilot.pause()
        preview.query_one("#receive-apply", Button).press()
        await wait_for(pilot, lambda: not isinstance(pilot.app.screen, ReceivePreviewScreen))
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()
        text = pilot.app.main_screen.query_one("#details").plain_text  # type: ignore[attr-defined]
        assert f"paired with key {KEY_LABEL}" in text

    assert snap_compare(app_for(snapshot_token), terminal_size=SIZE, run_before=run_before)
