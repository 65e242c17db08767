"""Read certificates from files an operator is handed: PEM, DER, PKCS#7 (.p7b/.p7c) and PEM bundles.

A CA may send a single DER cert, a PEM bundle with the chain, or a PKCS#7 "certs-only" message
(PEM `-----BEGIN PKCS7-----` or DER). Every form comes back as the DER of each certificate, in
file order, duplicates dropped. Nothing here touches the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from asn1crypto import cms
from cryptography import x509

from ikm_tui.core.errors import IkmError
from ikm_tui.core.files import read_input
from ikm_tui.core.sanitize import safe_text
from ikm_tui.core.x509 import pem

_PKCS7_TYPES = {"PKCS7", "CMS", "PKCS #7 SIGNED DATA"}
# A guard against someone pointing us at a disk image.
MAX_FILE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class CertBundle:
    """The certificates read from one file or paste. `fmt` says what was found, for the preview."""

    source: str
    fmt: str  # "pem", "der", "pkcs7-pem", "pkcs7-der", "pem-bundle"
    certs: tuple[bytes, ...]  # DER, file order, without duplicates


def _pkcs7_certs(der: bytes) -> list[bytes]:
    """The certificates of a PKCS#7 SignedData (RFC 5652 §5.1); CRLs and signers are ignored."""
    info = cms.ContentInfo.load(der)
    if info["content_type"].native != "signed_data":
        raise ValueError(f"PKCS#7 content type is {info['content_type'].native}, not signed_data")
    out: list[bytes] = []
    certs = info["content"]["certificates"]
    if not certs:
        return out
    for choice in certs:
        if choice.name == "certificate":
            out.append(choice.chosen.dump())
    return out


def _is_certificate(der: bytes) -> bool:
    try:
        x509.load_der_x509_certificate(der)
    except Exception:  # noqa: BLE001 - anything unparsable is "not a certificate"
        return False
    return True


def _trusted_cert_der(body: bytes) -> bytes:
    """OpenSSL's TRUSTED CERTIFICATE is the cert followed by trust settings: keep the cert."""
    from asn1crypto.core import Sequence

    seq = Sequence.load(body, strict=False)
    return bytes(seq.dump())


def _pem_certs(data: bytes, source: str) -> tuple[list[bytes], str]:
    """The certificates of the PEM blocks in `data` and the format found; IkmError if none."""
    certs: list[bytes] = []
    fmt = ""
    found = pem.blocks(data)
    for block in found:
        if block.label not in pem.CERTIFICATE_LABELS and block.label not in _PKCS7_TYPES:
            continue
        try:
            body = block.der()
        except pem.PemError as exc:
            raise IkmError(f"{safe_text(source)}: {exc}.", "Re-download or re-export the file.") from None
        if block.label in _PKCS7_TYPES:
            try:
                certs.extend(_pkcs7_certs(body))
            except Exception as exc:  # noqa: BLE001
                raise IkmError(f"{safe_text(source)}: the PKCS#7 block does not parse ({exc}).",
                               "Re-export it (`openssl crl2pkcs7 -nocrl -certfile chain.pem`).") from None
            fmt = fmt or "pkcs7-pem"
        else:
            der = _trusted_cert_der(body) if block.label == "TRUSTED CERTIFICATE" else body
            if not _is_certificate(der):
                raise IkmError(f"{safe_text(source)}: a CERTIFICATE block does not parse as X.509.",
                               "Re-download or re-export the certificate.")
            certs.append(der)
    if not certs:
        kinds = {b.label for b in found}
        hint = "Give the signed certificate the CA returned (-----BEGIN CERTIFICATE-----)."
        if any("REQUEST" in k for k in kinds):
            hint = "That is the request you sent; give the certificate the CA sent back."
        elif any("PRIVATE KEY" in k for k in kinds):
            hint = ("That is a private key; keys stay on the token. Give the certificate file. "
                    "(Consider that key file compromised if it left a secure place.)")
        raise IkmError(f"{safe_text(source)} holds no certificate (found: "
                       f"{safe_text(', '.join(sorted(kinds))) or 'no PEM blocks'}).", hint)
    return certs, fmt or ("pem" if len(certs) == 1 else "pem-bundle")


def _der_certs(data: bytes, source: str) -> tuple[list[bytes], str]:
    """One DER certificate, or the certificates of a DER PKCS#7; IkmError otherwise."""
    if _is_certificate(data):
        return [bytes(data)], "der"
    try:
        certs = _pkcs7_certs(bytes(data))
    except Exception:  # noqa: BLE001
        raise IkmError(
            f"{safe_text(source)} is neither a PEM file, a DER certificate nor a PKCS#7 (.p7b) file.",
            "Check you have the certificate file (openssl x509 -in FILE -noout -text should read it).",
        ) from None
    if not certs:
        raise IkmError(f"{safe_text(source)} is a PKCS#7 file without certificates.",
                       "Ask the CA for the certificate (or the chain) in PEM or .p7b form.")
    return certs, "pkcs7-der"


def parse_cert_data(data: bytes, source: str = "<input>") -> CertBundle:
    """Every certificate in `data` (PEM text, DER cert or DER PKCS#7).

    Raises IkmError naming the source when nothing usable is found: an operator who pasted a
    private key or a CSR needs to hear which it was.
    """
    if not data.strip():
        raise IkmError(f"{safe_text(source)} is empty.", "Give the certificate file the CA sent back.")
    certs, fmt = _pem_certs(data, source) if pem.is_pem(data) else _der_certs(data, source)
    unique: list[bytes] = []
    for der in certs:
        if der not in unique:
            unique.append(der)
    return CertBundle(source=source, fmt=fmt, certs=tuple(unique))


def read_cert_file(path: str | Path) -> CertBundle:
    p = Path(path)
    # A regular file of at most MAX_FILE_BYTES: `/dev/zero` or a FIFO is refused, not read forever.
    data = read_input(p, what="certificate file", limit=MAX_FILE_BYTES)
    return parse_cert_data(data, str(p))

