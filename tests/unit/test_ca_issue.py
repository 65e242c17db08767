"""The CA profiles (core/x509/issue.py): a leaf never carries CA bits; serials are 16 positive bytes."""

from __future__ import annotations

import pytest
from asn1crypto import keys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ikm_tui.cli import ca as cli_ca
from ikm_tui.core.ops import ca as ops_ca
from ikm_tui.core.x509 import crl, issue
from ikm_tui.core.x509.dn import parse_dn


def _spki(kind: str) -> keys.PublicKeyInfo:
    key = (ec.generate_private_key(ec.SECP256R1()) if kind == "ec"
           else rsa.generate_private_key(public_exponent=65537, key_size=2048))
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return keys.PublicKeyInfo.load(der)


@pytest.mark.parametrize("profile", ["server", "client", "both"])
@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_leaf_profiles_never_carry_ca_bits(profile: str, kind: str) -> None:
    exts = {e["extn_id"].native: e for e in issue.leaf_extensions(profile, parse_dn("CN=x"), _spki(kind),
                                                                   None, b"\x01" * 20)}
    assert exts["basic_constraints"]["critical"].native is True
    assert exts["basic_constraints"]["extn_value"].parsed["ca"].native is False
    ku = set(exts["key_usage"]["extn_value"].parsed.native)
    assert ku == ({"digital_signature", "key_encipherment"} if kind == "rsa" else {"digital_signature"})
    assert exts["authority_key_identifier"]["extn_value"].parsed["key_identifier"].native == b"\x01" * 20


def test_subca_is_not_a_leaf_profile() -> None:
    with pytest.raises(ValueError):
        issue.leaf_extensions("subca", parse_dn("CN=x"), _spki("ec"), None, b"\x01" * 20)


def test_serials_are_sixteen_positive_bytes() -> None:
    serials = {issue.random_serial() for _ in range(1000)}
    assert len(serials) == 1000
    assert all(s > 0 and s.bit_length() == 127 for s in serials)  # 16 bytes in DER, no sign padding


def test_cli_lists_match_the_core() -> None:
    assert cli_ca.REASONS == crl.REASONS
    assert cli_ca.CA_KEY_TYPES == ops_ca.CA_KEY_TYPES
