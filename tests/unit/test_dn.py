"""DN and SAN parsing: order in the three syntaxes, encodings against OpenSSL, useful errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import csr as asn1_csr
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from ikm_tui.core.x509.dn import format_dn, parse_dn, parse_san


def crypto_name(name: asn1_x509.Name) -> x509.Name:
    """Our Name as cryptography sees it (it has no public Name loader, so go through a CSR)."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    der = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    req = asn1_csr.CertificationRequest.load(der)
    info = req["certification_request_info"]
    info["subject"] = name
    # The signature no longer matches; only the subject is read back.
    req["certification_request_info"] = asn1_csr.CertificationRequestInfo.load(info.dump(force=True))
    return x509.load_der_x509_csr(req.dump(force=True)).subject


# ---- order -------------------------------------------------------------------------------------

def test_rfc4514_text_reads_back_the_same_and_is_most_significant_last() -> None:
    name = parse_dn("CN=colin,O=SSS,C=GB")
    # The ASN.1 sequence starts with the most significant RDN.
    assert [rdn[0]["type"].native for rdn in name.chosen] == [
        "country_name", "organization_name", "common_name"]
    assert crypto_name(name).rfc4514_string() == "CN=colin,O=SSS,C=GB"
    assert format_dn(name) == "CN=colin,O=SSS,C=GB"


def test_semicolon_separates_rdns_as_rfc2253_allows() -> None:
    assert parse_dn("CN=colin;O=SSS").dump() == parse_dn("CN=colin,O=SSS").dump()


def test_runmqakm_lower_case_is_the_same_name() -> None:
    assert parse_dn("cn=colin,o=SSS").dump() == parse_dn("CN=colin,O=SSS").dump()
    assert format_dn(parse_dn("cn=colin, o=SSS, c=GB")) == "CN=colin,O=SSS,C=GB"


def test_openssl_subj_is_most_significant_first() -> None:
    name = parse_dn("/C=GB/O=HW/CN=colinpaice")
    assert name.dump() == parse_dn("CN=colinpaice,O=HW,C=GB").dump()
    assert crypto_name(name).rfc4514_string() == "CN=colinpaice,O=HW,C=GB"


def test_same_bytes_as_cryptography_for_rfc4514_text() -> None:
    text = "CN=colin,OU=mq,OU=test,O=SSS,L=Hursley,ST=Hampshire,C=GB"
    assert parse_dn(text).dump() == x509.Name.from_rfc4514_string(text).public_bytes()


def test_repeated_rdns_kept_in_order() -> None:
    name = parse_dn("CN=x,OU=second,OU=first,DC=example,DC=com")
    assert format_dn(name) == "CN=x,OU=second,OU=first,DC=example,DC=com"
    ous = crypto_name(name).get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert [a.value for a in ous] == ["first", "second"]  # sequence order: most significant first


def test_multi_valued_rdn() -> None:
    name = parse_dn("CN=colin+UID=cp,O=SSS")
    assert len(name.chosen) == 2
    assert len(name.chosen[1]) == 2
    assert crypto_name(name).rfc4514_string() == format_dn(name)
    # Typed order inside an RDN does not matter: DER sorts the SET OF.
    assert parse_dn("UID=cp+CN=colin,O=SSS").dump() == name.dump()
    assert parse_dn("/O=SSS/CN=colin+UID=cp").dump() == name.dump()


# ---- escaping and encodings -------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r"CN=a\,b", "a,b"),
        (r"CN=a\+b", "a+b"),
        (r"CN=a\\b", "a\\b"),
        (r"CN=a\"b", 'a"b'),
        ('CN="Sue, Grabbit and Runn"', "Sue, Grabbit and Runn"),
        (r'CN="a \"q\" b"', 'a "q" b'),
        (r"CN=caf\C3\A9", "café"),
        ("CN=café", "café"),
        (r"CN=\ lead", " lead"),
        (r"CN=trail\ ", "trail "),
        ("CN=  spaces around  ", "spaces around"),
        (r"CN=\#hash", "#hash"),
        ("CN=a=b", "a=b"),
        (r"/CN=a\/b", "a/b"),
        (r"/CN=a\+b", "a+b"),
        ("/CN=a,b", "a,b"),
    ],
)
def test_escapes(text: str, value: str) -> None:
    name = parse_dn(text)
    assert name.chosen[0][0]["value"].native == value
    # format_dn escapes it back so that it parses to the same bytes.
    assert parse_dn(format_dn(name)).dump() == name.dump()


