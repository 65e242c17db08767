"""The exit-status table (ikm_tui/cli/exitcodes.py) asserted for every command on a real SoftHSM token."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from ikm_tui.cli import exitcodes as ex
from ikm_tui.cli.main import build_parser, main
from tests.conftest import delete_token, new_token
from tests.support import FIXTURES
from tests.support.helpers import SoftCA

LINT = FIXTURES / "lint"


class World:
    """One token seeded once: a self-signed pair `web`, a pending request `req`, a CA file."""

    def __init__(self, tok: Any, tmp: Path) -> None:
        self.tok = tok
        self.tmp = tmp
        self.ca = SoftCA("Exit CA")
        self.ca_file = tmp / "ca.pem"
        self.ca_file.write_bytes(self.ca.cert.public_bytes(serialization.Encoding.PEM))
        self.web_pem = tmp / "web.pem"

    def path(self, name: str) -> str:
        return str(self.tmp / name)


def run(argv: list[str], *, pin: str | None, monkeypatch: pytest.MonkeyPatch) -> int:
    """main(argv) in this process; argparse's SystemExit becomes its status."""
    if pin is None:
        monkeypatch.delenv("IKM_PIN", raising=False)
    else:
        monkeypatch.setenv("IKM_PIN", pin)
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.fixture(scope="module")
def world(service: Any, module_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tok = new_token(service, module_path)
    w = World(tok, tmp_path_factory.mktemp("exit"))
    with pytest.MonkeyPatch.context() as mp:
        common = ["--module", tok.module, "--token", tok.label]
        assert run([*common, "cert", "create", "--label", "web", "--key-type", "ec:p256", "--subject", "CN=web",
                    "--san", "DNS:web", "--out", str(w.web_pem)], pin=tok.pin, monkeypatch=mp) == 0
        assert run([*common, "certreq", "create", "--label", "req", "--key-type", "ec:p256", "--subject", "CN=req",
                    "--out", w.path("req.csr")], pin=tok.pin, monkeypatch=mp) == 0
    yield w
    delete_token(tok)


# (argv after --module/--token, PIN in IKM_PIN or None, expected status). "{tmp}" is the test's directory,
# "{ca}" the CA file, "{web}" web's certificate file. Cases run in this order on one token.
CASES: list[tuple[list[str], str | None, int]] = [
    # 0: done
    (["tokens"], None, ex.OK),
    (["tokens", "--json"], None, ex.OK),
    (["list"], None, ex.OK),
    (["list", "--json"], "PIN", ex.OK),
    (["explain", "0xA0"], None, ex.OK),
    (["howto"], None, ex.OK),
    (["howto", "certreq", "create"], None, ex.OK),
    (["certreq", "capabilities"], None, ex.OK),
    (["certreq", "list"], None, ex.OK),
    (["certreq", "details", "req"], None, ex.OK),
    (["certreq", "extract", "req", "--out", "{tmp}/req2.csr"], None, ex.OK),
    (["certreq", "recreate", "req", "--out", "{tmp}/req3.csr"], "PIN", ex.OK),
    (["cert", "extract", "web", "--out", "{tmp}/web2.pem"], None, ex.OK),
    (["key", "export-public", "web", "--out", "{tmp}/web.pub"], None, ex.OK),
    (["cert", "lint", "web"], None, ex.OK),
    (["lint", "{web}"], None, ex.OK),
    (["cert", "doctor"], "PIN", ex.OK),
    (["cert", "add", "{ca}", "--label", "Exit CA"], None, ex.OK),
    (["cert", "add", "{ca}", "--label", "Exit CA again"], None, ex.OK),  # already there: not an error
    (["cert", "create", "--label", "tmp", "--key-type", "ec:p256", "--subject", "CN=tmp"], "PIN", ex.OK),
    (["cert", "rename", "tmp", "tmp2"], "PIN", ex.OK),
    (["key", "delete", "tmp2", "--yes"], "PIN", ex.OK),
    (["cert", "delete", "tmp2", "--yes"], "PIN", ex.OK),
    (["certreq", "create", "--label", "req9", "--key-type", "ec:p256", "--subject", "CN=r9",
      "--out", "{tmp}/req9.csr"], "PIN", ex.OK),
    (["certreq", "delete", "req9", "--yes", "--with-key"], "PIN", ex.OK),
    (["ca", "create", "--label", "exit-ca", "--key-type", "ec:p256", "--subject", "CN=Exit issuing CA",
      "--days", "30"], "PIN", ex.OK),
    (["ca", "sign", "{tmp}/req.csr", "--ca", "exit-ca", "--out", "{tmp}/req-issued.pem", "--days", "7",
      "--san", "DNS:req.test", "--yes"], "PIN", ex.OK),
    (["ca", "sign", "--request-label", "req", "--ca", "exit-ca", "--out", "{tmp}/req-byl.pem", "--days", "7",
      "--san", "DNS:req.test", "--yes"], "PIN", ex.OK),
    (["ca", "list", "exit-ca"], None, ex.OK),
    (["ca", "crl", "exit-ca", "--out", "{tmp}/exit.crl", "--days", "2"], "PIN", ex.OK),
    (["export-config", "java", "--key", "web", "--out", "{tmp}/use-java"], "PIN", ex.OK),
    (["export-config", "openssl", "--key", "web", "--out", "{tmp}/use-ossl"], "PIN", ex.OK),
    # 1: the operation failed
    (["lint", str(LINT / "keycertsign-without-ca.pem"), "--at", "2025-06-01"], None, ex.FAILED),
    (["cert", "receive", str(LINT / "not-a-certificate.pem")], "PIN", ex.FAILED),
    # 2: usage
    (["list", "--pin", "1234"], None, ex.USAGE),
    (["cert", "create", "--label", "x", "--key-type", "rsa:1024", "--subject", "CN=x"], "PIN", ex.USAGE),
    (["certreq", "create", "--label", "x", "--key-type", "ec:p256", "--subject", "CN=x", "--out", "{tmp}/x.csr",
      "--id", "zz"], "PIN", ex.USAGE),
    (["certreq", "recreate", "req"], "PIN", ex.USAGE),  # --out missing
    (["ca", "create", "--label", "x", "--key-type", "rsa:2048", "--subject", "CN=x"], "PIN", ex.USAGE),
    (["export-config", "cobol", "--key", "web", "--out", "{tmp}/use-x"], "PIN", ex.USAGE),
    (["export-config", "nss", "--key", "web"], "PIN", ex.USAGE),  # --out missing
    (["ca", "sign", "--ca", "exit-ca", "--out", "{tmp}/none.pem", "--yes"], "PIN", ex.USAGE),  # no request
    # 3: refused for safety / needs confirmation
    (["cert", "delete", "web"], None, ex.REFUSED),
    (["key", "delete", "web"], "PIN", ex.REFUSED),
    (["certreq", "delete", "req"], None, ex.REFUSED),
    (["cert", "doctor", "--fix"], "PIN", ex.REFUSED),  # nothing to fix: 0; see test below for the refusal
    (["cert", "rename", "web", "Exit CA"], "PIN", ex.REFUSED),
    # A server certificate without a SAN fails the lint, so it is not issued.
    (["ca", "sign", "{tmp}/req.csr", "--ca", "exit-ca", "--out", "{tmp}/nosan.pem", "--yes"], "PIN", ex.REFUSED),
    (["ca", "sign", "{tmp}/req.csr", "--ca", "web", "--out", "{tmp}/notca.pem", "--yes"], "PIN", ex.REFUSED),
    # No terminal to ask on and no --yes: the plan is printed, nothing is issued.
    (["ca", "sign", "{tmp}/req.csr", "--ca", "exit-ca", "--out", "{tmp}/unconfirmed.pem", "--san", "DNS:req.test"],
     "PIN", ex.REFUSED),
    (["cert", "receive", "{web}"], "PIN", ex.REFUSED),  # a self-signed cert for `web` is already there
    (["certreq", "create", "--label", "req", "--key-type", "ec:p256", "--subject", "CN=x",
      "--out", "{tmp}/dup.csr"], "PIN", ex.REFUSED),
    (["cert", "create", "--label", "ed", "--key-type", "ed25519", "--subject", "CN=ed"], "PIN", ex.REFUSED),
    (["cert", "extract", "web", "--out", "{tmp}/web2.pem"], None, ex.REFUSED),  # exists: --force
    (["certreq", "extract", "req", "--out", "{tmp}/req2.csr"], None, ex.REFUSED),
    (["key", "export-public", "web", "--out", "{tmp}/web.pub"], None, ex.REFUSED),
    # An existing --out stops a new key before it is generated.
    (["certreq", "create", "--label", "r5", "--key-type", "ec:p256", "--subject", "CN=r5",
      "--out", "{tmp}/req2.csr"], "PIN", ex.REFUSED),
    (["certreq", "recreate", "req", "--out", "{tmp}/req3.csr"], "PIN", ex.REFUSED),
    (["cert", "create", "--label", "c5", "--key-type", "ec:p256", "--subject", "CN=c5", "--out", "{web}"],
     "PIN", ex.REFUSED),
    (["certreq", "recreate", "req", "--out", "{tmp}/req3.csr", "--force"], "PIN", ex.OK),
    (["export-config", "java", "--key", "web", "--out", "{tmp}/use-java"], "PIN", ex.REFUSED),  # files exist
    (["export-config", "java", "--key", "web", "--out", "{tmp}/use-java", "--force"], "PIN", ex.OK),
    (["export-config", "mq", "--out", "{tmp}/use-mq"], "PIN", ex.REFUSED),  # several keys: say which
    (["export-config", "nss", "--key", "web", "--out", "{web}"], "PIN", ex.FAILED),  # --out is a file
    # 4: not found
    (["cert", "extract", "nosuch", "--out", "{tmp}/n.pem"], None, ex.NOT_FOUND),
    (["cert", "delete", "nosuch", "--yes"], None, ex.NOT_FOUND),
    (["cert", "rename", "nosuch", "x"], "PIN", ex.NOT_FOUND),
    (["key", "export-public", "nosuch", "--out", "{tmp}/n.pub"], None, ex.NOT_FOUND),
    (["key", "delete", "nosuch", "--yes"], "PIN", ex.NOT_FOUND),
    (["certreq", "details", "nosuch"], None, ex.NOT_FOUND),
    (["ca", "sign", "{tmp}/req.csr", "--ca", "nosuch", "--out", "{tmp}/n-issued.pem", "--yes"], "PIN", ex.NOT_FOUND),
    (["ca", "sign", "--request-label", "nosuch", "--ca", "exit-ca", "--out", "{tmp}/n2.pem", "--yes"], "PIN",
     ex.NOT_FOUND),
    (["ca", "list", "nosuch"], None, ex.NOT_FOUND),
    (["ca", "revoke", "exit-ca", "01"], "PIN", ex.NOT_FOUND),  # not in its issue log
    (["certreq", "extract", "nosuch", "--out", "{tmp}/n.csr"], None, ex.NOT_FOUND),
    (["certreq", "delete", "nosuch", "--yes"], None, ex.NOT_FOUND),
    (["cert", "lint", "nosuch"], None, ex.NOT_FOUND),
    (["explain", "nonsense"], None, ex.NOT_FOUND),
    (["howto", "nonsense"], None, ex.NOT_FOUND),
    (["export-config", "nss", "--key", "nosuch", "--out", "{tmp}/use-n"], "PIN", ex.NOT_FOUND),
    # 5: PIN problems
    (["cert", "receive", "{web}"], None, ex.PIN),  # needs a PIN; no terminal to ask on
    (["pin", "change"], "PIN", ex.PIN),  # the new PIN: no terminal, no --new-pin-file
    (["export-config", "nss", "--key", "web", "--out", "{tmp}/use-p"], None, ex.PIN),  # no PIN, no terminal
    # 0 and 6: expiry (no login): nothing expired, then everything is within a window of ~270 years
    (["expiry", "--within", "0"], None, ex.OK),
    (["expiry", "--json", "--within", "0"], None, ex.OK),
    (["expiry", "--within", "100000"], None, ex.EXPIRING),
    (["expiry", "--within", "-1"], None, ex.USAGE),
    # The journal of a killed write: none here (tests/token/test_crash_consistency.py makes them).
    (["journal", "show"], "PIN", ex.OK),
    (["journal", "finish"], "PIN", ex.NOT_FOUND),
    (["journal", "undo"], "PIN", ex.NOT_FOUND),
]
# `cert doctor --fix` on a healthy token has nothing to apply.
CASES[[i for i, c in enumerate(CASES) if c[0] == ["cert", "doctor", "--fix"]][0]] = (
    ["cert", "doctor", "--fix"], "PIN", ex.OK)


def _expand(arg: str, w: World) -> str:
    return arg.replace("{tmp}", str(w.tmp)).replace("{ca}", str(w.ca_file)).replace("{web}", str(w.web_pem))


def test_every_case_has_its_status(world: World, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    tok = world.tok
    common = ["--module", tok.module, "--token", tok.label]
    wrong = []
    for argv, pin, want in CASES:
        args = [_expand(a, world) for a in argv]
        got = run([*common, *args], pin=tok.pin if pin == "PIN" else pin, monkeypatch=monkeypatch)
        out = capsys.readouterr()
        if got != want:
            wrong.append(f"{' '.join(args)}: {got}, want {want}\n{out.err[-400:]}")
        assert "Traceback" not in out.err, out.err
    assert not wrong, "\n".join(wrong)
    from ikm_tui.core.p11.backend import Backend

    labels = {o.label for o in tok.service.run(Backend.list_objects, tok.slot_id).objects}
    assert not labels & {"r5", "c5"}, "a refused --out must not leave a key behind"


def test_json_output_validates_against_its_schema(world: World, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Every case again with --json: what stdout carries validates against the command's schema file."""
    import json

    from jsonschema import Draft202012Validator

    from ikm_tui.cli.jsonout import schema_path

    tok = world.tok
    common = ["--module", tok.module, "--token", tok.label]
    parser = build_parser()
    checked = set()
    for argv, pin, want in CASES:
        if want == ex.USAGE or argv[:2] == ["list", "--pin"]:
            continue
        args = [_expand(a, world) for a in argv]
        # Re-run what already ran: files exist now, labels are gone. Those cases fail differently
        # (still with a document for action commands); the schema holds either way.
        ns = parser.parse_args([*common, *args, "--json"])
        got = run([*common, *args, "--json"], pin=tok.pin if pin == "PIN" else pin, monkeypatch=monkeypatch)
        out = capsys.readouterr().out
        name = ns.json_schema
        if not out:
            assert got != ex.OK and not ns.json_capture, (args, got)
            continue
        doc = json.loads(out)
        assert doc["schema"] == f"ikm-tui/{name}/v1"
        schema = json.loads(schema_path(name).read_text())
        errors = sorted(Draft202012Validator(schema).iter_errors(doc), key=str)
        assert not errors, (args, [e.message for e in errors[:3]])
        checked.add(name)
    assert checked >= {"tokens", "list", "explain", "howto", "cert-receive", "cert-doctor", "lint", "cert-add",
                       "cert-extract", "key-export-public", "certreq-details", "certreq-list", "export-config"}


def test_pin_file_too_open_and_module_or_token_missing(world: World, monkeypatch: pytest.MonkeyPatch, capsys: Any,
                                                       tmp_path: Path) -> None:
    tok = world.tok
    pin_file = tmp_path / "pin"
    pin_file.write_text(tok.pin)
    pin_file.chmod(0o644)
    assert run(["--module", tok.module, "--token", tok.label, "list", "--pin-file", str(pin_file)],
               pin=None, monkeypatch=monkeypatch) == ex.PIN, capsys.readouterr().err
    assert run(["--module", tok.module, "--token", "no such token", "list"], pin=None,
               monkeypatch=monkeypatch) == ex.NOT_FOUND
    assert run(["--module", str(tmp_path / "nonexistent.so"), "list"], pin=None,
               monkeypatch=monkeypatch) == ex.NOT_FOUND


def _leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001
    if not subs:
        yield prefix
        return
    for name, child in subs[0].choices.items():
        yield from _leaf_commands(child, (*prefix, name))


def test_every_command_is_in_the_table_and_rejects_a_bad_option(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    covered = set()
    for argv, _pin, _want in CASES:
        for n in range(len(argv), 0, -1):
            covered.add(tuple(argv[:n]))
    # Commands whose other statuses are tested elsewhere: demo (test_demo_without_softhsm below),
    # completion and help (tests/unit/test_cli_extras.py).
    exempt = {("demo",), ("completion",), ("help",)}
    leaves = set(_leaf_commands(build_parser()))
    assert not {c for c in leaves if c not in covered and c not in exempt}, "commands without exit-status cases"
    for leaf in sorted(leaves):
        assert run([*leaf, "--no-such-option"], pin=None, monkeypatch=monkeypatch) == ex.USAGE, leaf
    capsys.readouterr()


def test_help_epilog_shows_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for code, _ in ex.TABLE:
        assert f"\n  {code}  " in text


def test_closed_pipe_exits_quietly(world: World) -> None:
    """`ikm-tui list | head -1`: no BrokenPipeError traceback, status 141 as for cat or ls.

    The reading end is closed before the command writes, so every run meets the closed pipe
    (a real `| head -1` only does when the output outgrows the pipe buffer).
    """
    tok = world.tok
    env = {**tok.env(), "IKM_PIN": tok.pin}
    for cmd in (["list"], ["list", "--json"], ["howto"], ["explain", "0xA0"], ["--help"]):
        proc = subprocess.Popen([sys.executable, "-m", "ikm_tui", "--module", tok.module, "--token", tok.label,
                                 *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        err = proc.stderr.read().decode()
        status = proc.wait(timeout=60)
        assert err == "", (cmd, err)
        # argparse swallows write errors of --help itself (and exits 0).
        assert status == (ex.OK if cmd == ["--help"] else ex.BROKEN_PIPE), (cmd, status)
    cmd = f"'{sys.executable}' -m ikm_tui --module '{tok.module}' --token '{tok.label}' list | head -1"
    shell = subprocess.run(cmd, shell=True, capture_output=True, text=True, env=env,  # noqa: S602 - the pipe is the point
                           timeout=60)
    assert shell.stdout.startswith("token ") and shell.stderr == ""


def test_wrong_pin(token: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # A token of its own: the world's token is logged in, and a logged-in session sends no C_Login.
    # Last in the file: deleting this token afterwards confuses SoftHSM's view until a rescan.
    assert run(["--module", token.module, "--token", token.label, "list", "--login"], pin="00000000",
               monkeypatch=monkeypatch) == ex.PIN


def test_demo_without_softhsm_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A pip/pipx user without SoftHSM: what to install, no traceback, no `make demo` (issue #15)."""
    from ikm_tui.core.p11 import softhsm

    monkeypatch.setattr(softhsm, "softhsm_module", lambda: None)
    assert run(["demo", "--no-tui"], pin=None, monkeypatch=monkeypatch) == ex.NOT_FOUND
    err = capsys.readouterr().err
    assert "SoftHSM2 is not installed" in err and "apt install softhsm2" in err
    assert "make demo" not in err and "Traceback" not in err
    assert run(["demo", "--no-tui", "--json"], pin=None, monkeypatch=monkeypatch) == ex.NOT_FOUND
    import json

    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "ikm-tui/demo/v1" and doc["error"]["exit_status"] == ex.NOT_FOUND
    assert doc["token"] is None
