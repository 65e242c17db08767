"""What browsers, NSS and Java print when they reject a certificate (Chrome NET::ERR_CERT_*, SEC_ERROR_*, PKIX)."""

from __future__ import annotations

from ikm_tui.core.text.tls_messages import CHROME, JAVA, NSS, TlsMessage

CLIENTS: tuple[TlsMessage, ...] = (
    TlsMessage(
        "NET::ERR_CERT_INVALID",
        CHROME,
        ("err_cert_invalid",),
        "Chrome found the certificate malformed or against the rules and gives no reason: keyCertSign on a "
        "non-CA certificate, a critical extension it does not know, a CA whose EKU or nameConstraints "
        "exclude this use, an empty keyUsage, anyExtendedKeyUsage alone.",
        "keycertsign-without-ca, unhandled-critical-extension, key-identifier-critical, chain-ca-eku-mismatch, "
        "chain-name-constraints, key-usage-empty, key-usage-not-for-tls, eku-any-only (`openssl verify "
        "-x509_strict` names the same cause)",
    ),
    TlsMessage(
        "NET::ERR_CERT_COMMON_NAME_INVALID",
        CHROME,
        ("err_cert_common_name_invalid",),
        "The certificate does not name the host in the address bar: Chrome reads only the SAN (never the CN), "
        "and an IP address must be a SAN IP entry.",
        "host-mismatch, san-ip-as-dns, server-without-san, san-empty",
    ),
    TlsMessage(
        "NET::ERR_CERT_AUTHORITY_INVALID",
        CHROME,
        ("err_cert_authority_invalid",),
        "The chain does not reach a root Chrome trusts: an intermediate missing from what the server sends, "
        "or a private root not installed.",
        "chain-missing-issuer, chain-self-signed-leaf, chain-aki-mismatch",
    ),
    TlsMessage(
        "NET::ERR_CERT_DATE_INVALID",
        CHROME,
        ("err_cert_date_invalid",),
        "A certificate in the chain is expired or not yet valid (or the client's clock is wrong).",
        "expired, not-yet-valid, chain-ca-expired, chain-ca-not-yet-valid",
    ),
    TlsMessage(
        "NET::ERR_CERT_WEAK_SIGNATURE_ALGORITHM",
        CHROME,
        ("err_cert_weak_signature_algorithm",),
        "A certificate in the chain is signed with SHA-1 or MD5.",
        "sha1-signature, md5-signature, chain-ca-weak-signature",
    ),
    TlsMessage(
        "NET::ERR_CERT_WEAK_KEY",
        CHROME,
        ("err_cert_weak_key",),
        "A key in the chain is too small (RSA under 2048 bits).",
        "rsa-key-too-small, chain-ca-key-too-weak",
    ),
    TlsMessage(
        "NET::ERR_CERT_NAME_CONSTRAINT_VIOLATION",
        CHROME,
        ("err_cert_name_constraint_violation",),
        "A CA's nameConstraints forbid the certificate's names.",
        "chain-name-constraints",
    ),
    TlsMessage(
        "SEC_ERROR_UNKNOWN_ISSUER",
        NSS,
        ("sec_error_unknown_issuer",),
        "NSS cannot build the chain to a trusted root: the intermediate is not sent or the root not trusted.",
        "chain-missing-issuer, chain-aki-mismatch",
    ),
    TlsMessage(
        "SEC_ERROR_EXPIRED_CERTIFICATE",
        NSS,
        ("sec_error_expired_certificate",),
        "The certificate is expired or not yet valid.",
        "expired, not-yet-valid",
    ),
    TlsMessage(
        "SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE",
        NSS,
        ("sec_error_expired_issuer_certificate",),
        "A CA certificate in the chain is expired.",
        "chain-ca-expired",
    ),
    TlsMessage(
        "SEC_ERROR_CA_CERT_INVALID",
        NSS,
        ("sec_error_ca_cert_invalid",),
        "An issuer in the chain is not a valid CA (basicConstraints, keyUsage).",
        "chain-issuer-not-ca, chain-ca-without-keycertsign",
    ),
    TlsMessage(
        "SEC_ERROR_INADEQUATE_KEY_USAGE",
        NSS,
        ("sec_error_inadequate_key_usage",),
        "keyUsage does not allow this use (TLS needs digitalSignature or keyEncipherment).",
        "key-usage-not-for-tls, key-usage-empty, keycertsign-without-ca",
    ),
    TlsMessage(
        "SEC_ERROR_INADEQUATE_CERT_TYPE",
        NSS,
        ("sec_error_inadequate_cert_type",),
        "extendedKeyUsage (of the certificate or a CA above it) does not allow this use.",
        "eku-mismatch, eku-any-only, chain-ca-eku-mismatch",
    ),
    TlsMessage(
        "SEC_ERROR_UNKNOWN_CRITICAL_EXTENSION",
        NSS,
        ("sec_error_unknown_critical_extension",),
        "A certificate carries a critical extension NSS does not know.",
        "unhandled-critical-extension, key-identifier-critical",
    ),
    TlsMessage(
        "SEC_ERROR_CERT_NOT_IN_NAME_SPACE",
        NSS,
        ("sec_error_cert_not_in_name_space",),
        "A CA's nameConstraints forbid the certificate's names.",
        "chain-name-constraints",
    ),
    TlsMessage(
        "SEC_ERROR_BAD_SIGNATURE",
        NSS,
        ("sec_error_bad_signature",),
        "A signature in the chain does not verify with the CA given.",
        "chain-bad-signature",
    ),
    TlsMessage(
        "SSL_ERROR_BAD_CERT_DOMAIN",
        NSS,
        ("ssl_error_bad_cert_domain",),
        "The certificate does not name the host dialled.",
        "host-mismatch, san-ip-as-dns, server-without-san",
    ),
    TlsMessage(
        "PR_END_OF_FILE_ERROR",
        NSS,
        ("pr_end_of_file_error",),
        "The peer closed the connection during the handshake without an alert. With a token-backed server "
        "this is usually the server failing to use its own certificate: the key and certificate do not pair "
        '(CKA_ID), the server refused its certificate at its security level ("ee key too small", "ca md too '
        "weak\"), or it rejected the client's certificate.",
        "rsa-key-too-small, sha1-signature, chain-ca-key-too-weak, chain-ca-weak-signature and, for the "
        "pairing, `ikm-tui pairing`",
    ),
    TlsMessage(
        "PKIX_PATH_BUILDING_FAILED",
        JAVA,
        ("PKIX path building failed", "unable to find valid certification path"),
        "Java could not build a chain from the certificate to an anchor in its truststore: the issuing CA (or "
        "intermediate) is not in the truststore/keystore, or a CA in the path is not valid for it.",
        "chain-missing-issuer, chain-aki-mismatch, chain-issuer-not-ca, chain-ca-key-too-weak",
    ),
    TlsMessage(
        "FINDSIGNER",
        JAVA,
        ("findsigner",),
        "strmqikm (IBM Key Management, Java) failed while looking up the signer, that is the issuing CA, "
        "of a certificate it was adding or receiving: the CA certificate is not in the key database (here: "
        "on the token), or the one there is not the CA that signed (another key, names that differ).",
        "chain-missing-issuer, chain-bad-signature, chain-aki-mismatch; store the CA first with "
        "`ikm-tui cert add CA.pem` or receive with `--with-chain`",
    ),
)
