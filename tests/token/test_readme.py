"""The README's commands, run as written on a SoftHSM test token, so the README cannot drift from the code.

Every `ikm-tui` line of the README's ```sh blocks runs in order in one directory, through a shell
(pipes and quoting as a reader would type them), with only the token swapped in: the module path
and the token label of the examples become the test token's. Lines that open the TUI (no command)
are only parsed. The commands in the runmqakm table are parsed with their placeholders filled in.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ikm_tui.cli.main import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE_MODULE = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
EXAMPLE_TOKENS = ('"UserPIN (SmartCard-HSM)"', '"UserPIN (mytoken)"')


def readme_commands() -> list[str]:
    """The ikm-tui command lines of the ```sh blocks, continuation lines joined, comments dropped."""
    text = README.read_text(encoding="utf-8")
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if re.match(r"^(\.venv/bin/)?ikm-tui\b", line):
                lines.append(line)
    return lines


def table_commands() -> list[str]:
    """The `ikm-tui ...` cells of the README's tables."""
    rows = [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    return [c for row in rows for c in re.findall(r"`(ikm-tui [^`]*)`", row)]


def _for_test_token(line: str, tok: Any) -> str:
    line = line.replace(".venv/bin/ikm-tui", "ikm-tui").replace(EXAMPLE_MODULE, shlex.quote(tok.module))
    for label in EXAMPLE_TOKENS:
        line = line.replace(label, shlex.quote(tok.label))
    if "--token" not in line:
        line = line.replace("ikm-tui", f"ikm-tui --token {shlex.quote(tok.label)}", 1)
    return line


def _ca_signs(tmp: Path, csr_file: str, pem_file: str) -> None:
    """What a CA does between `certreq create` and `cert receive`: sign, send back leaf + chain.

    A CA as the lint expects of a real one (key identifiers, key usage), so `cert lint` is clean.
    """
    from datetime import datetime, timedelta, timezone

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "README CA")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
          .not_valid_after(now + timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(ski, critical=False).sign(key, hashes.SHA256()))
    csr = x509.load_pem_x509_csr((tmp / csr_file).read_bytes())
    leaf = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(name).public_key(csr.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=90))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("web01.example.com")]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False)
            .add_extension(aki, critical=False).sign(key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (tmp / pem_file).write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))


def test_readme_commands_run_as_written(token: Any, tmp_path: Path) -> None:
    commands = readme_commands()
    assert len(commands) >= 15, commands
    bindir = tmp_path / "bin"
    bindir.mkdir()
    # `ikm-tui` as a reader has it: this interpreter's entry point (the venv may not be on PATH).
    launcher = bindir / "ikm-tui"
    launcher.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m ikm_tui \"$@\"\n")
    launcher.chmod(0o755)
    (tmp_path / "home").mkdir()
    env = {**token.env(), "HOME": str(tmp_path / "home"), "IKM_PIN": token.pin, "IKM_MODULE": token.module,
           "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    ran = 0
    for line in commands:
        cmd = _for_test_token(line, token)
        argv = shlex.split(re.split(r"[|>]", cmd)[0])[1:]
        try:
            ns = build_parser().parse_args(argv)
        except SystemExit as exc:  # --version, --help: printed and done
            assert exc.code == 0, line
        else:
            if ns.command is None:
                continue  # opens the TUI: parsed above, not run
        if "cert receive web01.pem" in cmd:
            _ca_signs(tmp_path, "web01.csr", "web01.pem")
        res = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=120, stdin=subprocess.DEVNULL)
        # A pipe into `head` may end the command by SIGPIPE (141): that is the documented quiet exit.
        assert res.returncode in ((0, 141) if "| head" in cmd else (0,)), f"{line}\n{res.stderr}"
        assert "Traceback" not in res.stderr, line
        ran += 1
    assert ran >= 14


@pytest.mark.parametrize("cell", table_commands())
def test_readme_table_commands_parse(cell: str) -> None:
    """Placeholders filled in (L, F, DN, ...), optional parts dropped, alternatives take the first."""
    text = cell.replace("\\|", "|")
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"([^\s|]+)(\|[^\s|]+)+", r"\1", text)  # pem|der -> pem, rsa:N|ec:p256|ed25519 -> rsa:N
    text = text.replace("…", "ec:p256").replace("rsa:N", "rsa:2048")
    fills = {"L": "web01", "F": "web01.pem", "DN": "CN=web01", "D": "365", "OLD": "a", "NEW": "b",
             "ACTION": "list"}
    argv = [fills.get(w, w) for w in shlex.split(text)][1:]
    build_parser().parse_args(argv)  # SystemExit (status 2) when the README names a missing option
