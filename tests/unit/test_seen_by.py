"""The three verdicts (Java, NSS, OpenSSL engine) on synthetic listings; the matrix checks them on tools."""

from __future__ import annotations

from ikm_tui.core.model import CertFields, Listing, ObjClass, ObjectInfo, PinState, TokenInfo
from ikm_tui.core.pairing import pair_objects
from ikm_tui.core.seen_by import seen_by, seen_by_lines
from ikm_tui.ui.describe import pairing_lines

TOKEN = TokenInfo("tok", "m", "x", "1", (), PinState())


def _listing(*objs: ObjectInfo, logged_in: bool = True) -> Listing:
    return Listing(TOKEN, 1, objs, pair_objects(objs, logged_in), logged_in)


def _cert(label: str, id_: bytes, h: int, pk: str | None = "ab", **kw: object) -> ObjectInfo:
    return ObjectInfo(ObjClass.CERTIFICATE, label, id_, h, "u", public_key_id=pk, key_type="rsa",
                      cert=CertFields(subject=f"CN={label}", issuer="CN=Exp CA", serial="7b"), **kw)  # type: ignore[arg-type]


def _priv(label: str, id_: bytes, h: int, pk: str | None = "ab", kt: str = "rsa") -> ObjectInfo:
    return ObjectInfo(ObjClass.PRIVATE_KEY, label, id_, h, "u", private=True, key_type=kt, public_key_id=pk)


def _pub(label: str, id_: bytes, h: int, pk: str | None = "ab", kt: str = "rsa") -> ObjectInfo:
    return ObjectInfo(ObjClass.PUBLIC_KEY, label, id_, h, "u", key_type=kt, public_key_id=pk)


def test_empty_id_pair_is_paired_by_key_but_not_by_tools() -> None:
    """The seed's pkcs11-tool flow without --id: the public key matches, Java and NSS see nothing."""
    listing = _listing(_priv("my_key3", b"", 1), _pub("my_key3", b"", 2), _cert("my_key3", b"", 3))
    v = seen_by(listing)
    assert listing.pairing.cert_to_key[3] == 1
    assert v[3].java.entry == "" and "empty CKA_ID" in v[3].java.why
    assert v[3].nss is not None and v[3].nss.flags == ",," and v[3].nss.nickname == "tok:my_key3"
    assert v[3].crypto == "modulus" and not v[3].agree
    assert listing.pairing.markers[3] == "!" and listing.pairing.markers[1] == ""
    lines = pairing_lines(listing, listing.objects[2])
    assert lines[0] == "paired with key my_key3 (id (empty))"
    assert any(line.startswith("TOOLS DIFFER") and "cert doctor" in line for line in lines)
    assert v[1].openssl is not None and v[1].openssl.finds
    assert v[1].openssl.key_uri == "pkcs11:token=tok;object=my_key3;type=private"


def test_java_ec_entry_pairs_by_id_when_the_key_shows_no_point() -> None:
    """keytool -genkeypair -keyalg EC: key label empty, CKA_ID = alias, no point, no public-key object."""
    key = _priv("", b"java_key", 1, pk=None, kt="ec")
    cert = ObjectInfo(ObjClass.CERTIFICATE, "java_key", b"java_key", 2, "u", public_key_id="04aa", key_type="ec",
                      cert=CertFields(subject="CN=java-key"))
    listing = _listing(key, cert)
    assert listing.pairing.cert_to_key == {2: 1} and listing.pairing.by_id_only == {2: 1}
    v = seen_by(listing)
    assert (v[2].java.entry, v[2].java.alias) == ("PrivateKeyEntry", "java_key")
    assert v[2].agree and v[2].crypto == "same CKA_ID only"
    assert listing.pairing.markers == {1: "-", 2: "-"}
    # The engine cannot use the empty label: the CKA_ID is the URI.
    assert v[1].openssl is not None
    assert v[1].openssl.key_uri == "pkcs11:token=tok;id=%6a%61%76%61%5f%6b%65%79;type=private"
    # Before login the key is hidden and there is no public-key object: NSS shows no 'u'.
    before = _listing(cert, logged_in=False)
    assert seen_by(before)[2].nss.flags == ",,"  # type: ignore[union-attr]
    assert before.pairing.markers[2] == "!"


