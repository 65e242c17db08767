"""The TLS-side messages people paste (OpenSSL X509_V_ERR, Chrome NET::ERR_CERT_*, NSS, Java), explained.

Each entry names the `cert lint` finding codes that report the same cause, so `ikm-tui explain`
can send the operator to `ikm-tui cert lint` for the certificate in question.
"""

from __future__ import annotations

import re

from ikm_tui.core.text.explanation import Explanation
from ikm_tui.core.text.tls_clients import CLIENTS
from ikm_tui.core.text.tls_messages import LINT, OSSL, TlsMessage

_TABLE: tuple[TlsMessage, ...] = (
    TlsMessage(
        "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
        OSSL,
        ("unable to get local issuer certificate",),
        "The issuer of a certificate in the chain was neither sent by the peer nor found in the trust store. "
        "OpenSSL also says this when the authorityKeyIdentifier does not match the CA's subjectKeyIdentifier, "
        "or when a keyUsage with no bits makes the certificate invalid.",
        "chain-missing-issuer, chain-aki-mismatch, key-usage-empty",
        20,
    ),
    TlsMessage(
        "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT",
        OSSL,
        ("unable to get issuer certificate",),
        "A CA certificate's own issuer is missing: the chain stops below a root the client trusts.",
        "chain-missing-issuer",
        2,
    ),
    TlsMessage(
        "X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        OSSL,
        ("unable to verify the first certificate",),
        "The server sent only its own certificate and the client does not have the issuing CA.",
        "chain-missing-issuer (store the intermediate CA next to the key: `cert receive --with-chain`)",
        21,
    ),
    TlsMessage(
        "X509_V_ERR_CERT_SIGNATURE_FAILURE",
        OSSL,
        ("certificate signature failure",),
        "A signature in the chain does not verify: the CA certificate given is not the one that signed "
        "(re-created with a new key) or the certificate was altered.",
        "chain-bad-signature",
        7,
    ),
    TlsMessage(
        "X509_V_ERR_CERT_NOT_YET_VALID",
        OSSL,
        ("certificate is not yet valid",),
        "A certificate's notBefore is in the future (the CA's or this host's clock).",
        "not-yet-valid, chain-ca-not-yet-valid",
        9,
    ),
    TlsMessage(
        "X509_V_ERR_CERT_HAS_EXPIRED",
        OSSL,
        ("certificate has expired",),
        "A certificate in the chain (leaf or CA) is past its notAfter.",
        "expired, chain-ca-expired",
        10,
    ),
    TlsMessage(
        "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT",
        OSSL,
        ("self-signed certificate", "self signed certificate"),
        "The peer's certificate is self-signed and not in the client's trust store.",
        "chain-self-signed-leaf",
        18,
    ),
    TlsMessage(
        "X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN",
        OSSL,
        ("self-signed certificate in certificate chain", "self signed certificate in certificate chain"),
        "The chain ends in a root the client does not trust.",
        "chain-missing-issuer (on the client side)",
        19,
    ),
    TlsMessage(
        "X509_V_ERR_INVALID_CA",
        OSSL,
        ("invalid CA certificate",),
        "A certificate used as an issuer is not a valid CA: no basicConstraints CA:TRUE, or a keyUsage "
        "without keyCertSign. (OpenSSL 1.1 numbers this error 24; 3.0 numbers it 79.)",
        "chain-issuer-not-ca, chain-ca-without-keycertsign",
        79,
    ),
    TlsMessage(
        "X509_V_ERR_PATH_LENGTH_EXCEEDED",
        OSSL,
        ("path length constraint exceeded",),
        "A CA's basicConstraints pathLenConstraint allows fewer intermediate CAs than the chain has.",
        "chain-pathlen-exceeded",
        25,
    ),
    TlsMessage(
        "X509_V_ERR_INVALID_PURPOSE",
        OSSL,
        ("unsuitable certificate purpose", "unsupported certificate purpose"),
        "A certificate's extendedKeyUsage or keyUsage does not allow this use: clientAuth/serverAuth "
        "missing (anyExtendedKeyUsage does not count), a CA whose EKU excludes it, or a keyUsage without "
        "digitalSignature/keyEncipherment.",
        "eku-mismatch, eku-any-only, chain-ca-eku-mismatch, key-usage-not-for-tls",
        26,
    ),
    TlsMessage(
        "X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION",
        OSSL,
        ("unhandled critical extension",),
        "A certificate carries a critical extension the client does not know (a critical AKI or SKI too).",
        "unhandled-critical-extension, key-identifier-critical",
        34,
    ),
    TlsMessage(
        "X509_V_ERR_PERMITTED_VIOLATION",
        OSSL,
        ("permitted subtree violation",),
        "A CA's nameConstraints do not permit a name (SAN DNS/IP, or a host-like CN) of a certificate below it.",
        "chain-name-constraints",
        47,
    ),
    TlsMessage(
        "X509_V_ERR_EXCLUDED_VIOLATION",
        OSSL,
        ("excluded subtree violation",),
        "A CA's nameConstraints exclude a name of a certificate below it.",
        "chain-name-constraints",
        48,
    ),
    TlsMessage(
        "X509_V_ERR_HOSTNAME_MISMATCH",
        OSSL,
        ("hostname mismatch",),
        "The certificate does not name the host the client dialled (SAN DNS entries).",
        "host-mismatch",
        62,
    ),
    TlsMessage(
        "X509_V_ERR_IP_ADDRESS_MISMATCH",
        OSSL,
        ("IP address mismatch",),
        "The client dialled an IP address the SAN does not hold as an IP entry (an IP written as DNS:10.1.2.3 "
        "does not count).",
        "san-ip-as-dns, host-mismatch",
        64,
    ),
    TlsMessage(
        "X509_V_ERR_EE_KEY_TOO_SMALL",
        OSSL,
        ("EE certificate key too weak", "ee key too small"),
        "The certificate's key is below the security level (level 2: RSA under 2048 bits).",
        "rsa-key-too-small",
        66,
    ),
    TlsMessage(
        "X509_V_ERR_CA_KEY_TOO_SMALL",
        OSSL,
        ("CA certificate key too weak", "ca key too small"),
        "A CA in the chain has a key below the security level (level 2: RSA under 2048 bits).",
        "chain-ca-key-too-weak",
        67,
    ),
    TlsMessage(
        "X509_V_ERR_CA_MD_TOO_WEAK",
        OSSL,
        ("CA signature digest algorithm too weak", "ca md too weak"),
        "A certificate in the chain is signed with SHA-1 or MD5, refused at security level 2.",
        "sha1-signature, md5-signature, chain-ca-weak-signature",
        68,
    ),
    TlsMessage(
        "X509_V_ERR_KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA",
        OSSL,
        ("Key usage keyCertSign invalid for non-CA cert",),
        "keyUsage keyCertSign on a certificate that is not a CA (the error behind Chrome's bare ERR_CERT_INVALID).",
        "keycertsign-without-ca",
        82,
    ),
    TlsMessage(
        "X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER",
        OSSL,
        ("Missing Authority Key Identifier",),
        "A v3 certificate that is not self-signed lacks authorityKeyIdentifier (strict verifiers only).",
        "chain-missing-aki",
        85,
    ),
    TlsMessage(
        "X509_V_ERR_MISSING_SUBJECT_KEY_IDENTIFIER",
        OSSL,
        ("Missing Subject Key Identifier",),
        "A CA certificate lacks subjectKeyIdentifier (strict verifiers only).",
        "chain-ca-missing-ski",
        86,
    ),
    TlsMessage(
        "X509_V_ERR_EMPTY_SUBJECT_ALT_NAME",
        OSSL,
        ("Empty Subject Alternative Name extension",),
        "A subjectAltName extension with no names.",
        "san-empty",
        87,
    ),
    TlsMessage(
        "X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL",
        OSSL,
        ("Subject empty and Subject Alt Name extension not critical",),
        "An empty subject needs a critical subjectAltName.",
        "subject-empty-san-not-critical",
        88,
    ),
    TlsMessage(
        "X509_V_ERR_CA_BCONS_NOT_CRITICAL",
        OSSL,
        ("Basic Constraints of CA cert not marked critical",),
        "A CA's basicConstraints is not critical (strict verifiers only).",
        "chain-ca-basic-constraints-not-critical",
        89,
    ),
    TlsMessage(
        "X509_V_ERR_CA_CERT_MISSING_KEY_USAGE",
        OSSL,
        ("CA cert does not include key usage extension",),
        "A CA certificate has no keyUsage (strict verifiers only).",
        "chain-ca-without-key-usage, ca-without-key-usage",
        92,
    ),
    TlsMessage(
        "X509_V_ERR_EXTENSIONS_REQUIRE_VERSION_3",
        OSSL,
        ("Using cert extension requires at least X509v3",),
        "A version 1 certificate carries extensions (strict verifiers only).",
        "v1-with-extensions",
        93,
    ),
)



