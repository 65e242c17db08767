"""Names in lint: the SAN against the host clients dial, IPs written as DNS names, name constraints."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.x509.oid import NameOID

from ikm_tui.core.sanitize import safe_text
from ikm_tui.core.x509.findings import ERROR, WARNING, Finding, describe, ext

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(text: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _san(cert: x509.Certificate) -> list[x509.GeneralName] | None:
    found = ext(cert, x509.SubjectAlternativeName)
    return list(found.value) if found is not None else None  # type: ignore[call-overload]


def _dns_names(cert: x509.Certificate) -> list[str]:
    return [str(n.value) for n in _san(cert) or [] if isinstance(n, x509.DNSName)]


def _common_names(cert: x509.Certificate) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def dns_matches(pattern: str, host: str) -> bool:
    """RFC 6125 matching as browsers do it: case-insensitive, a wildcard only as the whole left label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def check_host(cert: x509.Certificate, host: str) -> Iterable[Finding]:
    """Does the certificate name `host` (a DNS name or an IP address) the way TLS clients check it?"""
    ip = parse_ip(host)
    san = _san(cert)
    shown = safe_text(host)
    if ip is not None:
        if any(isinstance(n, x509.IPAddress) and n.value == ip for n in san or []):
            return
        if any(parse_ip(d) == ip for d in _dns_names(cert)):
            yield Finding(
                "san-ip-as-dns", ERROR,
                f"The SAN holds {shown} as a DNS name, but clients dialling an IP address only compare "
                "SAN IP entries: OpenSSL fails with \"IP address mismatch\" (s_client -verify_ip), Chrome with "
                "NET::ERR_CERT_COMMON_NAME_INVALID, Java with \"No subject alternative names matching IP "
                f"address {shown} found\"; reissue it with IP:{shown} in the SAN.",
            )
            return
        what = "IP address mismatch"
    else:
        names = _dns_names(cert) if san is not None else _common_names(cert)
        if any(dns_matches(n, host) for n in names):
            return
        what = "hostname mismatch"
    have = ", ".join(safe_text(str(n.value)) for n in san or []) or "no SAN"
    yield Finding(
        "host-mismatch", ERROR,
        f"The certificate does not name {shown} (it has {have}): clients dialling {shown} fail "
        f"(OpenSSL: \"{what}\", Chrome: NET::ERR_CERT_COMMON_NAME_INVALID, Java: \"No subject alternative "
        "names matching\"); reissue it with that name in the SAN, or dial a name it has.",
    )


def check_ip_as_dns(cert: x509.Certificate) -> Iterable[Finding]:
    """Without a host to check: warn about SAN DNS entries that are really IP addresses."""
    for name in _dns_names(cert):
        if parse_ip(name) is not None:
            shown = safe_text(name)
            yield Finding(
                "san-ip-as-dns", WARNING,
                f"The SAN holds {shown} as a DNS name: clients that dial the IP address only compare SAN IP "
                "entries and fail (OpenSSL: \"IP address mismatch\", Chrome: NET::ERR_CERT_COMMON_NAME_INVALID); "
                f"reissue it with IP:{shown} in the SAN if clients connect by address.",
            )


# --- name constraints (RFC 5280 4.2.1.10, matched the way OpenSSL 3.0 does) ---------------------


def _dns_in(name: str, base: str) -> bool:
    # OpenSSL nc_dns: an empty base matches all; otherwise compare the right-hand side, and a longer
    # name must have a '.' just before it (or the base starts with '.').
    name, base = name.lower(), base.lower()
    if not base:
        return True
    if len(name) > len(base):
        if not base.startswith(".") and name[-len(base) - 1] != ".":
            return False
        return name.endswith(base)
    return name == base


def _within(name: x509.GeneralName, subtree: x509.GeneralName) -> bool | None:
    """Whether `name` lies in `subtree`, or None when the two are of different kinds."""
    if isinstance(name, x509.DNSName) and isinstance(subtree, x509.DNSName):
        return _dns_in(str(name.value), str(subtree.value))
    if isinstance(name, x509.IPAddress) and isinstance(subtree, x509.IPAddress):
        net = subtree.value
        return isinstance(net, ipaddress.IPv4Network | ipaddress.IPv6Network) and name.value in net
    return None


def _nc_names(cert: x509.Certificate, is_leaf: bool) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [n for n in _san(cert) or [] if isinstance(n, x509.DNSName | x509.IPAddress)]
    if is_leaf and not any(isinstance(n, x509.DNSName) for n in names):
        # OpenSSL checks a leaf's CN as a DNS name when it has no SAN DNS entry and looks like a host name.
        names += [x509.DNSName(cn) for cn in _common_names(cert) if "." in cn and " " not in cn]
    return names


def _violation(nc: x509.NameConstraints, name: x509.GeneralName) -> str | None:
    for subtree in nc.excluded_subtrees or []:
        if _within(name, subtree):
            return "excluded subtree violation"
    permitted = [_within(name, s) for s in nc.permitted_subtrees or []]
    kind = [p for p in permitted if p is not None]
    if kind and not any(kind):
        return "permitted subtree violation"
    return None


def name_constraint_findings(ca: x509.Certificate, below: Sequence[x509.Certificate]) -> list[Finding]:
    """Names of the certificates under `ca` (leaf first) that its nameConstraints forbid."""
    found = ext(ca, x509.NameConstraints)
    if found is None:
        return []
    nc: x509.NameConstraints = found.value  # type: ignore[assignment]
    for position, cert in enumerate(below):
        for name in _nc_names(cert, position == 0):
            what = _violation(nc, name)
            if what:
                return [Finding(
                    "chain-name-constraints", ERROR,
                    f"The CA {describe(ca)} may only issue names its nameConstraints allow, and "
                    f"{describe(cert)} carries {safe_text(str(name.value))}: every client rejects the chain "
                    f"(OpenSSL: \"{what}\", Chrome: NET::ERR_CERT_INVALID or ERR_CERT_NAME_CONSTRAINT_VIOLATION); "
                    "reissue it with names inside the CA's constraints.",
                )]
    return []


def presence_findings(cert: x509.Certificate) -> Iterable[Finding]:
    """An empty SAN, or an empty subject whose SAN is not critical (RFC 5280 4.2.1.6)."""
    san = ext(cert, x509.SubjectAlternativeName)
    if san is not None and not list(san.value):  # type: ignore[call-overload]
        yield Finding(
            "san-empty", ERROR,
            "The subjectAltName extension is present but empty: OpenSSL's strict check rejects it (\"Empty "
            "Subject Alternative Name extension\") and no host name can match it (Chrome: "
            "NET::ERR_CERT_COMMON_NAME_INVALID); reissue it with the host names in the SAN.",
        )
    if len(cert.subject) == 0 and (san is None or not san.critical):
        yield Finding(
            "subject-empty-san-not-critical", ERROR,
            "The subject is empty and the subjectAltName is not marked critical, which RFC 5280 forbids: "
            f"{describe(cert)} is rejected by OpenSSL (\"Subject empty and Subject Alt Name extension not "
            "critical\") and cryptography; reissue it with a subject or a critical SAN.",
        )
