"""A remote token on a 20 ms link: 100 certificates listed within (objects + 15) x RTT + 1 s.

`tests/support/delay_relay.py` holds every RPC request 20 ms in front of `p11-kit remote`, so each
PKCS#11 call costs one round trip, as ssh to a host that far away would. The listing's budget is one
attribute read per object plus a constant handful of calls (load, slots, session, searches).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ikm_tui.core.p11 import softhsm
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.p11.modules import remote_candidates
from ikm_tui.core.p11.remote import client_module, request
from ikm_tui.core.p11.service import get_service
from tests.conftest import PIN, SO_PIN

RTT = 0.020
N = 100
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(client_module() is None, reason="p11-kit-client.so missing (bootstrap)")

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


def test_hundred_certificates_over_a_20ms_link(tmp_path: Path, module_path: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    home = softhsm.make_home(tmp_path / "far")
    softhsm.init_token(home, "hundred", PIN, SO_PIN)
    # Seeded in a process of its own: this one has SoftHSM loaded with the suite's config.
    subprocess.run([sys.executable, "-c", SEED, module_path, "hundred", PIN, str(N)], env=home.env(),
                   check=True, timeout=120)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    command = (f"{sys.executable} -m tests.support.delay_relay {int(RTT * 1000)} "
               f"env SOFTHSM2_CONF={home.conf} p11-kit remote {module_path}")
    monkeypatch.chdir(ROOT)  # the relay runs as `python -m tests.support...`
    request([command])
    try:
        cand = remote_candidates()[0]
        started = time.monotonic()
        svc: Any = get_service(cand.path)
        svc.wait_ready()
        slot = svc.run(Backend.find_slot, "hundred")
        token_shown = time.monotonic() - started
        listing = svc.run(Backend.list_objects, slot)
        listed = time.monotonic() - started
    finally:
        request([])
    certs = [o for o in listing.objects if o.cert is not None and o.cert.not_after is not None]
    budget = (N + 15) * RTT + 1.0
    print(f"20 ms link: token in the tree after {token_shown:.2f} s, {len(certs)} certificates listed "
          f"after {listed:.2f} s (budget {budget:.2f} s)")
    assert len(certs) == N
    assert token_shown < 1.0
    assert listed < budget
