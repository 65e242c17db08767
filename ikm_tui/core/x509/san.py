"""Subject alternative names as operators type them (`DNS:host`, `IP:addr`, `email:a@b`, `URI:u`), for asn1crypto."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from asn1crypto import x509

from ikm_tui.core.x509 import names

_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*$")


def _check_hostname(item: str, host: str, *, wildcard: bool) -> None:
    if not host.isascii():
        raise ValueError(f"bad SAN {item!r}: use the ASCII (xn--) form of an internationalised name")
    if len(host) > 253:
        raise ValueError(f"bad SAN {item!r}: a DNS name is at most 253 characters")
    labels = host.split(".")
    for i, label in enumerate(labels):
        if wildcard and i == 0 and label == "*" and len(labels) > 2:
            continue  # a wildcard only as the whole left-most label, and not for a bare TLD
        if not _LABEL_RE.match(label):
            raise ValueError(
                f"bad SAN {item!r}: label {label!r} must be 1-63 letters, digits or '-', "
                "not starting or ending with '-'"
            )


def _ip(item: str, value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"bad SAN {item!r}: {value!r} is not an IPv4 or IPv6 address") from None


def _email(item: str, value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"bad SAN {item!r}: an email address needs local@domain")
    if not local.isascii() or " " in local:
        raise ValueError(f"bad SAN {item!r}: the part before '@' must be ASCII without spaces")
    _check_hostname(item, domain, wildcard=False)
    return value


def _uri(item: str, value: str) -> str:
    if not value.isascii() or any(c.isspace() for c in value):
        raise ValueError(f"bad SAN {item!r}: a URI must be ASCII without spaces (percent-encode)")
    scheme = urlsplit(value).scheme
    if not scheme or not _SCHEME_RE.match(scheme) or not value.startswith(scheme + ":"):
        raise ValueError(f"bad SAN {item!r}: a URI needs a scheme, such as https://host/path")
    return value


def _dns(item: str, value: str) -> str:
    _check_hostname(item, value, wildcard=True)
    return value


# Checks per asn1crypto GeneralName choice; each returns the value to encode.
_CHECKS = {"dns_name": _dns, "ip_address": _ip, "rfc822_name": _email, "uniform_resource_identifier": _uri}


def _one_san(item: str) -> x509.GeneralName:
    if not isinstance(item, str):
        raise TypeError(f"SAN must be a str, not {type(item).__name__}")
    prefix, sep, value = item.partition(":")
    value = value.strip()
    if not sep or not value:
        raise ValueError(f"bad SAN {item!r}: expected DNS:name, IP:address, email:address or URI:uri")
    kind = names.san_kind(prefix)
    if kind is None:
        raise ValueError(f"bad SAN {item!r}: unknown kind {prefix.strip().lower()!r}; use DNS:, IP:, email: or URI:")
    return x509.GeneralName(name=kind.asn1, value=_CHECKS[kind.asn1](item, value))


def parse_san(items: Iterable[str]) -> x509.GeneralNames:
    """Parse `DNS:name`, `IP:addr` (v4/v6), `email:addr`, `URI:uri` items, kept in the order given."""
    if isinstance(items, str):
        # A bare string would be iterated character by character; say so instead.
        raise TypeError("parse_san takes a list of items, not one string")
    return x509.GeneralNames([_one_san(i) for i in items])
