"""'Show me the command': every action has a line (or a reason) per tool, no PIN, exact quoting, and it runs."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from typing import Any

import pytest

from ikm_tui.core.text.equivalents import (
    ACTIONS,
    PIN_PLACEHOLDER,
    TOOLS,
    CommandContext,
    equivalent_commands,
    format_equivalents,
    normalise_action,
    openssl_subject,
    render_argv,
)
from ikm_tui.core.pin import Pin
from tests.support.helpers import pkcs11_tool

SECRET = "80417263"  # a PIN-like value that must never show up
KEY_SPECS = ["rsa:2048", "ec:p256", "ec:p384", "ed25519"]
AWKWARD_LABELS = ["my key", "colin's key", 'say "hi"', "a;b|c&d $(x) `y`", "-leading-dash", "naïve ключ"]


def ctx_for(**kw: Any) -> CommandContext:
    base: dict[str, Any] = dict(module="/usr/lib/softhsm/libsofthsm2.so", token_label="UserPIN (my token)",
                                token_serial="1234abcd", label="web server", key_id="a1b2", subject="CN=web,O=SSS,C=GB",
                                in_file="in cert.pem", out_file="out file.pem")
    base.update(kw)
    return CommandContext.from_values(**base)


def all_cases() -> list[tuple[str, CommandContext]]:
    cases = []
    for action in ACTIONS:
        specs = KEY_SPECS if action in ("certreq-create", "cert-create") else ["rsa:2048"]
        types = ["cert", "private", "public", "request"] if action == "delete" else ["cert"]
        cases += [(action, ctx_for(key_spec=s, object_type=t)) for s in specs for t in types]
    return cases


@pytest.mark.parametrize(("action", "ctx"), all_cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_tool_answers_every_action(action: str, ctx: CommandContext) -> None:
    eqs = equivalent_commands(action, ctx)
    assert {e.tool for e in eqs} == set(TOOLS)
    for e in eqs:
        if not e.argv:
            assert e.note.startswith("no equivalent: ") and len(e.note) > 20, e
        else:
            # The first word is the tool (or `env` before openssl, certtool beside p11tool).
            assert e.argv[0] in (e.tool, "env", "certtool"), e


def test_the_gaps_runmqakm_users_hit_are_said() -> None:
    def akm(action: str, **kw: Any) -> Any:
        return next(e for e in equivalent_commands(action, ctx_for(**kw)) if e.tool == "runmqakm")

    assert not akm("cert-receive").available and "CTGSK3034W" in akm("cert-receive").note
    for spec in ("ec:p256", "ed25519"):
        assert not akm("certreq-create", key_spec=spec).available
        assert not akm("cert-create", key_spec=spec).available
    assert akm("certreq-create", key_spec="rsa:4096").argv[-6:] == [
        "-dn", "CN=web,O=SSS,C=GB", "-size", "4096", "-file", "out file.pem"]
    ed = equivalent_commands("certreq-create", ctx_for(key_spec="ed25519"))
    assert not next(e for e in ed if e.tool == "openssl").available  # libp11 0.4.12 cannot use Ed25519


def test_no_pin_ever_appears(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from ikm_tui.cli.common import show_commands

    monkeypatch.setenv("IKM_PIN", SECRET)
    monkeypatch.setenv("PIN", SECRET)
    args = argparse.Namespace(show_command=True)
    for action, ctx in all_cases():
        # A caller that hands over its PIN by mistake: it is dropped, not rendered.
        show_commands(args, action, pin=Pin(SECRET), **{k: getattr(ctx, k) for k in ("module", "label",
                                                                                       "key_spec", "object_type")})
        text = "\n".join(format_equivalents(equivalent_commands(action, ctx)))
        for e in equivalent_commands(action, ctx):
            assert SECRET not in e.argv and SECRET not in e.note
            assert not any(a == "--pin" and nxt != "env:PIN" for a, nxt in zip(e.argv, e.argv[1:])), e
            if e.tool == "runmqakm" and e.argv:
                assert e.argv[e.argv.index("-pw") + 1] == PIN_PLACEHOLDER
        assert SECRET not in text
    err = capsys.readouterr().err
    assert "# equivalent: " in err and SECRET not in err and SECRET.encode().hex() not in err


@pytest.mark.parametrize("label", AWKWARD_LABELS)
def test_labels_are_shell_quoted(label: str) -> None:
    for action in ACTIONS:
        for e in equivalent_commands(action, ctx_for(label=label, token_label=label, new_label=label)):
            if e.argv:
                assert shlex.split(e.render()) == e.argv, e.render()


@pytest.mark.parametrize("label", ["evil\x1b]0;owned\x07\u202ename", "tab\there", "it's\x1b[2J"])
def test_control_characters_are_escaped_but_exact_in_bash(label: str) -> None:
    # shlex cannot read $'...'; bash can, and that is where operators paste the line.
    line = render_argv(["printf", "%s", label])
    assert all(ch not in line for ch in ("\x1b", "\u202e", "\x07", "\t"))
    bash = shutil.which("bash")
    assert bash
    out = subprocess.run([bash, "-c", line], capture_output=True, text=True, check=True).stdout
    assert out == label


def test_subjects_convert_between_styles() -> None:
    assert openssl_subject("CN=colin,O=SSS,C=GB") == "/C=GB/O=SSS/CN=colin"
    assert openssl_subject("cn=colin,o=SSS") == "/O=SSS/CN=colin"  # runmqakm style
    assert openssl_subject("/C=GB/O=HW/CN=colinpaice") == "/C=GB/O=HW/CN=colinpaice"
    assert openssl_subject("CN=a/b,O=x") == "/O=x/CN=a\\/b"
    akm = next(e for e in equivalent_commands("certreq-create", ctx_for(subject="/C=GB/O=HW/CN=colinpaice"))
               if e.tool == "runmqakm")
    assert "CN=colinpaice,O=HW,C=GB" in akm.argv


def test_action_names_follow_the_ikm_commands() -> None:
    assert normalise_action("certreq create") == "certreq-create"
    assert normalise_action("cert_receive") == "cert-receive"
    assert normalise_action("pin change") == "pin-change"
    with pytest.raises(ValueError):
        normalise_action("frobnicate")
    with pytest.raises(ValueError):
        equivalent_commands("certreq-create", ctx_for(key_spec="dsa:1024"))


# --- the emitted commands run against a real SoftHSM token ---------------------------------------

def _env(tok: Any) -> dict[str, str]:
    env = tok.env()
    # Only here, in the test, does the placeholder meet a PIN: $PIN for pkcs11-tool/openssl,
    # $GNUTLS_PIN so p11tool does not prompt.
    env["PIN"] = tok.pin
    env["GNUTLS_PIN"] = tok.pin
    return env


def _run(tok: Any, e: Any) -> subprocess.CompletedProcess[str]:
    argv = [tok.pin if a == PIN_PLACEHOLDER else a for a in e.argv]
    return subprocess.run(argv, env=_env(tok), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def _pick(action: str, ctx: CommandContext, tool: str, first: str | None = None) -> Any:
    return next(e for e in equivalent_commands(action, ctx)
                if e.tool == tool and e.argv and (first is None or e.argv[0] == first))


@pytest.mark.interop
def test_pkcs11_tool_list_objects_runs(token: Any) -> None:
    pkcs11_tool(token, "--keypairgen", "--key-type", "rsa:2048", "--id", "01", "--label", "it's mine")
    ctx = CommandContext(module=token.module, token_label=token.label)
    res = _run(token, _pick("list", ctx, "pkcs11-tool"))
    assert res.returncode == 0, res.stderr
    assert "it's mine" in res.stdout and "Private Key Object" in res.stdout  # logged in via env:PIN


@pytest.mark.interop
def test_p11tool_list_runs(token: Any) -> None:
    if not shutil.which("p11tool"):
        pytest.skip("p11tool (gnutls-bin) not installed")
    pkcs11_tool(token, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "02", "--label", "ec key")
    ctx = CommandContext(module=token.module, token_label=token.label)
    res = _run(token, _pick("list", ctx, "p11tool"))
    assert res.returncode == 0, res.stderr
    assert "object=ec%20key" in res.stdout and "type=private" in res.stdout


@pytest.mark.interop
def test_keygen_request_extract_rename_delete_run(token: Any, tmp_path: Any) -> None:
    """A longer chain of emitted commands, each one run as printed."""
    ctx = CommandContext(module=token.module, token_label=token.label, label="web 'one'", key_id="0a",
                         subject="CN=web,O=SSS,C=GB", out_file=str(tmp_path / "req.pem"), key_spec="ec:p256")
    for e in (_pick("certreq-create", ctx, "pkcs11-tool"), _pick("certreq-create", ctx, "openssl")):
        res = _run(token, e)
        assert res.returncode == 0, (e.render(), res.stderr)
    verify = subprocess.run(["openssl", "req", "-in", ctx.out_file, "-noout", "-verify", "-subject"],
                            capture_output=True, text=True)
    assert "verify OK" in verify.stdout + verify.stderr and "CN = web" in verify.stdout

    cert = tmp_path / "self.pem"
    self_ctx = CommandContext.from_values(**{**ctx.__dict__, "out_file": str(cert)})
    for e in equivalent_commands("cert-create", self_ctx)[1:3]:  # openssl self-sign, pkcs11-tool write-back
        res = _run(token, e)
        assert res.returncode == 0, (e.render(), res.stderr)
    out = tmp_path / "cert.der"
    res = _run(token, _pick("cert-extract", CommandContext.from_values(**{**ctx.__dict__, "out_file": str(out)}),
                            "pkcs11-tool"))
    assert res.returncode == 0 and out.stat().st_size > 100, res.stderr

    if shutil.which("p11tool"):
        ren = CommandContext.from_values(**{**ctx.__dict__, "new_label": "web two"})
        for e in equivalent_commands("rename", ren):
            if e.tool == "p11tool":
                assert _run(token, e).returncode == 0, e.render()
        listing = pkcs11_tool(token, "--list-objects").stdout
        assert listing.count("web two") == 3 and "web 'one'" not in listing

    gone = CommandContext.from_values(**{**ctx.__dict__, "label": "web two", "object_type": "cert"})
    res = _run(token, _pick("delete", gone, "pkcs11-tool"))
    assert res.returncode == 0, res.stderr
    assert "Certificate Object" not in pkcs11_tool(token, "--list-objects").stdout


def test_cli_show_command_and_howto(token: Any) -> None:
    env = token.env()
    env.pop("IKM_PIN", None)
    res = subprocess.run([sys.executable, "-m", "ikm_tui", "--module", token.module, "--token", token.label,
                          "list", "--json", "--show-command"], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.lstrip().startswith("{")  # stdout stays JSON; the commands go to stderr
    assert "# equivalent: pkcs11-tool --module" in res.stderr
    assert f"--token-label {shlex.quote(token.label)} --list-objects" in res.stderr  # not logged in: no --login
    assert "runmqakm -cert -list" in res.stderr

    res = subprocess.run([sys.executable, "-m", "ikm_tui", "howto", "certreq", "create", "--key-type", "ec:p256"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "EC:prime256v1" in res.stdout and "runmqakm: no equivalent" in res.stdout
    res = subprocess.run([sys.executable, "-m", "ikm_tui", "howto", "nonsense"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 4  # not found (cli/exitcodes.py)
    assert os.environ.get("IKM_PIN") is None
