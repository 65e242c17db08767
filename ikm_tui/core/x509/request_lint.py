"""Warnings at request time: what would make the CA-signed certificate fail TLS, before it is sent."""

from __future__ import annotations

from collections.abc import Sequence

from ikm_tui.core.sanitize import safe_text
from ikm_tui.core.x509.hostnames import dns_matches, parse_ip

MIN_RSA_BITS = 2048


def _norm(items: Sequence[str]) -> set[str]:
    return {i.strip().replace("_", "").replace(" ", "").lower() for i in items}


def _split_san(item: str) -> tuple[str, str]:
    kind, _, value = item.partition(":")
    return kind.strip().upper(), value.strip()


def _cn(subject: str) -> str | None:
    # Enough for a warning: the CN of a "CN=x,O=y" DN as typed (escaped commas are rare in host names).
    for part in subject.split(","):
        key, _, value = part.partition("=")
        if key.strip().upper() == "CN":
            return value.strip()
    return None


def request_warnings(key_type: str, subject: str, sans: Sequence[str], key_usage: Sequence[str],
                     eku: Sequence[str]) -> list[str]:
    """One sentence per problem: what the CA-signed certificate will do wrong, and the fix."""
    out: list[str] = []
    kind, _, size = key_type.lower().partition(":")
    if kind == "rsa" and size.isdigit() and int(size) < MIN_RSA_BITS:
        out.append(
            f"RSA-{size}: OpenSSL at security level 2 (Debian's default) refuses the certificate in TLS "
            "(\"ee key too small\"; as a CA key \"CA certificate key too weak\") and public CAs refuse to sign "
            "it; use rsa:2048 or more.")
    if "keycertsign" in _norm(key_usage):
        out.append(
            "keyUsage keyCertSign is for CA certificates, and this request is not one: a CA that copies it "
            "issues a certificate Chrome rejects with NET::ERR_CERT_INVALID (openssl -x509_strict: \"Key usage "
            "keyCertSign invalid for non-CA cert\"); drop keyCertSign.")
    for item in sans:
        kind_, value = _split_san(item)
        if kind_ == "DNS" and parse_ip(value) is not None:
            shown = safe_text(value)
            out.append(
                f"DNS:{shown} is an IP address written as a DNS name: clients dialling {shown} fail (openssl "
                f"-verify_ip: \"IP address mismatch\", Chrome: NET::ERR_CERT_COMMON_NAME_INVALID); use IP:{shown}.")
    out += _server_name_warnings(subject, sans, eku)
    return out


def _server_name_warnings(subject: str, sans: Sequence[str], eku: Sequence[str]) -> list[str]:
    if "serverauth" not in _norm(eku):
        return []
    cn = _cn(subject)
    names = [_split_san(i) for i in sans]
    if not names:
        return ["A server request without subjectAltName: Chrome and other modern clients ignore the CN, so "
                "every host name check fails (NET::ERR_CERT_COMMON_NAME_INVALID); add --san DNS:host (and "
                "IP:address if clients dial an address)."]
    if not cn:
        return []
    ip = parse_ip(cn)
    named = any((k == "IP" and ip is not None and parse_ip(v) == ip) or (k == "DNS" and dns_matches(v, cn))
                for k, v in names)
    if named:
        return []
    shown = safe_text(cn)
    kind = "IP" if ip is not None else "DNS"
    return [f"CN={shown} is not in the SAN: clients ignore the CN, so those dialling {shown} fail (Chrome: "
            f"NET::ERR_CERT_COMMON_NAME_INVALID, openssl: \"hostname mismatch\"); add --san {kind}:{shown}."]
