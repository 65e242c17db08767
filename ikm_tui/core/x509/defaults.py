"""The key usage and extended key usage a new request or certificate gets unless told otherwise.

One definition for both front ends: the TUI's request form shows these as its starting values,
the CLI's `certreq create` / `cert create` use them when --key-usage / --eku are not given.
"""

from __future__ import annotations

DEFAULT_EKU = "serverAuth,clientAuth"


def default_key_usage(key_type: str) -> str:
    """digitalSignature+keyEncipherment for an RSA server key; digitalSignature for EC and Ed25519."""
    return "digitalSignature,keyEncipherment" if key_type.startswith("rsa") else "digitalSignature"
