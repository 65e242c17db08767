"""core/x509/names.py: one vocabulary table, checked against cryptography's and asn1crypto's own names."""

from __future__ import annotations

import ipaddress

import pytest
from asn1crypto import keys as akeys
from asn1crypto import x509 as ax
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from ikm_tui.core.x509 import names


@pytest.mark.parametrize("spelling", ["p256", "P-256", "prime256v1", "secp256r1", "nistp256", "SECP256R1"])
def test_every_spelling_of_p256_is_one_curve(spelling: str) -> None:
    c = names.curve(spelling)
    assert c is not None and c.name == "p256" and c.oid == "1.2.840.10045.3.1.7" and c.bits == 256


def test_curve_table_agrees_with_cryptography_and_asn1crypto() -> None:
    for c in names.CURVES:
        assert names.curve_by_oid(c.oid) is c
        if c.kind == "ec":
            curve = ec.get_curve_for_oid(x509.ObjectIdentifier(c.oid))
            assert curve.name == c.sec and curve.key_size == c.bits
            # asn1crypto knows the OID under some name: the table's OID is a real named curve.
            assert akeys.NamedCurve(c.oid).dotted == c.oid
    assert [c.name for c in names.generated_ec_curves()] == ["p256", "p384", "p521"]
    assert names.curve("p192") is None and names.curve("brainpoolP384r1") is not None
    with pytest.raises(ValueError, match="unknown curve 'p192'"):
        names.require_curve("p192")


def test_key_types_offered() -> None:
    assert names.KEY_TYPES == ("rsa:2048", "rsa:3072", "rsa:4096", "ec:p256", "ec:p384", "ec:p521", "ed25519")


def test_key_usage_bits_match_both_libraries() -> None:
    assert [k.bit for k in names.KEY_USAGES] == [ax.KeyUsage._map[i] for i in range(9)]  # noqa: SLF001
    full = x509.KeyUsage(True, True, True, True, True, True, True, True, True)
    assert names.key_usage_names(full) == tuple(k.name for k in names.KEY_USAGES)
    # encipherOnly/decipherOnly only count with keyAgreement (cryptography raises otherwise).
    ku = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
    assert names.key_usage_names(ku) == ("digitalSignature", "keyEncipherment")
    for typed in ("digitalSignature", "digital_signature", "DIGITAL-SIGNATURE"):
        assert names.key_usage_bit(typed) is names.KEY_USAGES[0]
    assert names.key_usage_bit("contentCommitment") is names.key_usage_bit("nonRepudiation")
    assert names.key_usage_bit("sign") is None


def test_eku_names_and_oids() -> None:
    assert names.extended_key_usage("serverauth").oid == ExtendedKeyUsageOID.SERVER_AUTH.dotted_string
    assert names.extended_key_usage("OCSP-Signing") is names.extended_key_usage("OCSPSigning")
    for e in names.EXTENDED_KEY_USAGES:
        assert ax.KeyPurposeId(e.asn1).dotted == e.oid
    oids = [ExtendedKeyUsageOID.CLIENT_AUTH, x509.ObjectIdentifier("1.2.3.4")]
    assert names.eku_names(oids) == ("clientAuth", "1.2.3.4")
    assert names.eku_names(["1.3.6.1.5.5.7.3.1"]) == ("serverAuth",)


def test_san_kinds_and_text() -> None:
    assert names.san_kind("IP Address").prefix == "IP" and names.san_kind("dns").asn1 == "dns_name"
    assert names.san_kind("otherName") is None
    gns = [x509.DNSName("a.example"), x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
           x509.RFC822Name("a@example.com"), x509.UniformResourceIdentifier("https://a.example/"),
           x509.DirectoryName(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "x")])),
           x509.RegisteredID(x509.ObjectIdentifier("1.2.3"))]
    assert [names.san_text(g) for g in gns] == ["DNS:a.example", "IP:192.0.2.1", "email:a@example.com",
                                                "URI:https://a.example/", "DirName:CN=x", "RegisteredID"]
    for kind in names.SAN_KINDS:
        assert hasattr(x509, kind.crypto) and kind.asn1 in [alt[0] for alt in ax.GeneralName._alternatives]  # noqa: SLF001
