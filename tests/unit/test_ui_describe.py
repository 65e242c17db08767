"""Wording of the pairing statements in the details pane (pure functions, synthetic objects)."""

from __future__ import annotations

from datetime import datetime, timezone

from ikm_tui.core.model import CertFields, Listing, ObjClass, ObjectInfo, PinState, TokenInfo
from ikm_tui.core.pairing import pair_objects
from ikm_tui.ui.describe import object_rows, pairing_lines, validity

TOKEN = TokenInfo("t", "m", "x", "1", (), PinState())
NOW = datetime(2026, 1, 15, tzinfo=timezone.utc)


def _listing(*objs: ObjectInfo, logged_in: bool = True) -> Listing:
    return Listing(TOKEN, 1, objs, pair_objects(objs), logged_in)


def test_id_mismatch_is_flagged_on_cert_and_key() -> None:
    key = ObjectInfo(ObjClass.PRIVATE_KEY, "srv", b"\x01", 10, "u", key_type="rsa", public_key_id="ab")
    cert = ObjectInfo(ObjClass.CERTIFICATE, "srv", b"\x02", 11, "u", public_key_id="ab",
                      cert=CertFields(subject="CN=srv"))
    listing = _listing(key, cert)
    lines = pairing_lines(listing, cert)
    assert lines[0] == "paired with key srv (id 01)"
    assert lines[1].startswith("ID MISMATCH") and "Java" in lines[1]
    assert any(line.startswith("ID MISMATCH with certificate srv") for line in pairing_lines(listing, key))


def test_orphans_and_hidden_keys() -> None:
    cert = ObjectInfo(ObjClass.CERTIFICATE, "ca", b"\x02", 11, "u", public_key_id="cd",
                      cert=CertFields(subject="CN=ca"))
    assert pairing_lines(_listing(cert), cert)[0].startswith("orphan: no private key")
    assert "log in" in pairing_lines(_listing(cert, logged_in=False), cert)[0]
    key = ObjectInfo(ObjClass.PRIVATE_KEY, "lonely", b"\x05", 12, "u", key_type="ec", curve="p256")
    assert pairing_lines(_listing(key), key)[0].startswith("orphan: no certificate")


def test_rows_cover_every_cert_field_and_validity_uses_the_clock() -> None:
    fields = CertFields(subject="CN=a", issuer="CN=b", serial="10",
                        not_before=datetime(2025, 1, 1, tzinfo=timezone.utc),
                        not_after=datetime(2025, 6, 1, tzinfo=timezone.utc), sha256="aa", sha1="bb")
    cert = ObjectInfo(ObjClass.CERTIFICATE, "old", b"\x02", 11, "u", cert=fields)
    rows = dict(object_rows(_listing(cert), cert, NOW))
    assert rows["validity"].startswith("EXPIRED 228 days ago")
    for name in ("subject", "issuer", "serial", "not before", "not after", "SANs", "key usage", "EKU",
                 "CA", "SHA-256", "SHA-1", "signature", "self-signed", "version", "path length"):
        assert name in rows, name
    assert validity(fields, datetime(2025, 3, 1, tzinfo=timezone.utc)) == "valid, 92 days left"
