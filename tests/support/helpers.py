"""Shared test helpers: external clients on the test token, a software CA."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def pkcs11_tool(tok: Any, *args: str, login: bool = True) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("pkcs11-tool")
    assert exe, "pkcs11-tool (opensc) missing: make test installs it"
    cmd = [exe, "--module", tok.module, "--token-label", tok.label]
    if login:
        # A throw-away test PIN; real PINs never go through argv.
        cmd += ["--login", "--pin", tok.pin]
    cmd += list(args)
    return subprocess.run(cmd, env=tok.env(), capture_output=True, text=True, check=True)


# Certificates are valid from here (or from yesterday, if earlier), so that lint at the TUI tests'
# fixed clock (make_snapshot_token.FIXED_NOW, 2026-01-15) does not find them "not yet valid".
VALID_FROM = datetime(2025, 1, 1, tzinfo=timezone.utc)


def _not_before(now: datetime) -> datetime:
    return min(now - timedelta(days=1), VALID_FROM)


class SoftCA:
    """A software CA that signs certificates for public keys read from the token."""

    def __init__(self, cn: str = "Test CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        now = datetime.now(timezone.utc)
        self.cert = (
            x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
            .public_key(self.key.public_key()).serial_number(1)
            .not_valid_before(_not_before(now)).not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            # Key identifiers: strict verifiers (and `cert receive`'s lint) reject a CA without them.
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def issue(self, public_key: Any, cn: str, serial: int = 100, days: int = 365) -> x509.Certificate:
        now = datetime.now(timezone.utc)
        return (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.name).public_key(public_key).serial_number(serial)
            .not_valid_before(_not_before(now)).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )


def _find_engine() -> str | None:
    import glob

    for pattern in ("/usr/lib/*/engines-3/pkcs11.so", "/usr/lib/engines-3/pkcs11.so"):
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


ENGINE = _find_engine()


def openssl_engine_env(tok: Any, tmp: Any) -> dict[str, str]:
    """Env for `openssl … -engine pkcs11` on the test token; the PIN reaches it as env:IKM_TEST_PIN."""
    import pytest

    if ENGINE is None or not shutil.which("openssl"):
        pytest.skip("libp11 OpenSSL engine (libengine-pkcs11-openssl) is not installed")
    conf = tmp / "openssl-pkcs11.cnf"
    conf.write_text(
        "openssl_conf = init\n[init]\nengines = engines\n[engines]\npkcs11 = pkcs11_sect\n"
        f"[pkcs11_sect]\nengine_id = pkcs11\ndynamic_path = {ENGINE}\nMODULE_PATH = {tok.module}\ninit = 0\n"
        "[req]\ndistinguished_name = dn\n[dn]\n")
    env = tok.env()
    env["OPENSSL_CONF"] = str(conf)
    env["IKM_TEST_PIN"] = tok.pin
    return env
