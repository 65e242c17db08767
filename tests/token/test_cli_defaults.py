"""The CLI and the TUI agree: same default key usage / EKU for a new key, same overwrite policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from ikm_tui.cli.main import main
from ikm_tui.core.x509 import defaults


def _ext(csr: x509.CertificateSigningRequest, kind: type[Any]) -> Any:
    try:
        return csr.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def test_request_gets_the_tui_form_defaults(token: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IKM_PIN", token.pin)
    common = ["--module", token.module, "--token", token.label, "certreq", "create", "--subject", "CN=d"]
    assert main([*common, "--label", "ec", "--key-type", "ec:p256", "--out", str(tmp_path / "ec.csr")]) == 0
    assert main([*common, "--label", "rsa", "--key-type", "rsa:2048", "--out", str(tmp_path / "rsa.csr")]) == 0
    assert main([*common, "--label", "bare", "--key-type", "ec:p256", "--eku", "", "--key-usage", "",
                 "--out", str(tmp_path / "bare.csr")]) == 0
    ec = x509.load_pem_x509_csr((tmp_path / "ec.csr").read_bytes())
    rsa = x509.load_pem_x509_csr((tmp_path / "rsa.csr").read_bytes())
    bare = x509.load_pem_x509_csr((tmp_path / "bare.csr").read_bytes())
    both = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert defaults.DEFAULT_EKU == "serverAuth,clientAuth"
    assert list(_ext(ec, x509.ExtendedKeyUsage)) == both and list(_ext(rsa, x509.ExtendedKeyUsage)) == both
    assert _ext(ec, x509.KeyUsage).digital_signature and not _ext(ec, x509.KeyUsage).key_encipherment
    assert _ext(rsa, x509.KeyUsage).digital_signature and _ext(rsa, x509.KeyUsage).key_encipherment
    assert _ext(bare, x509.ExtendedKeyUsage) is None and _ext(bare, x509.KeyUsage) is None


def test_tui_form_uses_the_same_defaults() -> None:
    from ikm_tui.ui.screens import request_form

    assert request_form.DEFAULT_EKU is defaults.DEFAULT_EKU
    assert request_form.default_key_usage is defaults.default_key_usage


def test_extract_refuses_to_overwrite_without_force(token: Any, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IKM_PIN", token.pin)
    common = ["--module", token.module, "--token", token.label]
    assert main([*common, "cert", "create", "--label", "c", "--key-type", "ec:p256", "--subject", "CN=c"]) == 0
    out = tmp_path / "c.pem"
    out.write_text("keep me")
    for cmd in (["cert", "extract", "c", "--out", str(out)], ["key", "export-public", "c", "--out", str(out)]):
        assert main([*common, *cmd]) == 3
        assert out.read_text() == "keep me"
    assert main([*common, "cert", "extract", "c", "--out", str(out), "--force"]) == 0
    assert out.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert main([*common, "key", "export-public", "c", "--out", str(out), "--force"]) == 0
    assert out.read_text().startswith("-----BEGIN PUBLIC KEY-----")