def test_before_login_the_public_key_object_shows_the_key() -> None:
    pub, cert = _pub("web01", b"\x01", 2), _cert("web01", b"\x01", 3)
    listing = _listing(pub, cert, logged_in=False)
    assert listing.pairing.markers[3] == "-"
    lines = pairing_lines(listing, cert)
    assert lines[0].startswith("paired with key web01 (its public-key object, id 01")
    v = seen_by(listing)[3]
    assert v.nss is not None and v.nss.flags == "u,u,u" and v.agree
    assert not v.java.known and v.java.entry == "PrivateKeyEntry"


def test_java_alias_of_shared_labels_and_trusted_certs() -> None:
    a = _cert("dup", b"\x11", 3, pk="aa")
    b = _cert("dup", b"\x12", 4, pk="bb")
    ca = _cert("root", b"\x99", 5, pk="cc", trusted=True)
    listing = _listing(_priv("dupa", b"\x11", 1, pk="aa"), _priv("dupb", b"\x12", 2, pk="bb"), a, b, ca)
    v = seen_by(listing)
    assert v[3].java.alias == "dup/cn=exp ca/123" and v[4].java.entry == "PrivateKeyEntry"
    assert v[5].java.entry == "TrustedCertEntry" and v[5].nss.flags == ",,"  # type: ignore[union-attr]
    # The engine selects by the key's label, not the cert's.
    assert v[3].openssl.key_uri == "pkcs11:token=tok;object=dupa;type=private"  # type: ignore[union-attr]


def test_different_ids_disagree_and_say_so() -> None:
    listing = _listing(_priv("k", b"\x0d", 1), _pub("k", b"\x0d", 2), _cert("k", b"\x0e", 3))
    v = seen_by(listing)
    assert v[3].java.entry == "" and v[3].nss.flags == ",," and not v[3].agree  # type: ignore[union-attr]
    assert listing.pairing.markers[3] == "!"
    assert any(line.startswith("TOOLS DIFFER") for line in seen_by_lines(listing, listing.objects[2]))


def test_ed25519_key_blinds_the_engine() -> None:
    listing = _listing(_priv("k", b"\x01", 1), _cert("k", b"\x01", 2), _priv("ed", b"\x02", 3, pk="ee", kt="ed25519"))
    assert not seen_by(listing)[2].openssl.finds  # type: ignore[union-attr]


def test_a_cert_without_a_cka_id_attribute_blinds_java_to_the_whole_token() -> None:
    """tpm2-pkcs11 keeps no CKA_ID on a cert pkcs11-tool wrote without --id; SunPKCS11's load fails
    on it (CKR_ATTRIBUTE_TYPE_INVALID), so even a well-paired cert is not listed (measured in
    tests/interop/test_pairing_matrix.py). NSS still pairs the others."""
    good = (_priv("k", b"\x01", 1), _cert("k", b"\x01", 2))
    assert seen_by(_listing(*good, _cert("noid", b"", 3)))[2].java.entry == "PrivateKeyEntry"
    v = seen_by(_listing(*good, _cert("noid", b"", 3, id_absent=True)))
    assert v[2].java.entry == "" and "load fails" in v[2].java.why
    assert v[1].java.entry == "" and v[3].java.entry == ""
    assert v[2].nss is not None and v[2].nss.flags == "u,u,u"
    assert "Java: not listed (a certificate on this token has no CKA_ID attribute" in seen_by_lines(
        _listing(*good, _cert("noid", b"", 3, id_absent=True)), good[1])[0]