_ALL = _TABLE + CLIENTS
_BY_CODE = {t.code.upper(): t for t in _ALL}
_BY_CODE.update({t.code.upper().removeprefix("NET::"): t for t in CLIENTS if t.code.startswith("NET::")})
_BY_CODE.update({t.code.upper().removeprefix("X509_V_ERR_"): t for t in _TABLE})
_BY_NUMBER = {t.number: t for t in _TABLE if t.number is not None}
# "error 24 at 1 depth lookup: ...", "verify error:num=24:...", "Verify return code: 24 (...)".
_OSSL_NUMBER = re.compile(r"(?:\berror (\d+) at \d+ depth\b|\bverify error:num=(\d+)|verify return code: (\d+))")
_NAME = re.compile(
    r"(?:NET::)?ERR_CERT_[A-Z_]+|SEC_ERROR_[A-Z_]+|SSL_ERROR_[A-Z_]+|PR_[A-Z_]+_ERROR|X509_V_ERR_[A-Z0-9_]+"
)
# OpenSSL 1.1 numbered "invalid CA certificate" 24; 3.0 uses 24 for "unable to get issuer public key".
_OLD_NUMBERS = {24: "X509_V_ERR_INVALID_CA"}


def _explanation(t: TlsMessage) -> Explanation:
    return Explanation(
        t.code,
        t.family,
        t.meaning,
        LINT + f"it reports this as {t.lint}, says which certificate is at fault and how to fix it.",
        number=t.number,
        message=t.texts[0] if t.family == OSSL else "",
    )


def tls_lookup(text: str) -> Explanation | None:
    """The TLS-side explanation of a pasted line or code, or None when it is not a TLS message."""
    low = " ".join(text.lower().split())
    if m := _NAME.search(text.upper()):
        hit = _BY_CODE.get(m.group(0)) or _BY_CODE.get(m.group(0).removeprefix("NET::"))
        if hit is not None:
            return _explanation(hit)
    # The longest wording first: "self-signed certificate in certificate chain" before "self-signed certificate".
    for t in sorted(_ALL, key=lambda t: -max(len(s) for s in t.texts)):
        if any(s.lower() in low for s in t.texts):
            return _explanation(t)
    if m := _OSSL_NUMBER.search(low):
        number = int(next(g for g in m.groups() if g))
        if number in _OLD_NUMBERS and "unable to get issuer public key" not in low:
            return _explanation(_BY_CODE[_OLD_NUMBERS[number]])
        if number in _BY_NUMBER:
            return _explanation(_BY_NUMBER[number])
    return None
