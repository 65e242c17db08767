"""The two TLS oracles lint is judged against: `openssl verify -x509_strict` and cryptography's verifier."""

from __future__ import annotations

import ipaddress
import subprocess
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from tests.support.chains import AT, Chain


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def openssl_verify(chain: Chain, workdir: Path) -> tuple[bool, str]:
    """(accepted, openssl's output) for `openssl verify -x509_strict -auth_level 2 -purpose ssl<use>`."""
    d = Path(tempfile.mkdtemp(dir=workdir))
    (d / "leaf.pem").write_bytes(chain.pem([chain.leaf]))
    (d / "ca.pem").write_bytes(chain.pem([*([chain.root] if chain.root else []), *chain.trusted]))
    (d / "untrusted.pem").write_bytes(chain.pem(chain.intermediates))
    cmd = [
        "openssl",
        "verify",
        "-x509_strict",
        "-auth_level",
        "2",
        "-purpose",
        f"ssl{chain.use}",
        "-attime",
        str(int(AT.timestamp())),
    ]
    # Without an anchor, trust nothing at all (not even the system store).
    cmd += (
        ["-CAfile", str(d / "ca.pem")] if chain.root or chain.trusted else ["-no-CAfile", "-no-CApath", "-no-CAstore"]
    )
    if chain.intermediates:
        cmd += ["-untrusted", str(d / "untrusted.pem")]
    if chain.host:
        cmd += ["-verify_ip" if is_ip(chain.host) else "-verify_hostname", chain.host]
    r = subprocess.run([*cmd, str(d / "leaf.pem")], capture_output=True, text=True, timeout=30)
    return r.returncode == 0, (r.stdout + r.stderr).strip()


def cryptography_verify(chain: Chain) -> tuple[bool, str]:
    """(accepted, reason) from cryptography's x509.verification (Web PKI profile)."""
    try:
        anchors = [
            x509.load_der_x509_certificate(d) for d in ([chain.root] if chain.root else []) + list(chain.trusted)
        ]
        if not anchors:
            return False, "no trust anchor"
        builder = PolicyBuilder().store(Store(anchors)).time(AT)
        leaf = x509.load_der_x509_certificate(chain.leaf)
        ints = [x509.load_der_x509_certificate(d) for d in chain.intermediates]
        if chain.use == "server":
            subject: x509.verification.Subject = (
                x509.IPAddress(ipaddress.ip_address(chain.host))
                if is_ip(chain.host or "")
                else x509.DNSName(chain.host or "")
            )
            builder.build_server_verifier(subject).verify(leaf, ints)
        else:
            builder.build_client_verifier().verify(leaf, ints)
        return True, ""
    except VerificationError as exc:
        return False, str(exc)
    except Exception as exc:  # noqa: BLE001 - a certificate the verifier cannot even load is a rejection
        return False, f"{type(exc).__name__}: {exc}"
