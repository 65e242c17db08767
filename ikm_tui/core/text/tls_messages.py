"""TlsMessage, the shape of every entry in the TLS-message tables, and the names of the tools they come from."""

from __future__ import annotations

from dataclasses import dataclass

LINT = (
    "Run `ikm-tui cert lint FILE|LABEL --use server|client` (add `--host NAME|IP` for a server, and the "
    "chain in the file or on the token): "
)


@dataclass(frozen=True)
class TlsMessage:
    """One TLS-side message: its canonical code, the wording tools print, and the lint codes for it."""

    code: str  # canonical name: X509_V_ERR_INVALID_CA, NET::ERR_CERT_INVALID, SEC_ERROR_UNKNOWN_ISSUER
    family: str
    texts: tuple[str, ...]  # the tool's wording, matched case-insensitively inside pasted lines
    meaning: str
    lint: str  # the cert lint codes, or what lint checks
    number: int | None = None  # OpenSSL 3.0 X509_V_ERR number


OSSL = "OpenSSL (openssl verify / s_client, X509_V_ERR)"
CHROME = "Chrome (NET::ERR_CERT_*)"
NSS = "NSS (Firefox, curl-nss, certutil)"
JAVA = "Java (JSSE, keytool, strmqikm)"