def test_attribute_types_and_encodings() -> None:
    name = parse_dn(
        "CN=c,OU=ou,O=o,L=l,ST=st,C=GB,E=e@x.org,DC=dc,serialNumber=42,UID=u,street=s,"
        "title=t,GN=g,SN=sn,2.5.4.3=byoid"
    )
    got = {(a["type"].native, a["value"].chosen.__class__.__name__ if hasattr(a["value"], "chosen")
            else a["value"].__class__.__name__) for rdn in name.chosen for a in rdn}
    assert ("country_name", "PrintableString") in got
    assert ("serial_number", "PrintableString") in got
    assert ("email_address", "EmailAddress") in got  # IA5String
    assert ("domain_component", "DNSName") in got  # IA5String
    assert ("common_name", "UTF8String") in got
    assert format_dn(name) == (
        "CN=c,OU=ou,O=o,L=l,ST=st,C=GB,emailAddress=e@x.org,DC=dc,serialNumber=42,UID=u,"
        "street=s,title=t,GN=g,SN=sn,CN=byoid"
    )


def test_unknown_oid_round_trips_as_hex() -> None:
    name = parse_dn("1.3.6.1.4.1.99999.1=hello,CN=x")
    text = format_dn(name)
    assert text == "1.3.6.1.4.1.99999.1=#0c0568656c6c6f,CN=x"
    assert parse_dn(text).dump() == name.dump()


@pytest.mark.parametrize("text", ["CN=x", "E=#160161", "CN=#130178", "OID.2.5.4.3=x", "/CN=x/"])
def test_hex_and_oid_forms_accepted(text: str) -> None:
    parse_dn(text)


# ---- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("CN=colin,O", "'O' is not TYPE=value"),
        ("CN=colin,", "nothing after the last ','"),
        ("CN=a,,O=b", "two separators in a row"),
        ("CN=a;;O=b", "two separators in a row"),
        ("/CN=a//O=b", "two separators in a row"),
        ("=x", "missing attribute type"),
        ("XX=1", "unknown attribute type 'XX'"),
        ("C=GBR", "two-letter"),
        ("C=G1", "two-letter"),
        ("CN=", "CN has an empty value"),
        ("CN=a,O=", "O has an empty value"),
        ('CN=a"b', "must be escaped"),
        ('CN="abc', "unterminated quoted value"),
        ('CN="abc" x', "text after a closing quote"),
        ("CN=abc\\", "escapes nothing"),
        (r"CN=\FF\FE", "valid UTF-8"),
        ("CN=#zz", "not the hex of one DER value"),
        ("CN=#020101", "not a valid CN value"),
        ("E=#0c0178", "not a valid emailAddress value"),
        ("E=café@x.org", "must be ASCII"),
        ("serialNumber=a_b", "PrintableString"),
        ("CN=" + "x" * 65, "at most 64"),
        ("/C=GB/bad", "'bad' is not TYPE=value"),
        ("/C=GB/XX=1", "unknown attribute type"),
        ("CN=a\x00b", "NUL"),
        ("CN=a+CN=a", "appears twice"),
    ],
)
def test_bad_dn_says_what_is_wrong(text: str, needle: str) -> None:
    with pytest.raises(ValueError, match="bad DN") as info:
        parse_dn(text)
    assert needle in str(info.value)


def test_not_a_string() -> None:
    with pytest.raises(TypeError):
        parse_dn(b"CN=x")  # type: ignore[arg-type]


# ---- property: anything cryptography writes, we read to the same bytes ----------------------

_OIDS = [NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME,
         NameOID.LOCALITY_NAME, NameOID.STATE_OR_PROVINCE_NAME]
# At most 16 characters: cryptography limits CN to 64 UTF-8 *bytes* when building a Name (RFC
# 5280's bound is 64 characters, which is what parse_dn checks).
_value = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
                 min_size=1, max_size=16)
_rdn = st.lists(st.tuples(st.sampled_from(_OIDS), _value), min_size=1, max_size=2, unique=True)


