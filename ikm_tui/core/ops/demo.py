"""The demo token: a SoftHSM token in the user's data dir, seeded with the cases operators meet."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ikm_tui.core.errors import NotFoundError
from ikm_tui.core.p11 import keys, objects, softhsm
from ikm_tui.core.pin import Pin
from ikm_tui.core.p11.backend import Backend

DEMO_LABEL = "UserPIN (mytoken)"
DEMO_PIN = "123456"
DEMO_SO_PIN = "12345678"


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "ikm-tui" / "demo"


def _name(cn: str, o: str = "ikm-tui demo") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, o),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class _CA:
    def __init__(self, now: datetime) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name("ikm-tui Demo CA")
        ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name).issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(0x1000)
            .not_valid_before(now - timedelta(days=30))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(ski, critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def issue(self, cn: str, public_key: Any, serial: int, not_before: datetime, not_after: datetime,
              server: bool = True, key_cert_sign_without_ca: bool = False) -> bytes:
        b = (
            x509.CertificateBuilder()
            .subject_name(_name(cn)).issuer_name(self.name)
            .public_key(public_key).serial_number(serial)
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        # KeyUsage(digital_signature, content_commitment, key_encipherment, data_encipherment,
        #          key_agreement, key_cert_sign, crl_sign, encipher_only, decipher_only)
        if key_cert_sign_without_ca:
            ku = x509.KeyUsage(True, False, False, False, False, True, False, False, False)
        else:
            # keyEncipherment only for RSA: an EC key cannot encipher, and our own lint (rightly)
            # warned about the demo's EC certificate when it carried it.
            rsa_key = isinstance(public_key, rsa.RSAPublicKey)
            ku = x509.KeyUsage(True, False, rsa_key, False, False, False, False, False, False)
        b = b.add_extension(ku, critical=True)
        eku = [ExtendedKeyUsageOID.CLIENT_AUTH]
        if server:
            eku.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        return b.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def seed(backend: Any, slot_id: int, now: datetime | None = None) -> None:
    """Fill a logged-in token with the demo cases. Runs on the owner thread (service.run)."""
    now = now or datetime.now(timezone.utc).replace(microsecond=0)
    ca = _CA(now)
    year = timedelta(days=365)

    def on_token(spec: str, label: str, cn: str, serial: int, nb: datetime, na: datetime) -> None:
        made = keys.generate_keypair(backend, slot_id, keys.KeySpec.parse(spec), label)
        pub = serialization.load_der_public_key(made["spki"])
        der = ca.issue(cn, pub, serial, nb, na)
        objects.write_certificate(backend, slot_id, der, label, made["id"])

    on_token("rsa:2048", "mq-server", "mq.example.com", 0x2001, now - timedelta(days=10), now + year)
    on_token("ec:p256", "app-client", "app.example.com", 0x2002, now - timedelta(days=10), now + year)
    on_token("rsa:2048", "old-server", "old.example.com", 0x2003, now - 2 * year, now - year)
    keys.generate_keypair(backend, slot_id, keys.KeySpec.parse("ec:p256"), "new-key-no-cert")
    ca_der = ca.cert.public_bytes(serialization.Encoding.DER)
    objects.write_certificate(backend, slot_id, ca_der, "ikm-tui Demo CA",
                              keys.key_id_for(ca.key.public_key().public_bytes(
                                  serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)),
                              objects.CATEGORY_AUTHORITY)
    partner_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = ca.issue("partner.example.org", partner_key.public_key(), 0x2004, now - timedelta(days=5), now + year,
                   server=False)
    objects.write_certificate(backend, slot_id, der, "partner (no key)", b"\x50\x01",
                              objects.CATEGORY_OTHER_ENTITY)
    bad_key = ec.generate_private_key(ec.SECP256R1())
    der = ca.issue("intermediate.example.com", bad_key.public_key(), 0x2005, now - timedelta(days=5),
                   now + year, key_cert_sign_without_ca=True)
    objects.write_certificate(backend, slot_id, der, "keyCertSign-but-not-CA", b"\x50\x02",
                              objects.CATEGORY_UNSPECIFIED)


def ensure_demo_token(service_factory: Any, root: Path | None = None) -> tuple[str, str]:
    """Create and seed the demo token on first use. Returns (module path, token label).

    Sets SOFTHSM2_CONF for this process: SoftHSM reads it when the module initialises.
    """
    module = softhsm.softhsm_module()
    if module is None or shutil.which("softhsm2-util") is None:
        raise NotFoundError(
            "SoftHSM2 is not installed: the demo token is a SoftHSM2 token ikm-tui creates for you.",
            "Install it, then run `ikm-tui demo` again: Debian/Ubuntu `sudo apt install softhsm2`, "
            "Fedora/RHEL `sudo dnf install softhsm`, Arch `sudo pacman -S softhsm`, macOS `brew install softhsm`.",
            operation="Creating the demo token")
    home = softhsm.make_home(root or data_dir()) if not (root or data_dir()).joinpath("softhsm2.conf").exists() \
        else softhsm.SoftHsmHome(root or data_dir())
    os.environ["SOFTHSM2_CONF"] = str(home.conf)
    marker = home.root / "seeded"
    if not marker.exists():
        for child in home.tokendir.iterdir():  # a half-seeded token from an interrupted run
            shutil.rmtree(child, ignore_errors=True)
        softhsm.init_token(home, DEMO_LABEL, DEMO_PIN, DEMO_SO_PIN)
        service = service_factory(module)
        try:
            slot = service.run(Backend.find_slot, DEMO_LABEL)
            service.run(Backend.login, slot, Pin(DEMO_PIN))
            service.run(seed, slot)
            service.run(Backend.logout, slot)
        finally:
            pass
        marker.write_text("seeded\n")
    return module, DEMO_LABEL
