"""Read certificates from files an operator is handed: PEM, DER, PKCS#7 (.p7b/.p7c) and PEM bundles.

A CA may send a single DER cert, a PEM bundle with the chain, or a PKCS#7 "certs-only" message
(PEM `-----BEGIN PKCS7-----` or DER). Every form comes back as the DER of each certificate, in
file order, duplicates dropped. Nothing here touches the token.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import cms
from cryptography import x509

from ikm_tui.core.errors import IkmError
from ikm_tui.core.sanitize import safe_text

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.DOTALL)
_CERT_TYPES = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_PKCS7_TYPES = {b"PKCS7", b"CMS", b"PKCS #7 SIGNED DATA"}
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


def parse_cert_data(data: bytes, source: str = "<input>") -> CertBundle:
    """Every certificate in `data` (PEM text, DER cert or DER PKCS#7).

    Raises IkmError naming the source when nothing usable is found: an operator who pasted a
    private key or a CSR needs to hear which it was.
    """
    if not data.strip():
        raise IkmError(f"{safe_text(source)} is empty.", "Give the certificate file the CA sent back.")
    certs: list[bytes] = []
    fmt = ""
    if b"-----BEGIN" in data:
        kinds: list[bytes] = []
        for m in _PEM_BLOCK.finditer(data):
            kind, body_b64 = m.group(1), m.group(2)
            kinds.append(kind)
            if kind not in _CERT_TYPES and kind not in _PKCS7_TYPES:
                continue
            try:
                # PEM headers (Proc-Type, etc.) never appear in cert blocks; drop any line with ':'.
                lines = [ln for ln in body_b64.splitlines() if b":" not in ln]
                body = base64.b64decode(b"".join(lines), validate=False)
            except (binascii.Error, ValueError) as exc:
                raise IkmError(f"{safe_text(source)}: a {kind.decode()} block is not valid base64 ({exc}).",
                               "Re-download or re-export the file.") from None
            if kind in _PKCS7_TYPES:
                try:
                    certs.extend(_pkcs7_certs(body))
                except Exception as exc:  # noqa: BLE001
                    raise IkmError(f"{safe_text(source)}: the PKCS#7 block does not parse ({exc}).",
                                   "Re-export it (`openssl crl2pkcs7 -nocrl -certfile chain.pem`).") from None
                fmt = fmt or "pkcs7-pem"
            else:
                der = _trusted_cert_der(body) if kind == b"TRUSTED CERTIFICATE" else body
                if not _is_certificate(der):
                    raise IkmError(f"{safe_text(source)}: a CERTIFICATE block does not parse as X.509.",
                                   "Re-download or re-export the certificate.")
                certs.append(der)
        if not certs:
            found = ", ".join(sorted({k.decode("ascii", "replace") for k in kinds})) or "no PEM blocks"
            hint = "Give the signed certificate the CA returned (-----BEGIN CERTIFICATE-----)."
            if any(b"REQUEST" in k for k in kinds):
                hint = "That is the request you sent; give the certificate the CA sent back."
            elif any(b"PRIVATE KEY" in k for k in kinds):
                hint = ("That is a private key; keys stay on the token. Give the certificate file. "
                        "(Consider that key file compromised if it left a secure place.)")
            raise IkmError(f"{safe_text(source)} holds no certificate (found: {found}).", hint)
        if not fmt:
            fmt = "pem" if len(certs) == 1 else "pem-bundle"
    else:
        if _is_certificate(data):
            certs, fmt = [bytes(data)], "der"
        else:
            try:
                certs, fmt = _pkcs7_certs(bytes(data)), "pkcs7-der"
            except Exception:  # noqa: BLE001
                raise IkmError(
                    f"{safe_text(source)} is neither a PEM file, a DER certificate nor a PKCS#7 (.p7b) file.",
                    "Check you have the certificate file (openssl x509 -in FILE -noout -text should read it).",
                ) from None
            if not certs:
                raise IkmError(f"{safe_text(source)} is a PKCS#7 file without certificates.",
                               "Ask the CA for the certificate (or the chain) in PEM or .p7b form.")
    unique: list[bytes] = []
    for der in certs:
        if der not in unique:
            unique.append(der)
    return CertBundle(source=source, fmt=fmt, certs=tuple(unique))


def read_cert_file(path: str | Path) -> CertBundle:
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise IkmError(f"{safe_text(str(p))} is {size} bytes: too large for a certificate file.",
                           "Give the certificate file, not an archive or image.")
        data = p.read_bytes()
    except OSError as exc:
        raise IkmError(f"Cannot read {safe_text(str(p))}: {exc.strerror}.",
                       "Check the path and its permissions.") from None
    return parse_cert_data(data, str(p))


def der_to_pem(der: bytes, kind: str = "CERTIFICATE") -> str:
    b64 = base64.b64encode(der).decode("ascii")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----\n"
