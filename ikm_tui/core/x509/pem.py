"""PEM text (RFC 7468) to and from DER: one encoder, one decoder, one bundle splitter.

Readers are tolerant of what operators are handed: CRLF line ends, indentation, text before,
between and after blocks, and RFC 1421 header lines (`Proc-Type: ...`) inside a block. They
are strict about the base64 itself: a damaged block is reported, never half-decoded.
Nothing here parses the DER; callers decide what a block's bytes must be.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

# RFC 7468 §3: a label is printable ASCII without "-" at its ends, single spaces or hyphens
# inside ("PKCS #7 SIGNED DATA", "X509 CRL"). The END label must repeat the BEGIN label.
_BLOCK = re.compile(
    rb"-----BEGIN ([!-,.-~](?:[- ]?[!-,.-~])*)-----(.*?)-----END \1-----", re.DOTALL)

# Labels under which a certificate is stored (RFC 7468 §5.1 plus OpenSSL's legacy and trust forms).
CERTIFICATE_LABELS = frozenset({"CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"})
LINE_LENGTH = 64


class PemError(ValueError):
    """A PEM block whose body is not base64, or the wrong number or kind of blocks."""


@dataclass(frozen=True)
class PemBlock:
    """One `-----BEGIN label-----` ... `-----END label-----` block, its body still base64."""

    label: str
    body: bytes  # the text between the boundaries, as found

    def der(self) -> bytes:
        """The decoded bytes; PemError when the body is not clean base64."""
        # Header lines ("Proc-Type: 4,ENCRYPTED") carry a colon, which base64 never does.
        lines = [ln for ln in self.body.splitlines() if b":" not in ln]
        text = b"".join(b"".join(lines).split())
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise PemError(f"a {self.label} block is not valid base64 ({exc})") from None


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)


def is_pem(data: bytes | str) -> bool:
    """True when `data` holds at least one PEM boundary (it may still hold no valid block)."""
    return b"-----BEGIN" in _as_bytes(data)


def blocks(data: bytes | str) -> list[PemBlock]:
    """Every PEM block in `data`, in file order, bodies not yet decoded."""
    return [PemBlock(m.group(1).decode("ascii"), m.group(2)) for m in _BLOCK.finditer(_as_bytes(data))]


def split(data: bytes | str) -> list[tuple[str, bytes]]:
    """(label, DER) of every block in a bundle, in file order; PemError on a damaged block."""
    return [(b.label, b.der()) for b in blocks(data)]


def decode(data: bytes | str, label: str | None = None) -> bytes:
    """The DER of the one block in `data` (of `label`, when given); PemError otherwise."""
    found = [b for b in blocks(data) if label is None or b.label == label]
    if len(found) != 1:
        what = f"{label} block" if label else "PEM block"
        raise PemError(f"expected one {what}, found {len(found)}")
    return found[0].der()


def encode(der: bytes, label: str = "CERTIFICATE") -> str:
    """RFC 7468 text: 64-character base64 lines, LF line ends, a final newline."""
    b64 = base64.b64encode(der).decode("ascii")
    lines = [b64[i:i + LINE_LENGTH] for i in range(0, len(b64), LINE_LENGTH)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def certificate_blobs(data: bytes) -> list[bytes]:
    """The bytes of every certificate block in a file, or `[data]` when it holds none (DER).

    For the linter: blocks are only base64-decoded, never parsed, so a broken certificate still
    reaches it; a block that is not base64 becomes b"" in its place, reported as unparseable.
    """
    found = [b for b in blocks(data) if b.label in CERTIFICATE_LABELS]
    if not found:
        return [data]
    out = []
    for block in found:
        try:
            out.append(block.der())
        except PemError:
            out.append(b"")
    return out
