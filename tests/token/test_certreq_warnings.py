"""`certreq create` warns about the seed's mistakes before the key exists and before any CA sees the request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.token.test_certreq import run_cli


def test_create_warns_before_the_key_is_made(token: Any, tmp_path: Path) -> None:
    args = ["certreq", "create", "--label", "seed", "--key-type", "ec:p256", "--subject", "CN=mq.example.com",
            "--san", "DNS:10.1.2.3", "--key-usage", "digitalSignature,keyCertSign", "--eku", "serverAuth",
            "--out", str(tmp_path / "seed.csr")]
    # Without a PIN nothing is created, yet every warning has already been said.
    res = run_cli(token, *args)
    assert res.returncode != 0
    for text in ("keyUsage keyCertSign is for CA certificates", "DNS:10.1.2.3 is an IP address written as a DNS name",
                 "CN=mq.example.com is not in the SAN"):
        assert f"warning: {text}" in res.stderr, res.stderr
    res = run_cli(token, *args, pin=token.pin)
    assert res.returncode == 0, res.stderr  # warnings, not refusals: the operator may know better
    assert res.stderr.count("warning:") == 3


def test_clean_request_says_nothing_extra(token: Any, tmp_path: Path) -> None:
    res = run_cli(token, "certreq", "create", "--label", "fine", "--key-type", "rsa:2048",
                  "--subject", "CN=mq.example.com", "--san", "DNS:mq.example.com", "--eku", "serverAuth",
                  "--out", str(tmp_path / "fine.csr"), pin=token.pin)
    assert res.returncode == 0, res.stderr
    assert "warning:" not in res.stderr
