"""A "remote host" for the remote-token tests: a SoftHSM home this process never loads, reached
through `p11-kit remote` (optionally behind tests/support/delay_relay.py, a link with a round-trip time)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ikm_tui.core.p11 import softhsm
from tests.conftest import PIN, SO_PIN

RELAY = Path(__file__).resolve().parent / "delay_relay.py"

# argv: module, token label, PIN, count. Certificate c<i> expires in 10 + i days.
SEED = """
import sys, datetime, pkcs11
from pkcs11 import Attribute, ObjectClass, CertificateType
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
lib = pkcs11.lib(sys.argv[1]); tok = lib.get_token(token_label=sys.argv[2]); n = int(sys.argv[4])
key = ec.generate_private_key(ec.SECP256R1()); now = datetime.datetime.now(datetime.timezone.utc)
with tok.open(rw=True, user_pin=sys.argv[3]) as s:
    for i in range(n):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"c{i}.example")])
        c = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
             .serial_number(i + 1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=10 + i))
             .sign(key, hashes.SHA256()))
        s.create_object({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                         Attribute.TOKEN: True, Attribute.LABEL: f"c{i}", Attribute.ID: i.to_bytes(2, "big"),
                         Attribute.SUBJECT: name.public_bytes(),
                         Attribute.VALUE: c.public_bytes(serialization.Encoding.DER)})
"""


def far_token_with_certs(root: Path, module: str, label: str, count: int) -> softhsm.SoftHsmHome:
    """A token in a SoftHSM home of its own with `count` certificates (no keys), c0 expiring first."""
    home = softhsm.make_home(root)
    softhsm.init_token(home, label, PIN, SO_PIN)
    # Seeded in a process of its own: the test process has SoftHSM loaded with the suite's config.
    subprocess.run([sys.executable, "-c", SEED, module, label, PIN, str(count)], env=home.env(),
                   check=True, timeout=120)
    return home


def delayed_remote(home: softhsm.SoftHsmHome, module: str, rtt: float, count: Path | None = None) -> str:
    """The --remote command reaching `home` over a link of `rtt` seconds; `count`: where the relay
    writes one line per PKCS#11 call (round_trips() reads it)."""
    counting = f"--count {count} " if count is not None else ""
    return (f"{sys.executable} {RELAY} {counting}{int(rtt * 1000)} "
            f"env SOFTHSM2_CONF={home.conf} p11-kit remote {module}")


# p11-kit/rpc-message.h's call ids (the enum follows CK_FUNCTION_LIST: C_Initialize is 1).
RPC_CALLS = {1: "C_Initialize", 3: "C_GetInfo", 4: "C_GetSlotList", 5: "C_GetSlotInfo", 6: "C_GetTokenInfo",
             7: "C_GetMechanismList", 8: "C_GetMechanismInfo", 10: "C_OpenSession", 24: "C_GetAttributeValue",
             26: "C_FindObjectsInit", 27: "C_FindObjects", 28: "C_FindObjectsFinal"}


def round_trips(count: Path) -> list[str]:
    """The RPC call ids the relay passed on so far, one per round trip (p11-kit/rpc-message.h)."""
    try:
        return [RPC_CALLS.get(int(line), line) for line in count.read_text().split()]
    except FileNotFoundError:
        return []
