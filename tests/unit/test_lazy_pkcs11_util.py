"""`import pkcs11` through ikm_tui.core.p11 leaves pkcs11.util.* (and asn1crypto) for first use."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys, threading
import ikm_tui.core.p11.backend
print("asn1crypto" in sys.modules, type(sys.modules["pkcs11.util.ec"]).__name__)
from pkcs11.util import rsa
from pkcs11.util.ec import encode_named_curve_parameters
out = []
threads = [threading.Thread(target=lambda: out.append(rsa.encode_rsa_public_key)) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(encode_named_curve_parameters("secp256r1").hex(), len(set(out)), type(sys.modules["pkcs11.util.ec"]).__name__)
"""


def test_listing_imports_no_asn1crypto_and_util_loads_on_use() -> None:
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True)
    first, second = done.stdout.splitlines()
    assert first == "False _LazyModule"  # the backend (the listing path) imported no asn1crypto
    # First use ran the real module, once even from four threads at a time.
    assert second == "06082a8648ce3d030107 1 module"
