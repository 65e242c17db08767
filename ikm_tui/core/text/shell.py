"""Command lines as text: shell quoting that stays exact and terminal-safe, and the two subject DN forms."""

from __future__ import annotations

import re
import shlex

from ikm_tui.core.sanitize import safe_text


def render_argv(argv: list[str]) -> str:
    """shlex-quote each word; words holding control or bidi characters use bash $'...' escapes.

    safe_text alone would print `\\x1b` inside single quotes, which the shell would take
    literally: the printed command would then name a different object. $'...' keeps the line
    free of terminal controls *and* exact when pasted into bash.
    """
    return " ".join(_quote(a) for a in argv)


def _quote(arg: str) -> str:
    if safe_text(arg) == arg:
        return shlex.quote(arg)
    out = []
    for ch in arg:
        if ch in ("\\", "'"):
            out.append("\\" + ch)
        elif safe_text(ch) != ch:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "$'" + "".join(out) + "'"


_SHORT_NAMES = {"CN", "O", "OU", "C", "L", "ST", "STREET", "DC", "UID"}


def openssl_subject(dn: str) -> str:
    """openssl -subj form (/C=GB/O=x/CN=y): most significant RDN first, the reverse of RFC 4514."""
    if dn.startswith("/"):
        return dn
    # runmqakm users write cn=...,o=...; openssl and cryptography know only the upper-case names.
    dn = re.sub(r"(^|(?<!\\)[,+])\s*([A-Za-z]+)\s*=",
                lambda m: m.group(1) + (m.group(2).upper() if m.group(2).upper() in _SHORT_NAMES else m.group(2)) + "=",
                dn)
    try:
        from cryptography import x509

        rdns = x509.Name.from_rfc4514_string(dn).rdns
        return "".join("/" + "+".join(f"{a.rfc4514_attribute_name}={_subj_escape(str(a.value))}" for a in rdn)
                       for rdn in rdns)
    except (ValueError, ImportError):
        # Not parseable (a placeholder, an unknown attribute): split naively, keep the text.
        parts = [p.strip() for p in re.split(r"(?<!\\),", dn) if p.strip()]
        return "".join("/" + p for p in reversed(parts))


def _subj_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("/", "\\/").replace("+", "\\+")


def rfc4514_subject(dn: str) -> str:
    """runmqakm -dn form (CN=y,O=x,C=GB) from either style."""
    if not dn.startswith("/"):
        return dn
    parts = [p for p in re.split(r"(?<!\\)/", dn) if p]
    return ",".join(reversed(parts))
