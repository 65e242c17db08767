"""A real TLS handshake fails for every ERROR family that breaks TLS, and lint names that failure.

Client certificates get the same treatment against a server that requires client authentication.

For each chosen corpus chain: `openssl s_server` on 127.0.0.1 (a free port, bounded time, killed
after) serves the leaf and its intermediates; `openssl s_client -verify_return_error -CAfile ROOT
-verify_hostname|-verify_ip HOST` must fail, and an ERROR finding of lint must contain openssl's own
failure text. Families that only strict clients refuse run the client with -x509_strict (what Python
3.13's ssl does by default).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from ikm_tui.core.x509.lint import assess
from tests.support.chains import AT, Chain, corpus, key
from tests.support.oracles import is_ip

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")]

# Chains that break a default TLS client (Debian: security level 2), one per ERROR family.
BREAKS_TLS = [
    "unknown-critical-leaf-server", "unknown-critical-int-server", "unknown-critical-root-server",
    "nc-dns-violated-server", "nc-ip-violated-server", "eku-any-only-server", "eku-wrong-server",
    "int-eku-excludes-server", "aki-critical-leaf-server", "ski-critical-int-server", "aki-mismatch-int-server",
    "ku-crlsign-only-server", "ku-no-bits-server", "ca-without-keycertsign-server", "issuer-not-ca-server",
    "pathlen-exceeded-server", "ip-as-dns", "host-mismatch", "weak-int-key-server", "weak-root-key-server",
    "weak-leaf-key-server", "sha1-leaf-server", "sha1-int-server", "expired-leaf-server", "expired-int-server",
    "missing-int-server", "root-recreated-server", "v1-intermediate-server",
]
# Chains only a strict client (-x509_strict) refuses.
BREAKS_STRICT_TLS = [
    "keycertsign-without-ca-server", "ca-without-ku-server", "ca-bc-not-critical-server", "leaf-without-aki-server",
    "int-without-ski-server", "san-empty-server", "subject-empty-san-noncritical-server",
    "v1-leaf-with-extensions-server",
]
# Client certificates a server requiring client auth refuses (s_server -Verify 1 -verify_return_error).
BREAKS_CLIENT_AUTH = [
    "eku-any-only-client", "eku-wrong-client", "int-eku-excludes-client", "ku-crlsign-only-client",
    "unknown-critical-leaf-client", "nc-dns-violated-client", "expired-leaf-client", "missing-int-client",
    "weak-int-key-client", "sha1-int-client",
]
CONTROL = ["ok-server", "ok-two-level-server", "sha1-root-self-signature-server", "ip-as-ip", "host-wildcard"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _files(chain: Chain, d: Path) -> None:
    d.mkdir()
    (d / "leaf.pem").write_bytes(chain.pem([chain.leaf]))
    (d / "chain.pem").write_bytes(chain.pem(chain.intermediates))
    (d / "root.pem").write_bytes(chain.pem([chain.root] if chain.root else []))
    (d / "key.pem").write_bytes(key(chain.leaf_key).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def handshake(chain: Chain, d: Path, *, strict: bool = False) -> tuple[bool, str]:
    """(handshake succeeded, what openssl said: the client's verify error or the server's refusal)."""
    _files(chain, d)
    port = _free_port()
    server_cmd = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-quiet",
                  "-cert", str(d / "leaf.pem"), "-key", str(d / "key.pem")]
    if chain.intermediates:
        server_cmd += ["-cert_chain", str(d / "chain.pem")]
    # stdin stays open: at EOF on stdin s_server would drop the connection.
    server = subprocess.Popen(server_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        _wait_listening(server, port)
        if server.poll() is not None:  # the server refused to use this certificate at all
            return False, _stop(server)
        return _client(chain, d, port, strict)
    finally:
        _stop(server)


def _stop(server: subprocess.Popen[str]) -> str:
    """Kill the server this test started (by its own handle) and return what it printed."""
    if server.poll() is None:
        server.kill()
    out, _ = server.communicate(timeout=10)
    return out or ""


def _wait_listening(server: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and server.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)


def _client(chain: Chain, d: Path, port: int, strict: bool) -> tuple[bool, str]:
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-verify_return_error",
           "-CAfile", str(d / "root.pem"), "-attime", str(int(AT.timestamp()))]
    host = chain.host or ""
    cmd += ["-verify_ip", host] if is_ip(host) else ["-servername", host, "-verify_hostname", host]
    cmd += ["-x509_strict"] if strict else []
    r = subprocess.run(cmd, input="", capture_output=True, text=True, timeout=20)
    out = r.stdout + r.stderr
    m = re.search(r"verify error:num=\d+:(.*)", out)
    return r.returncode == 0 and "Verify return code: 0 (ok)" in out, m.group(1).strip() if m else out


def client_auth(chain: Chain, server_chain: Chain, d: Path) -> tuple[bool, str]:
    """A clean server that requires a client certificate (-Verify 1 -verify_return_error) and trusts
    chain's root; s_client presents chain's leaf. (False, why) when the server refuses it."""
    _files(chain, d / "client")
    _files(server_chain, d / "server")
    port = _free_port()
    s, c = d / "server", d / "client"
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(s / "leaf.pem"), "-key",
         str(s / "key.pem"), "-cert_chain", str(s / "chain.pem"), "-Verify", "1", "-verify_return_error",
         "-CAfile", str(c / "root.pem")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_listening(server, port)
        # TLS 1.2: the server's verdict on the client certificate arrives inside the handshake.
        cmd = ["openssl", "s_client", "-tls1_2", "-connect", f"127.0.0.1:{port}", "-cert", str(c / "leaf.pem"),
               "-key", str(c / "key.pem"), "-CAfile", str(s / "root.pem"), "-verify_return_error"]
        cmd += ["-cert_chain", str(c / "chain.pem")] if chain.intermediates else []
        r = subprocess.run(cmd, input="", capture_output=True, text=True, timeout=20)
    finally:
        said = _stop(server)
    m = re.search(r"verify error:num=\d+:(.*)", said)
    client_refused = re.search(r":error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):", r.stdout + r.stderr)
    why = m.group(1).strip() if m else (client_refused.group(1) if client_refused else said)
    return r.returncode == 0 and m is None, why


_BY_ID = {c.id: c for c in corpus()}


def _error_text(chain: Chain) -> str:
    candidates = [*chain.intermediates, *([chain.root] if chain.root else [])]
    findings = assess(chain.leaf, candidates, now=AT, intended_use=chain.use, host=chain.host)
    return " ".join(f.message for f in findings if f.severity == "error")


def _check(cid: str, tmp_path: Path, strict: bool) -> None:
    chain = _BY_ID[cid]
    ok, said = handshake(chain, tmp_path / "tls", strict=strict)
    assert not ok, f"{cid}: the handshake succeeded"
    text = _error_text(chain)
    assert text, f"{cid}: the handshake failed ({said}) but lint found no error"
    # s_server refuses some certificates itself, with a lower-case reason ("ee key too small").
    refused = re.search(r":error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):", said)
    reason = refused.group(1) if refused else said
    assert reason.lower() in text.lower(), f"{cid}: openssl said {said!r}; lint said {text!r}"


@pytest.mark.parametrize("cid", BREAKS_TLS)
def test_tls_breaks_and_lint_names_why(cid: str, tmp_path: Path) -> None:
    _check(cid, tmp_path, strict=False)


@pytest.mark.parametrize("cid", BREAKS_STRICT_TLS)
def test_strict_tls_breaks_and_lint_names_why(cid: str, tmp_path: Path) -> None:
    _check(cid, tmp_path, strict=True)


@pytest.mark.parametrize("cid", CONTROL)
def test_clean_chains_handshake_and_lint_clean(cid: str, tmp_path: Path) -> None:
    chain = _BY_ID[cid]
    ok, said = handshake(chain, tmp_path / "tls", strict=True)
    assert ok, said
    assert _error_text(chain) == ""


@pytest.mark.parametrize("cid", BREAKS_CLIENT_AUTH)
def test_client_auth_breaks_and_lint_names_why(cid: str, tmp_path: Path) -> None:
    chain = _BY_ID[cid]
    ok, said = client_auth(chain, _BY_ID["ok-server"], tmp_path)
    assert not ok, f"{cid}: the server accepted the client certificate"
    text = _error_text(chain)
    assert said.lower() in text.lower(), f"{cid}: openssl said {said!r}; lint said {text!r}"


def test_clean_client_certificate_is_accepted(tmp_path: Path) -> None:
    ok, said = client_auth(_BY_ID["ok-client"], _BY_ID["ok-server"], tmp_path)
    assert ok, said
    assert _error_text(_BY_ID["ok-client"]) == ""
