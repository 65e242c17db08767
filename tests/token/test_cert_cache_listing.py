"""A listing from the certificate cache is the listing from a parse, byte for byte (issue 16)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from ikm_tui.core.p11.objects import write_raw_certificate
from tests.support.helpers import SoftCA
from tests.token.test_malformed import corpus


def _list(tok: Any, cache: Path, *python: str, off: bool = False) -> subprocess.CompletedProcess[str]:
    env = tok.env()
    env.update(IKM_PIN=tok.pin, XDG_CACHE_HOME=str(cache))
    if off:
        env["IKM_CERT_CACHE"] = "off"
    return subprocess.run([sys.executable, *python, "-m", "ikm_tui", "list", "--json", "--module", tok.module,
                           "--token", tok.label], env=env, capture_output=True, text=True, timeout=60)


def test_cold_warm_and_off_list_the_same_bytes_and_warm_needs_no_parser(token: Any, tmp_path: Path) -> None:
    ca = SoftCA("Cache listing CA")
    from cryptography.hazmat.primitives import serialization

    leaf = ca.issue(ca.key.public_key(), "leaf.example").public_bytes(serialization.Encoding.DER)
    certs = {"ca": ca.der, "leaf": leaf, **{name: der for name, (der, _) in corpus().items()}}
    for i, (name, der) in enumerate(certs.items()):
        token.service.run(write_raw_certificate, token.slot_id, der, name, bytes([0xCA, i]))
    cache = tmp_path / "cache"

    off = _list(token, cache, off=True)
    cold = _list(token, cache)
    warm = _list(token, cache, "-X", "importtime")
    for res in (off, cold, warm):
        assert res.returncode == 0, res.stderr
    assert cold.stdout == off.stdout
    assert warm.stdout == off.stdout
    assert len(list((cache / "ikm-tui").glob("certs-*.marshal"))) == 1
    # The second run found every certificate in the cache: cryptography was never imported.
    imported = [ln.rsplit("|", 1)[-1].strip() for ln in warm.stderr.splitlines() if ln.startswith("import time:")]
    assert "ikm_tui.core.seen_by" in imported  # (the import log is there)
    assert not [m for m in imported if m.startswith("cryptography")], "warm listing parsed certificates"
