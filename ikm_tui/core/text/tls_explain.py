"""The TLS-side messages people paste (OpenSSL X509_V_ERR, Chrome NET::ERR_CERT_*, NSS, Java), explained.

Each entry names the `cert lint` finding codes that report the same cause, so `ikm-tui explain`
can send the operator to `ikm-tui cert lint` for the certificate in question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ikm_tui.core.text.explain import Explanation

_LINT = ("Run `ikm-tui cert lint FILE|LABEL --use server|client` (add `--host NAME|IP` for a server, and the "
         "chain in the file or on the token): ")


@dataclass(frozen=True)
class _Tls:
    code: str  # canonical name: X509_V_ERR_INVALID_CA, NET::ERR_CERT_INVALID, SEC_ERROR_UNKNOWN_ISSUER
    family: str
    texts: tuple[str, ...]  # the tool's wording, matched case-insensitively inside pasted lines
    meaning: str
    lint: str  # the cert lint codes, or what lint checks
    number: int | None = None  # OpenSSL 3.0 X509_V_ERR number


_OSSL = "OpenSSL (openssl verify / s_client, X509_V_ERR)"
_CHROME = "Chrome (NET::ERR_CERT_*)"
_NSS = "NSS (Firefox, curl-nss, certutil)"
_JAVA = "Java (JSSE, keytool, strmqikm)"

_TABLE: tuple[_Tls, ...] = (
    _Tls("X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY", _OSSL, ("unable to get local issuer certificate",),
         "The issuer of a certificate in the chain was neither sent by the peer nor found in the trust store. "
         "OpenSSL also says this when the authorityKeyIdentifier does not match the CA's subjectKeyIdentifier, "
         "or when a keyUsage with no bits makes the certificate invalid.",
         "chain-missing-issuer, chain-aki-mismatch, key-usage-empty", 20),
    _Tls("X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT", _OSSL, ("unable to get issuer certificate",),
         "A CA certificate's own issuer is missing: the chain stops below a root the client trusts.",
         "chain-missing-issuer", 2),
    _Tls("X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE", _OSSL, ("unable to verify the first certificate",),
         "The server sent only its own certificate and the client does not have the issuing CA.",
         "chain-missing-issuer (store the intermediate CA next to the key: `cert receive --with-chain`)", 21),
    _Tls("X509_V_ERR_CERT_SIGNATURE_FAILURE", _OSSL, ("certificate signature failure",),
         "A signature in the chain does not verify: the CA certificate given is not the one that signed "
         "(re-created with a new key) or the certificate was altered.", "chain-bad-signature", 7),
    _Tls("X509_V_ERR_CERT_NOT_YET_VALID", _OSSL, ("certificate is not yet valid",),
         "A certificate's notBefore is in the future (the CA's or this host's clock).",
         "not-yet-valid, chain-ca-not-yet-valid", 9),
    _Tls("X509_V_ERR_CERT_HAS_EXPIRED", _OSSL, ("certificate has expired",),
         "A certificate in the chain (leaf or CA) is past its notAfter.", "expired, chain-ca-expired", 10),
    _Tls("X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT", _OSSL, ("self-signed certificate", "self signed certificate"),
         "The peer's certificate is self-signed and not in the client's trust store.", "chain-self-signed-leaf", 18),
    _Tls("X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN", _OSSL,
         ("self-signed certificate in certificate chain", "self signed certificate in certificate chain"),
         "The chain ends in a root the client does not trust.", "chain-missing-issuer (on the client side)", 19),
    _Tls("X509_V_ERR_INVALID_CA", _OSSL, ("invalid CA certificate",),
         "A certificate used as an issuer is not a valid CA: no basicConstraints CA:TRUE, or a keyUsage "
         "without keyCertSign. (OpenSSL 1.1 numbers this error 24; 3.0 numbers it 79.)",
         "chain-issuer-not-ca, chain-ca-without-keycertsign", 79),
    _Tls("X509_V_ERR_PATH_LENGTH_EXCEEDED", _OSSL, ("path length constraint exceeded",),
         "A CA's basicConstraints pathLenConstraint allows fewer intermediate CAs than the chain has.",
         "chain-pathlen-exceeded", 25),
    _Tls("X509_V_ERR_INVALID_PURPOSE", _OSSL, ("unsuitable certificate purpose", "unsupported certificate purpose"),
         "A certificate's extendedKeyUsage or keyUsage does not allow this use: clientAuth/serverAuth "
         "missing (anyExtendedKeyUsage does not count), a CA whose EKU excludes it, or a keyUsage without "
         "digitalSignature/keyEncipherment.", "eku-mismatch, eku-any-only, chain-ca-eku-mismatch, "
         "key-usage-not-for-tls", 26),
    _Tls("X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION", _OSSL, ("unhandled critical extension",),
         "A certificate carries a critical extension the client does not know (a critical AKI or SKI too).",
         "unhandled-critical-extension, key-identifier-critical", 34),
    _Tls("X509_V_ERR_PERMITTED_VIOLATION", _OSSL, ("permitted subtree violation",),
         "A CA's nameConstraints do not permit a name (SAN DNS/IP, or a host-like CN) of a certificate below it.",
         "chain-name-constraints", 47),
    _Tls("X509_V_ERR_EXCLUDED_VIOLATION", _OSSL, ("excluded subtree violation",),
         "A CA's nameConstraints exclude a name of a certificate below it.", "chain-name-constraints", 48),
    _Tls("X509_V_ERR_HOSTNAME_MISMATCH", _OSSL, ("hostname mismatch",),
         "The certificate does not name the host the client dialled (SAN DNS entries).", "host-mismatch", 62),
    _Tls("X509_V_ERR_IP_ADDRESS_MISMATCH", _OSSL, ("IP address mismatch",),
         "The client dialled an IP address the SAN does not hold as an IP entry (an IP written as DNS:10.1.2.3 "
         "does not count).", "san-ip-as-dns, host-mismatch", 64),
    _Tls("X509_V_ERR_EE_KEY_TOO_SMALL", _OSSL, ("EE certificate key too weak", "ee key too small"),
         "The certificate's key is below the security level (level 2: RSA under 2048 bits).",
         "rsa-key-too-small", 66),
    _Tls("X509_V_ERR_CA_KEY_TOO_SMALL", _OSSL, ("CA certificate key too weak", "ca key too small"),
         "A CA in the chain has a key below the security level (level 2: RSA under 2048 bits).",
         "chain-ca-key-too-weak", 67),
    _Tls("X509_V_ERR_CA_MD_TOO_WEAK", _OSSL, ("CA signature digest algorithm too weak", "ca md too weak"),
         "A certificate in the chain is signed with SHA-1 or MD5, refused at security level 2.",
         "sha1-signature, md5-signature, chain-ca-weak-signature", 68),
    _Tls("X509_V_ERR_KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA", _OSSL, ("Key usage keyCertSign invalid for non-CA cert",),
         "keyUsage keyCertSign on a certificate that is not a CA (the error behind Chrome's bare "
         "ERR_CERT_INVALID).", "keycertsign-without-ca", 82),
    _Tls("X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER", _OSSL, ("Missing Authority Key Identifier",),
         "A v3 certificate that is not self-signed lacks authorityKeyIdentifier (strict verifiers only).",
         "chain-missing-aki", 85),
    _Tls("X509_V_ERR_MISSING_SUBJECT_KEY_IDENTIFIER", _OSSL, ("Missing Subject Key Identifier",),
         "A CA certificate lacks subjectKeyIdentifier (strict verifiers only).", "chain-ca-missing-ski", 86),
    _Tls("X509_V_ERR_EMPTY_SUBJECT_ALT_NAME", _OSSL, ("Empty Subject Alternative Name extension",),
         "A subjectAltName extension with no names.", "san-empty", 87),
    _Tls("X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL", _OSSL,
         ("Subject empty and Subject Alt Name extension not critical",),
         "An empty subject needs a critical subjectAltName.", "subject-empty-san-not-critical", 88),
    _Tls("X509_V_ERR_CA_BCONS_NOT_CRITICAL", _OSSL, ("Basic Constraints of CA cert not marked critical",),
         "A CA's basicConstraints is not critical (strict verifiers only).",
         "chain-ca-basic-constraints-not-critical", 89),
    _Tls("X509_V_ERR_CA_CERT_MISSING_KEY_USAGE", _OSSL, ("CA cert does not include key usage extension",),
         "A CA certificate has no keyUsage (strict verifiers only).",
         "chain-ca-without-key-usage, ca-without-key-usage", 92),
    _Tls("X509_V_ERR_EXTENSIONS_REQUIRE_VERSION_3", _OSSL, ("Using cert extension requires at least X509v3",),
         "A version 1 certificate carries extensions (strict verifiers only).", "v1-with-extensions", 93),
)

_CLIENTS: tuple[_Tls, ...] = (
    _Tls("NET::ERR_CERT_INVALID", _CHROME, ("err_cert_invalid",),
         "Chrome found the certificate malformed or against the rules and gives no reason: keyCertSign on a "
         "non-CA certificate, a critical extension it does not know, a CA whose EKU or nameConstraints "
         "exclude this use, an empty keyUsage, anyExtendedKeyUsage alone.",
         "keycertsign-without-ca, unhandled-critical-extension, key-identifier-critical, chain-ca-eku-mismatch, "
         "chain-name-constraints, key-usage-empty, key-usage-not-for-tls, eku-any-only (`openssl verify "
         "-x509_strict` names the same cause)"),
    _Tls("NET::ERR_CERT_COMMON_NAME_INVALID", _CHROME, ("err_cert_common_name_invalid",),
         "The certificate does not name the host in the address bar: Chrome reads only the SAN (never the CN), "
         "and an IP address must be a SAN IP entry.", "host-mismatch, san-ip-as-dns, server-without-san, san-empty"),
    _Tls("NET::ERR_CERT_AUTHORITY_INVALID", _CHROME, ("err_cert_authority_invalid",),
         "The chain does not reach a root Chrome trusts: an intermediate missing from what the server sends, "
         "or a private root not installed.", "chain-missing-issuer, chain-self-signed-leaf, chain-aki-mismatch"),
    _Tls("NET::ERR_CERT_DATE_INVALID", _CHROME, ("err_cert_date_invalid",),
         "A certificate in the chain is expired or not yet valid (or the client's clock is wrong).",
         "expired, not-yet-valid, chain-ca-expired, chain-ca-not-yet-valid"),
    _Tls("NET::ERR_CERT_WEAK_SIGNATURE_ALGORITHM", _CHROME, ("err_cert_weak_signature_algorithm",),
         "A certificate in the chain is signed with SHA-1 or MD5.",
         "sha1-signature, md5-signature, chain-ca-weak-signature"),
    _Tls("NET::ERR_CERT_WEAK_KEY", _CHROME, ("err_cert_weak_key",),
         "A key in the chain is too small (RSA under 2048 bits).", "rsa-key-too-small, chain-ca-key-too-weak"),
    _Tls("NET::ERR_CERT_NAME_CONSTRAINT_VIOLATION", _CHROME, ("err_cert_name_constraint_violation",),
         "A CA's nameConstraints forbid the certificate's names.", "chain-name-constraints"),
    _Tls("SEC_ERROR_UNKNOWN_ISSUER", _NSS, ("sec_error_unknown_issuer",),
         "NSS cannot build the chain to a trusted root: the intermediate is not sent or the root not trusted.",
         "chain-missing-issuer, chain-aki-mismatch"),
    _Tls("SEC_ERROR_EXPIRED_CERTIFICATE", _NSS, ("sec_error_expired_certificate",),
         "The certificate is expired or not yet valid.", "expired, not-yet-valid"),
    _Tls("SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE", _NSS, ("sec_error_expired_issuer_certificate",),
         "A CA certificate in the chain is expired.", "chain-ca-expired"),
    _Tls("SEC_ERROR_CA_CERT_INVALID", _NSS, ("sec_error_ca_cert_invalid",),
         "An issuer in the chain is not a valid CA (basicConstraints, keyUsage).",
         "chain-issuer-not-ca, chain-ca-without-keycertsign"),
    _Tls("SEC_ERROR_INADEQUATE_KEY_USAGE", _NSS, ("sec_error_inadequate_key_usage",),
         "keyUsage does not allow this use (TLS needs digitalSignature or keyEncipherment).",
         "key-usage-not-for-tls, key-usage-empty, keycertsign-without-ca"),
    _Tls("SEC_ERROR_INADEQUATE_CERT_TYPE", _NSS, ("sec_error_inadequate_cert_type",),
         "extendedKeyUsage (of the certificate or a CA above it) does not allow this use.",
         "eku-mismatch, eku-any-only, chain-ca-eku-mismatch"),
    _Tls("SEC_ERROR_UNKNOWN_CRITICAL_EXTENSION", _NSS, ("sec_error_unknown_critical_extension",),
         "A certificate carries a critical extension NSS does not know.",
         "unhandled-critical-extension, key-identifier-critical"),
    _Tls("SEC_ERROR_CERT_NOT_IN_NAME_SPACE", _NSS, ("sec_error_cert_not_in_name_space",),
         "A CA's nameConstraints forbid the certificate's names.", "chain-name-constraints"),
    _Tls("SEC_ERROR_BAD_SIGNATURE", _NSS, ("sec_error_bad_signature",),
         "A signature in the chain does not verify with the CA given.", "chain-bad-signature"),
    _Tls("SSL_ERROR_BAD_CERT_DOMAIN", _NSS, ("ssl_error_bad_cert_domain",),
         "The certificate does not name the host dialled.", "host-mismatch, san-ip-as-dns, server-without-san"),
    _Tls("PR_END_OF_FILE_ERROR", _NSS, ("pr_end_of_file_error",),
         "The peer closed the connection during the handshake without an alert. With a token-backed server "
         "this is usually the server failing to use its own certificate: the key and certificate do not pair "
         "(CKA_ID), the server refused its certificate at its security level (\"ee key too small\", \"ca md too "
         "weak\"), or it rejected the client's certificate.",
         "rsa-key-too-small, sha1-signature, chain-ca-key-too-weak, chain-ca-weak-signature and, for the "
         "pairing, `ikm-tui pairing`"),
    _Tls("PKIX_PATH_BUILDING_FAILED", _JAVA,
         ("PKIX path building failed", "unable to find valid certification path"),
         "Java could not build a chain from the certificate to an anchor in its truststore: the issuing CA (or "
         "intermediate) is not in the truststore/keystore, or a CA in the path is not valid for it.",
         "chain-missing-issuer, chain-aki-mismatch, chain-issuer-not-ca, chain-ca-key-too-weak"),
    _Tls("FINDSIGNER", _JAVA, ("findsigner",),
         "strmqikm (IBM Key Management, Java) failed while looking up the signer, that is the issuing CA, "
         "of a certificate it was adding or receiving: the CA certificate is not in the key database (here: "
         "on the token), or the one there is not the CA that signed (another key, names that differ).",
         "chain-missing-issuer, chain-bad-signature, chain-aki-mismatch; store the CA first with "
         "`ikm-tui cert add CA.pem` or receive with `--with-chain`"),
)

_ALL = _TABLE + _CLIENTS
_BY_CODE = {t.code.upper(): t for t in _ALL}
_BY_CODE.update({t.code.upper().removeprefix("NET::"): t for t in _CLIENTS if t.code.startswith("NET::")})
_BY_CODE.update({t.code.upper().removeprefix("X509_V_ERR_"): t for t in _TABLE})
_BY_NUMBER = {t.number: t for t in _TABLE if t.number is not None}
# "error 24 at 1 depth lookup: ...", "verify error:num=24:...", "Verify return code: 24 (...)".
_OSSL_NUMBER = re.compile(r"(?:\berror (\d+) at \d+ depth\b|\bverify error:num=(\d+)|verify return code: (\d+))")
_NAME = re.compile(r"(?:NET::)?ERR_CERT_[A-Z_]+|SEC_ERROR_[A-Z_]+|SSL_ERROR_[A-Z_]+|PR_[A-Z_]+_ERROR|X509_V_ERR_[A-Z0-9_]+")
# OpenSSL 1.1 numbered "invalid CA certificate" 24; 3.0 uses 24 for "unable to get issuer public key".
_OLD_NUMBERS = {24: "X509_V_ERR_INVALID_CA"}


def _explanation(t: _Tls) -> Explanation:
    return Explanation(t.code, t.family, t.meaning, _LINT + f"it reports this as {t.lint}, says which "
                       "certificate is at fault and how to fix it.", number=t.number,
                       message=t.texts[0] if t.family == _OSSL else "")


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
