"""core/x509/pem.py: the one PEM codec, against OpenSSL-style text from cryptography."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ikm_tui.core.x509 import pem


def _cert() -> x509.Certificate:
    import datetime

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pem test")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))


CERT = _cert()
DER = CERT.public_bytes(serialization.Encoding.DER)
PEM = CERT.public_bytes(serialization.Encoding.PEM)


def test_encode_matches_openssl_layout() -> None:
    assert pem.encode(DER).encode("ascii") == PEM
    text = pem.encode(b"\x01" * 100, "CERTIFICATE REQUEST")
    assert text.startswith("-----BEGIN CERTIFICATE REQUEST-----\n")
    assert text.endswith("-----END CERTIFICATE REQUEST-----\n")
    assert max(len(line) for line in text.splitlines()) == 64


def test_decode_round_trip_tolerates_crlf_indent_and_headers() -> None:
    assert pem.decode(PEM) == DER
    assert pem.decode(PEM.replace(b"\n", b"\r\n")) == DER
    indented = b"\n".join(b"   " + line for line in PEM.splitlines())
    assert pem.decode(indented) == DER
    body = PEM.split(b"\n", 1)[1]
    with_header = b"-----BEGIN CERTIFICATE-----\nProc-Type: 4,NONE\n\n" + body
    assert pem.decode(with_header) == DER
    assert pem.decode(PEM.decode("ascii")) == DER  # str in, too


def test_decode_wants_exactly_one_block_of_the_label() -> None:
    with pytest.raises(pem.PemError, match="found 2"):
        pem.decode(PEM + PEM)
    with pytest.raises(pem.PemError, match="expected one CERTIFICATE REQUEST block, found 0"):
        pem.decode(PEM, "CERTIFICATE REQUEST")
    assert pem.decode(b"text\n" + PEM + pem.encode(b"\x05", "X509 CRL").encode(), "CERTIFICATE") == DER


def test_split_keeps_order_labels_and_ignores_text_around() -> None:
    bundle = (b"subject=CN=pem test\n" + PEM + b"junk between\n"
              + pem.encode(b"\x30\x00", "PKCS #7 SIGNED DATA").encode() + b"trailer")
    assert pem.split(bundle) == [("CERTIFICATE", DER), ("PKCS #7 SIGNED DATA", b"\x30\x00")]
    assert pem.is_pem(bundle) and not pem.is_pem(DER)
    # BEGIN and END labels must agree.
    assert pem.split(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END X509 CRL-----\n") == []


def test_damaged_base64_is_an_error_naming_the_label() -> None:
    bad = b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"
    with pytest.raises(pem.PemError, match="CERTIFICATE block is not valid base64"):
        pem.split(bad)
    assert isinstance(pem.PemError("x"), ValueError)


def test_certificate_blobs_for_the_linter() -> None:
    assert pem.certificate_blobs(DER) == [DER]  # no PEM: the file is the blob
    bad = b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"
    csr_block = pem.encode(b"\x30\x00", "CERTIFICATE REQUEST").encode()
    trusted = pem.encode(DER, "TRUSTED CERTIFICATE").encode()
    assert pem.certificate_blobs(PEM + bad + csr_block + trusted) == [DER, b"", DER]
