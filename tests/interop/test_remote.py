"""Remote tokens through p11-kit's RPC: `p11-kit remote libsofthsm2.so` run locally stands in for ssh.

The remote token lives in a SoftHSM home of its own that this process never loads: the only way to
it is `--remote`. Everything is run as the operator would, `ikm-tui` in a subprocess, and checked
with openssl.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jsonschema import Draft202012Validator

from ikm_tui.cli import exitcodes as ex
from ikm_tui.cli.jsonout import schema_path
from ikm_tui.core.p11 import softhsm
from ikm_tui.core.p11.remote import client_module
from tests.conftest import HOME, PIN, SO_PIN, delete_token, new_token
from tests.support.helpers import SoftCA

pytestmark = pytest.mark.skipif(client_module() is None or shutil.which("p11-kit") is None,
                                reason="p11-kit-client.so / p11-kit missing: run `make test` (bootstrap)")


class RemoteHost:
    """A SoftHSM home only `p11-kit remote` sees, and the --remote command that reaches it."""

    def __init__(self, root: Path, module: str) -> None:
        self.home = softhsm.make_home(root / "remote-host")
        self.label = "far-token"
        softhsm.init_token(self.home, self.label, PIN, SO_PIN)
        self.command = f"env SOFTHSM2_CONF={self.home.conf} p11-kit remote {module}"
        self.root = root

    def env(self, pin: bool = False) -> dict[str, str]:
        env = {**HOME.env(), "XDG_CONFIG_HOME": str(self.root / "config"),
               "XDG_CACHE_HOME": str(self.root / "cache")}
        env.pop("IKM_PIN", None)
        if pin:
            env["IKM_PIN"] = PIN
        return env

    def ikm(self, *args: str, pin: bool = False, remote: bool = True) -> subprocess.CompletedProcess[str]:
        pre = ["--remote", self.command] if remote else []
        return subprocess.run([sys.executable, "-m", "ikm_tui", *pre, *args], env=self.env(pin),
                              capture_output=True, text=True, timeout=120)


@pytest.fixture
def host(tmp_path: Path, module_path: str) -> RemoteHost:
    return RemoteHost(tmp_path, module_path)


def _expired_cert(tmp: Path) -> Path:
    """A certificate that expired 3 days ago, its key nowhere on a token."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old.example")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now - timedelta(days=400))
            .not_valid_after(now - timedelta(days=3)).sign(key, hashes.SHA256()))
    path = tmp / "old.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _floor_days(not_after: str, now: datetime) -> int:
    return math.floor((datetime.fromisoformat(not_after) - now).total_seconds() / 86400)


def test_expiry_across_two_local_tokens_and_a_remote(host: RemoteHost, service: Any, module_path: str) -> None:
    one, two = new_token(service, module_path), new_token(service, module_path)
    try:
        plan = [(one, "in-ten", 10), (two, "in-hundred", 100), (None, "far-in-five", 5), (None, "far-in-400", 400)]
        for tok, label, days in plan:
            where = ["--token", tok.label] if tok else ["--token", host.label]
            done = host.ikm(*where, "cert", "create", "--label", label, "--key-type", "ec:p256",
                            "--subject", f"CN={label}.example", "--days", str(days), pin=True)
            assert done.returncode == 0, done.stderr
        done = host.ikm("--token", two.label, "cert", "add", str(_expired_cert(host.root)), "--label", "old",
                        pin=True)
        assert done.returncode == 0, done.stderr
        before = datetime.now(timezone.utc)
        done = host.ikm("expiry", "--json", "--module", module_path)
        after = datetime.now(timezone.utc)
        assert done.returncode == ex.EXPIRING, done.stderr  # two are due within the default 30 days
        doc = json.loads(done.stdout)
        Draft202012Validator(json.loads(schema_path("expiry").read_text())).validate(doc)
        ours = [c for c in doc["certificates"] if c["token"] in (one.label, two.label, host.label)]
        assert [c["label"] for c in ours] == ["old", "far-in-five", "in-ten", "in-hundred", "far-in-400"]
        for c in ours:
            assert c["days_left"] in (_floor_days(c["not_after"], before), _floor_days(c["not_after"], after))
        by = {c["label"]: c for c in ours}
        assert by["old"]["days_left"] == -4 and by["old"]["expired"] and not by["old"]["key_on_token"]
        assert by["far-in-five"]["days_left"] == 4 and by["far-in-five"]["module"] == "remote"
        assert by["far-in-five"]["key"] == "public"  # before login: through its public-key object
        assert by["in-ten"]["token"] == one.label and by["in-ten"]["module_path"] == module_path
        assert [c["due"] for c in ours] == [True, True, True, False, False]
        assert doc["problems"] == [] and doc["due"] == 3 and doc["tokens_read"] >= 3
        # The window decides the status: only the remote, nothing within 3 days there.
        done = host.ikm("--module", "remote", "expiry", "--within", "3", "--json")
        assert done.returncode == ex.OK, done.stderr
        assert [c["label"] for c in json.loads(done.stdout)["certificates"]] == ["far-in-five", "far-in-400"]
    finally:
        delete_token(one)
        delete_token(two)


