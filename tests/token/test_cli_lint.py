"""`ikm-tui cert lint FILE|LABEL` and the `lint` alias: files, token labels, chains, exit status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ikm_tui.cli.main import build_parser, main
from ikm_tui.core.p11.backend import Backend
from tests.support import FIXTURES
from tests.support.fixtures.make_snapshot_token import FIXED_NOW

LINT = FIXTURES / "lint"
FIXTURE_DAY = "2025-06-01"  # make_fixtures.NOW


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


@pytest.mark.parametrize("prefix", [["cert", "lint"], ["lint"]])
def test_file_with_its_chain_is_clean(prefix: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*prefix, str(LINT / "chain" / "ok.pem"), "--at", FIXTURE_DAY, "--json"]) == 0
    report = _json(capsys)
    assert report["errors"] == 0
    assert report["certificates"][0]["intended_use"] == "server"


def test_keycertsign_without_ca_file_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cert", "lint", str(LINT / "keycertsign-without-ca.pem"), "--at", FIXTURE_DAY]) == 1
    out = capsys.readouterr()
    assert "ERROR   keycertsign-without-ca:" in out.out
    assert "error(s)" in out.err


def test_missing_intermediate_and_use_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(LINT / "chain" / "missing-intermediate.pem"), "--at", FIXTURE_DAY, "--json"]) == 1
    assert "chain-missing-issuer" in {f["code"] for f in _json(capsys)["certificates"][0]["findings"]}
    assert main(["lint", str(LINT / "client-cert-used-as-server.pem"), "--use", "server", "--at", FIXTURE_DAY,
                 "--json"]) == 1
    assert "eku-mismatch" in {f["code"] for f in _json(capsys)["certificates"][0]["findings"]}


def test_not_a_certificate_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(LINT / "not-a-certificate.pem"), "--json"]) == 1
    assert _json(capsys)["certificates"][0]["findings"][0]["code"] == "unparseable"


def test_label_on_the_token_checks_the_chain_against_its_cas(snapshot_token: Any,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--module", snapshot_token.module, "--token", snapshot_token.label]
    at = FIXED_NOW.isoformat()
    assert main([*common, "cert", "lint", "keyCertSign-but-not-CA", "--at", at, "--json"]) == 1
    codes = {f["code"] for f in _json(capsys)["certificates"][0]["findings"]}
    assert "keycertsign-without-ca" in codes and "chain-missing-issuer" not in codes
    # Chained to "ikm-tui Demo CA" on the token: clean.
    assert main([*common, "cert", "lint", "mq-server", "--at", at, "--json"]) == 0
    assert not [f for f in _json(capsys)["certificates"][0]["findings"] if f["severity"] == "error"]
    assert main([*common, "lint", "no such cert"]) == 4  # not found
    err = capsys.readouterr().err
    assert "No file and no certificate labelled 'no such cert'" in err and "'mq-server'" in err


def test_a_file_is_checked_against_the_token_when_one_is_named(snapshot_token: Any, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from ikm_tui.core.model import ObjClass

    listing = snapshot_token.service.run(Backend.list_objects, snapshot_token.slot_id)
    leaf = next(o for o in listing.objects if o.cls is ObjClass.CERTIFICATE and o.label == "mq-server")
    f = tmp_path / "leaf.der"
    f.write_bytes(leaf.value)
    at = FIXED_NOW.isoformat()
    assert main(["lint", str(f), "--at", at, "--json"]) == 1  # no CA given, no token named
    assert "chain-missing-issuer" in {x["code"] for x in _json(capsys)["certificates"][0]["findings"]}
    assert main(["--module", snapshot_token.module, "--token", snapshot_token.label, "lint", str(f),
                 "--at", at, "--json"]) == 0


def test_add_cert_lint_is_there_for_cli_cert() -> None:
    import argparse

    from ikm_tui.cli.lint import add_cert_lint

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="c")
    add_cert_lint(sub)
    args = parser.parse_args(["lint", "x.pem", "--use", "client"])
    assert args.target == "x.pem" and args.use == "client"
    assert build_parser().parse_args(["cert", "lint", "x.pem"]).target == "x.pem"


def test_host_checks_the_san_against_what_clients_dial(capsys: pytest.CaptureFixture[str]) -> None:
    # The seed's VIPA case: the SAN holds 10.1.2.3 as a DNS name; clients dialling the IP fail.
    ip_as_dns = str(LINT / "chain" / "ip-as-dns.pem")
    assert main(["cert", "lint", ip_as_dns, "--host", "10.1.2.3", "--at", FIXTURE_DAY, "--json"]) == 1
    [finding] = [f for f in _json(capsys)["certificates"][0]["findings"] if f["code"] == "san-ip-as-dns"]
    assert finding["severity"] == "error" and "IP address mismatch" in finding["message"]
    # Without --host it is a warning only; a host it does name is clean.
    assert main(["cert", "lint", ip_as_dns, "--at", FIXTURE_DAY, "--json"]) == 0
    assert main(["cert", "lint", str(LINT / "chain" / "host-wildcard.pem"), "--host", "www.lint.example.test",
                 "--at", FIXTURE_DAY, "--json"]) == 0
    capsys.readouterr()
    assert main(["cert", "lint", str(LINT / "chain" / "host-mismatch.pem"), "--host", "www.lint.example.test",
                 "--at", FIXTURE_DAY]) == 1
    assert "ERROR   host-mismatch:" in capsys.readouterr().out