@settings(max_examples=300, deadline=None)
@given(st.lists(_rdn, min_size=1, max_size=5))
def test_property_rfc4514_round_trip(rdns: list[list[tuple[x509.ObjectIdentifier, str]]]) -> None:
    name = x509.Name([x509.RelativeDistinguishedName([x509.NameAttribute(o, v) for o, v in rdn])
                      for rdn in rdns])
    ours = parse_dn(name.rfc4514_string())
    assert ours.dump() == name.public_bytes()
    assert parse_dn(format_dn(ours)).dump() == ours.dump()


# ---- OpenSSL builds the same bytes from -subj ---------------------------------------------------

@pytest.mark.interop
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_subj_gives_identical_der(tmp_path: Path) -> None:
    subj = (r"/C=GB/ST=Hants/L=Hursley/O=HW/OU=a/OU=b/CN=colin+UID=cp/emailAddress=c@x.org"
            r"/DC=example/DC=com/serialNumber=1234/title=Mr/GN=Colin/SN=Paice/street=1 High St"
            r"/CN=a\/b\+c")
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "k.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    # Our own config, so the host's openssl.cnf (string_mask) cannot change the encodings.
    (tmp_path / "cfg").write_text("[req]\ndistinguished_name = dn\nstring_mask = utf8only\n[dn]\n")
    subprocess.run(
        ["openssl", "req", "-new", "-key", str(tmp_path / "k.pem"), "-config", str(tmp_path / "cfg"),
         "-subj", subj, "-outform", "DER", "-out", str(tmp_path / "r.der")],
        check=True, capture_output=True,
    )
    req = asn1_csr.CertificationRequest.load((tmp_path / "r.der").read_bytes())
    theirs = req["certification_request_info"]["subject"]
    assert parse_dn(subj).dump() == theirs.dump()
    out = subprocess.run(
        ["openssl", "req", "-in", str(tmp_path / "r.der"), "-inform", "DER", "-noout", "-subject",
         "-nameopt", "RFC2253"], check=True, capture_output=True, text=True).stdout
    # OpenSSL prints a multi-valued RDN's members in the reverse of DER order; everything else
    # matches format_dn exactly.
    assert out.strip() == "subject=" + format_dn(parse_dn(subj)).replace("CN=colin+UID=cp", "UID=cp+CN=colin")


# ---- SANs --------------------------------------------------------------------------------------

def test_san_round_trip() -> None:
    items = ["DNS:www.example.com", "DNS:*.example.com", "IP:192.0.2.1", "IP:2001:db8::1",
             "email:colin@example.org", "URI:https://example.com/a?b=c", "dns:UPPER.example.com"]
    names = parse_san(items)
    assert [(g.name, g.native) for g in names] == [
        ("dns_name", "www.example.com"),
        ("dns_name", "*.example.com"),
        ("ip_address", "192.0.2.1"),
        ("ip_address", "2001:db8::1"),
        ("rfc822_name", "colin@example.org"),
        ("uniform_resource_identifier", "https://example.com/a?b=c"),
        ("dns_name", "UPPER.example.com"),
    ]
    assert parse_san([]).native == []


@pytest.mark.parametrize(
    ("item", "needle"),
    [
        ("www.example.com", "expected DNS:name"),
        ("DNS:", "expected DNS:name"),
        ("FOO:bar", "unknown kind 'foo'"),
        ("DNS:bad_name.com", "label 'bad_name'"),
        ("DNS:-a.com", "label '-a'"),
        ("DNS:a..com", "label ''"),
        ("DNS:*.com", "label '*'"),
        ("DNS:a.*.com", "label '*'"),
        ("DNS:bücher.de", "xn--"),
        ("DNS:" + "a" * 64 + ".com", "1-63"),
        ("IP:300.1.1.1", "not an IPv4 or IPv6 address"),
        ("IP:10.0.0.0/8", "not an IPv4 or IPv6 address"),
        ("IP:host", "not an IPv4 or IPv6 address"),
        ("email:nobody", "local@domain"),
        ("email:@x.org", "local@domain"),
        ("email:a b@x.org", "ASCII without spaces"),
        ("URI:no-scheme", "needs a scheme"),
        ("URI:https://a b", "ASCII without spaces"),
    ],
)
def test_bad_san_says_what_is_wrong(item: str, needle: str) -> None:
    with pytest.raises(ValueError, match="bad SAN") as info:
        parse_san([item])
    assert needle in str(info.value)


def test_parse_san_refuses_a_bare_string() -> None:
    with pytest.raises(TypeError):
        parse_san("DNS:example.com")
