"""`cert receive` refuses a certificate with a lint ERROR: nothing written, token unchanged, unless --force."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from ikm_tui.core.errors import IkmError
from ikm_tui.core.ops.receive import apply_receive, preview_receive
from tests.interop.test_interop_receive import certs_with_id, object_count, run_cli
from tests.support.helpers import SoftCA
from tests.token.test_receive import key_and_cert, write

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


def keycertsign_leaf(ca: SoftCA, public_key: Any, cn: str) -> x509.Certificate:
    """The seed's mistake: keyUsage keyCertSign on a certificate that is not a CA."""
    now = datetime.now(timezone.utc)
    return (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca.name).public_key(public_key).serial_number(0x777)
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=90))
        .add_extension(x509.KeyUsage(True, False, True, False, False, True, False, False, False), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )


def test_cli_refuses_an_error_and_changes_nothing_until_force(token: Any, tmp_path: Path) -> None:
    key_id, good, ca = key_and_cert(token, "strict")
    bad = keycertsign_leaf(ca, good.public_key(), "strict.example.com")
    path = write(tmp_path, "bad.pem", bad.public_bytes(PEM) + ca.cert.public_bytes(PEM))
    before = object_count(token)

    res = run_cli(token, "cert", "receive", path, "--with-chain")
    assert res.returncode == 3  # refused, needs --force (cli/exitcodes.py)
    assert "lint ERROR keycertsign-without-ca" in res.stdout  # the preview shows it ...
    assert "keycertsign-without-ca" in res.stderr and "nothing was written" in res.stderr  # ... and refuses
    assert "--force" in res.stderr and "ERR_CERT_INVALID" in res.stderr
    assert object_count(token) == before  # neither the cert nor the chain CA was stored
    assert certs_with_id(token, key_id) == []

    res = run_cli(token, "cert", "receive", path, "--force")
    assert res.returncode == 0, res.stderr
    assert [c.value for c in certs_with_id(token, key_id)] == [bad.public_bytes(DER)]
    assert object_count(token) == before + 1


def test_cli_refuses_a_leaf_whose_issuer_is_nowhere(token: Any, tmp_path: Path) -> None:
    key_id, cert, _ = key_and_cert(token, "orphan")
    before = object_count(token)
    res = run_cli(token, "cert", "receive", write(tmp_path, "leaf.pem", cert.public_bytes(PEM)))
    assert res.returncode == 3  # refused, needs --force (cli/exitcodes.py)
    assert "chain-missing-issuer" in res.stderr and "nothing was written" in res.stderr
    assert object_count(token) == before


def test_core_refuses_unless_forced(token: Any) -> None:
    key_id, good, ca = key_and_cert(token, "core")
    bad = keycertsign_leaf(ca, good.public_key(), "core.example.com").public_bytes(DER)
    pv = token.service.run(preview_receive, token.slot_id, [bad, ca.der])
    before = object_count(token)
    with pytest.raises(IkmError, match="lint error"):
        token.service.run(apply_receive, token.slot_id, pv, with_chain=True)
    assert object_count(token) == before
    res = token.service.run(apply_receive, token.slot_id, pv, force=True)
    assert res.written.id == key_id
    assert object_count(token) == before + 1
