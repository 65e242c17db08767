"""`explain` knows the TLS-side messages people paste (issue 13), by code and by text, and points to cert lint."""

from __future__ import annotations

import re

import pytest

from ikm_tui.core.text.explain import explain, lookup
from ikm_tui.core.x509.findings import CODES

PASTED = {
    "error 24 at 1 depth lookup: invalid CA certificate": "X509_V_ERR_INVALID_CA",
    "error 79 at 1 depth lookup: invalid CA certificate": "X509_V_ERR_INVALID_CA",
    "error 20 at 0 depth lookup: unable to get local issuer certificate":
        "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    "verify error:num=67:CA certificate key too weak": "X509_V_ERR_CA_KEY_TOO_SMALL",
    "Verify return code: 62 (hostname mismatch)": "X509_V_ERR_HOSTNAME_MISMATCH",
    "error 26 at 0 depth lookup: unsuitable certificate purpose": "X509_V_ERR_INVALID_PURPOSE",
    "SSL routines:ssl3_read_bytes:sslv3 alert unsupported certificate purpose": "X509_V_ERR_INVALID_PURPOSE",
    "40C7:error:0A00018F:SSL routines:SSL_CTX_use_certificate:ee key too small": "X509_V_ERR_EE_KEY_TOO_SMALL",
    "error 19 at 1 depth lookup: self-signed certificate in certificate chain": "X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN",
    "X509_V_ERR_CA_MD_TOO_WEAK": "X509_V_ERR_CA_MD_TOO_WEAK",
    "NET::ERR_CERT_INVALID": "NET::ERR_CERT_INVALID",
    "ERR_CERT_COMMON_NAME_INVALID": "NET::ERR_CERT_COMMON_NAME_INVALID",
    "Your connection is not private NET::ERR_CERT_AUTHORITY_INVALID": "NET::ERR_CERT_AUTHORITY_INVALID",
    "SEC_ERROR_UNKNOWN_ISSUER": "SEC_ERROR_UNKNOWN_ISSUER",
    "Error code: SEC_ERROR_INADEQUATE_KEY_USAGE": "SEC_ERROR_INADEQUATE_KEY_USAGE",
    "PR_END_OF_FILE_ERROR": "PR_END_OF_FILE_ERROR",
    "javax.net.ssl.SSLHandshakeException: PKIX path building failed: "
    "sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to "
    "requested target": "PKIX_PATH_BUILDING_FAILED",
    "java.lang.Exception at com.ibm.gsk.ikeyman.basic.CertificateRequest.findSigner": "FINDSIGNER",
}


@pytest.mark.parametrize("text", PASTED)
def test_tls_messages_by_code_and_text(text: str) -> None:
    exp = lookup(text)
    assert exp is not None and exp.code == PASTED[text]
    out = explain(text)
    assert "ikm-tui cert lint" in out
    # Every lint code it names exists: the operator can find it in `cert lint` output.
    named = set(re.findall(r"\b[a-z0-9]+(?:-[a-z0-9]+)+\b", exp.action)) - {"ikm-tui", "with-chain"}
    assert named and named <= CODES, named - CODES


def test_pkcs11_and_gskit_are_unchanged() -> None:
    assert lookup("0xA0").code == "CKR_PIN_INCORRECT"  # type: ignore[union-attr]
    assert lookup("24") is None  # a bare number is a PKCS#11 code, never an openssl one
    assert lookup("CTGSK3026W").code == "CTGSK3026W"  # type: ignore[union-attr]


def test_openssl_3_number_24_is_not_invalid_ca() -> None:
    assert lookup("error 24 at 1 depth lookup: unable to get issuer public key") is None