def test_unreachable_remote_is_reported_not_fatal(host: RemoteHost, module_path: str) -> None:
    bad = "p11-kit remote /nonexistent/module.so"
    done = subprocess.run([sys.executable, "-m", "ikm_tui", "--remote", bad, "--module", module_path,
                           "expiry", "--json", "--within", "0"], env=host.env(), capture_output=True,
                          text=True, timeout=120)
    doc = json.loads(done.stdout)
    assert [p["module"] for p in doc["problems"]] == ["remote"] and doc["problems"][0]["counts"]
    assert done.returncode == ex.FAILED


def test_request_and_receive_on_a_remote_token(host: RemoteHost, tmp_path: Path) -> None:
    """certreq create and cert receive (with the CA) on a token reached only through --remote."""
    tok = ["--token", host.label]
    csr = tmp_path / "web.csr"
    done = host.ikm(*tok, "certreq", "create", "--label", "web", "--key-type", "ec:p256",
                    "--subject", "CN=web.example,O=Example", "--san", "DNS:web.example", "--out", str(csr),
                    pin=True)
    assert done.returncode == 0, done.stderr
    verify = subprocess.run(["openssl", "req", "-in", str(csr), "-noout", "-verify"], capture_output=True,
                            text=True)
    # `openssl req -verify` exits 0 even on a bad signature: read what it says.
    assert "verify OK" in verify.stdout + verify.stderr and "fail" not in verify.stderr.lower()
    # Not visible locally: the token is on the "other host".
    local = host.ikm("tokens", "--json", remote=False)
    assert host.label not in local.stdout
    ca = SoftCA("Remote Test CA")
    req = x509.load_pem_x509_csr(csr.read_bytes())
    leaf = ca.issue(req.public_key(), "web.example", serial=4242, days=90)
    bundle = tmp_path / "web-chain.pem"
    bundle.write_bytes(leaf.public_bytes(serialization.Encoding.PEM)
                       + ca.cert.public_bytes(serialization.Encoding.PEM))
    done = host.ikm(*tok, "cert", "receive", str(bundle), "--with-chain", pin=True)
    assert done.returncode == 0, done.stderr + done.stdout
    got = tmp_path / "got.pem"
    done = host.ikm(*tok, "cert", "extract", "web", "--out", str(got))
    assert done.returncode == 0, done.stderr
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    ok = subprocess.run(["openssl", "verify", "-CAfile", str(ca_file), str(got)], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip().endswith("OK"), ok.stdout + ok.stderr
    listing = json.loads(host.ikm(*tok, "list", "--json", pin=True).stdout)
    certs = {o["label"]: o for o in listing["objects"] if o["class"] == "certificate"}
    assert certs["web"]["has_private_key"] and certs["web"]["serial"] == format(4242, "x")
    assert any(o["is_ca"] and o["subject"] == "CN=Remote Test CA" for o in certs.values())
    # The PIN went to the module, not into the remote command's environment or argv.
    assert PIN not in host.command and os.environ.get("IKM_PIN") is None


def test_ca_signs_a_request_pending_on_a_token_of_another_module(host: RemoteHost, service: Any, module_path: str,
                                                                 tmp_path: Path) -> None:
    """`ca sign --request-label` finds a request pending on another module's token: the CA is on a
    local SoftHSM token (libsofthsm2.so), the request on a token reached only through --remote
    (p11-kit-client.so): two tokens, two module paths, one machine."""
    tok = new_token(service, module_path)
    try:
        ca_pem, out = tmp_path / "ca.pem", tmp_path / "far-web.pem"
        ca = ["--module", module_path, "--token", tok.label]
        done = host.ikm(*ca, "ca", "create", "--label", "lab-ca", "--key-type", "ec:p256", "--subject",
                        "CN=Lab CA,O=ikm", "--out", str(ca_pem), pin=True, remote=False)
        assert done.returncode == 0, done.stderr
        done = host.ikm("--module", "remote", "--token", host.label, "certreq", "create", "--label", "far-web",
                        "--key-type", "ec:p256", "--subject", "CN=far-web.example,O=ikm", "--san",
                        "DNS:far-web.example", "--out", str(tmp_path / "far-web.csr"), pin=True)
        assert done.returncode == 0, done.stderr
        # Without --remote the request is nowhere this machine's modules can see.
        done = host.ikm(*ca, "ca", "sign", "--request-label", "far-web", "--ca", "lab-ca", "--out", str(out),
                        "--yes", pin=True, remote=False)
        assert done.returncode == ex.NOT_FOUND and "any token of this machine" in done.stderr, done.stderr
        done = host.ikm(*ca, "ca", "sign", "--request-label", "far-web", "--request-token", host.label, "--ca",
                        "lab-ca", "--out", str(out), "--yes", "--json", pin=True)
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert doc["plan"]["request"] == f"pending request 'far-web' on token {host.label!r} of module remote"
        ok = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", str(ca_pem), str(out)],
                            capture_output=True, text=True)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        cert = x509.load_pem_x509_certificate(out.read_bytes())
        assert cert.subject.rfc4514_string() == "CN=far-web.example,O=ikm"
    finally:
        delete_token(tok)
