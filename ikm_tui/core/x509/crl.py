"""Certificate revocation lists (RFC 5280 §5) built with asn1crypto, signed by a pluggable Signer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from asn1crypto import core
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509

from ikm_tui.core.x509.signing import SIG_ALGS, Signer, checked_signature, signature_algorithm, x509_time

# RFC 5280 §5.3.1 reason codes a CLI may name.
REASONS = ("unspecified", "key_compromise", "ca_compromise", "affiliation_changed", "superseded",
           "cessation_of_operation", "certificate_hold", "privilege_withdrawn")


def build_crl(*, issuer: asn1_x509.Name, issuer_ski: bytes, sign: Signer, sig_alg: str, this_update: datetime,
              next_update: datetime, crl_number: int,
              revoked: Sequence[tuple[int, datetime, str | None]]) -> bytes:
    """A DER v2 CRL with AKI and cRLNumber; `revoked` holds (serial, revocation date, reason or None)."""
    alg = SIG_ALGS[sig_alg]
    entries = []
    for serial, when, reason in revoked:
        entry: dict[str, object] = {"user_certificate": serial, "revocation_date": x509_time(when)}
        if reason and reason != "unspecified":
            # RFC 5280 §5.3.1: the reasonCode is absent rather than "unspecified".
            entry["crl_entry_extensions"] = [{"extn_id": "crl_reason", "critical": False,
                                              "extn_value": asn1_crl.CRLReason(reason)}]
        entries.append(entry)
    tbs_list = asn1_crl.TbsCertList({
        "version": "v2",
        "signature": signature_algorithm(sig_alg, alg),
        "issuer": issuer,
        "this_update": x509_time(this_update),
        "next_update": x509_time(next_update),
        "revoked_certificates": entries or None,
        "crl_extensions": [
            {"extn_id": "authority_key_identifier", "critical": False,
             "extn_value": asn1_x509.AuthorityKeyIdentifier({"key_identifier": issuer_ski})},
            {"extn_id": "crl_number", "critical": False, "extn_value": core.Integer(crl_number)},
        ],
    })
    tbs = bytes(tbs_list.dump(force=True))
    sig = checked_signature(sign, tbs, alg)
    return bytes(asn1_crl.CertificateList({
        "tbs_cert_list": asn1_crl.TbsCertList.load(tbs),
        "signature_algorithm": signature_algorithm(sig_alg, alg),
        "signature": sig,
    }).dump())
