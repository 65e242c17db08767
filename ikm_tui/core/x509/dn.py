"""Distinguished names and subject alternative names typed by operators, parsed into asn1crypto."""

from __future__ import annotations

import re
from dataclasses import dataclass

from asn1crypto import core, x509

from ikm_tui.core.x509.san import parse_san

# parse_san lived here before san.py; callers and tests still import it from dn.
__all__ = ["format_dn", "parse_dn", "parse_san"]

# How order maps (X.501 / RFC 5280 / RFC 4514):
#
# A Name is an RDNSequence whose FIRST element is the most significant RDN (usually C).
#
# - RFC 4514 / RFC 2253 text, and runmqakm's `-dn`, list RDNs most-significant LAST:
#   `CN=colin,O=SSS,C=GB` is the sequence [C=GB, O=SSS, CN=colin]. We reverse the text order, so
#   `openssl x509 -subject -nameopt RFC2253` and cryptography's `rfc4514_string()` print back
#   exactly what the operator typed, and `format_dn` does too.
# - openssl `-subj` text lists RDNs most-significant FIRST: `/C=GB/O=HW/CN=colinpaice` is the
#   sequence [C=GB, O=HW, CN=colinpaice], which is what `openssl req -subj` itself builds.
#   Its RFC 4514 form is therefore `CN=colinpaice,O=HW,C=GB`.
#
# A leading '/' selects the openssl syntax; anything else is RFC 4514 (runmqakm's syntax is
# RFC 4514 with lower-case attribute names, and RFC 4514 names are case-insensitive anyway).
# Repeated RDNs (two OU=) are kept in the order given. The members of a multi-valued RDN
# (`CN=a+UID=b`) form a DER SET OF, which X.690 requires to be sorted by encoding, so their
# order inside the RDN is the DER order, whatever order they were typed in.


@dataclass(frozen=True)
class _AttrType:
    name: str  # asn1crypto NameType name
    short: str  # how format_dn prints it: OpenSSL's short name, as `openssl -nameopt RFC2253` does
    encoding: str  # "utf8", "printable" or "ia5"
    max_len: int | None = None  # RFC 5280 Appendix A upper bounds, in characters


_TYPES: tuple[_AttrType, ...] = (
    _AttrType("common_name", "CN", "utf8", 64),
    _AttrType("organization_name", "O", "utf8", 64),
    _AttrType("organizational_unit_name", "OU", "utf8", 64),
    # Country and serialNumber are PrintableString in X.520; C is exactly two letters.
    _AttrType("country_name", "C", "printable", 2),
    _AttrType("state_or_province_name", "ST", "utf8", 128),
    _AttrType("locality_name", "L", "utf8", 128),
    _AttrType("street_address", "street", "utf8", 128),
    _AttrType("title", "title", "utf8", 64),
    _AttrType("given_name", "GN", "utf8", 32768),
    _AttrType("surname", "SN", "utf8", 32768),
    _AttrType("initials", "initials", "utf8", 32768),
    _AttrType("generation_qualifier", "generationQualifier", "utf8", 32768),
    _AttrType("pseudonym", "pseudonym", "utf8", 128),
    _AttrType("serial_number", "serialNumber", "printable", 64),
    _AttrType("dn_qualifier", "dnQualifier", "printable", None),
    _AttrType("postal_code", "postalCode", "utf8", 40),
    _AttrType("business_category", "businessCategory", "utf8", 128),
    # PKCS#9 emailAddress and RFC 4519 DC are IA5String (ASCII), as OpenSSL encodes them.
    _AttrType("email_address", "emailAddress", "ia5", 255),
    _AttrType("domain_component", "DC", "ia5", None),
    _AttrType("user_id", "UID", "utf8", 256),
)

_BY_NAME = {t.name: t for t in _TYPES}

# Every spelling an operator may type, lower-cased. "SN" is surname (RFC 4519, OpenSSL), never
# serial number; "E" is the Windows/GSKit spelling of emailAddress; "S" and "SP" are the
# Microsoft and GSKit spellings of state or province.
_ALIASES: dict[str, str] = {
    "cn": "common_name", "commonname": "common_name",
    "o": "organization_name", "organizationname": "organization_name",
    "ou": "organizational_unit_name", "organizationalunitname": "organizational_unit_name",
    "c": "country_name", "countryname": "country_name",
    "st": "state_or_province_name", "s": "state_or_province_name", "sp": "state_or_province_name",
    "stateorprovincename": "state_or_province_name",
    "l": "locality_name", "localityname": "locality_name",
    "street": "street_address", "streetaddress": "street_address",
    "title": "title",
    "gn": "given_name", "givenname": "given_name", "g": "given_name",
    "sn": "surname", "surname": "surname",
    "initials": "initials",
    "generationqualifier": "generation_qualifier",
    "pseudonym": "pseudonym",
    "serialnumber": "serial_number",
    "dnqualifier": "dn_qualifier",
    "postalcode": "postal_code",
    "businesscategory": "business_category",
    "e": "email_address", "email": "email_address", "emailaddress": "email_address",
    "dc": "domain_component", "domaincomponent": "domain_component",
    "uid": "user_id", "userid": "user_id",
}

_OID_RE = re.compile(r"^(?:oid\.)?([0-2](?:\.(?:0|[1-9][0-9]*))+)$", re.IGNORECASE)
# X.680 PrintableString alphabet.
_PRINTABLE_RE = re.compile(r"^[A-Za-z0-9 '()+,\-./:=?]*$")
_HEX_RE = re.compile(r"^[0-9A-Fa-f]{2}$")
_STRING_TYPES = (core.AbstractString,)


@dataclass
class _Ava:
    type_text: str
    value: str | None  # None when given as #hex, then `der` holds the encoded value
    der: bytes | None
    where: int  # index into the original text, for error messages


def _context(text: str, pos: int) -> str:
    """Point at `pos` in the DN so the operator can see where parsing stopped."""
    return f"at position {pos + 1} of {text!r}"


class _Scanner:
    """Walk a DN string character by character; one instance per parse."""

    def __init__(self, text: str, *, slash: bool) -> None:
        self.text = text
        self.slash = slash
        self.rdn_sep = "/" if slash else ","
        self.pos = 0

    def fail(self, msg: str, pos: int | None = None) -> ValueError:
        return ValueError(f"bad DN: {msg} ({_context(self.text, self.pos if pos is None else pos)})")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_spaces(self) -> None:
        while self.peek() == " ":
            self.pos += 1

    def rdns(self) -> list[list[_Ava]]:
        out: list[list[_Ava]] = []
        if self.slash:
            self.pos = 1  # the leading '/' that selected this syntax
        while True:
            rdn = [self.ava()]
            while self.peek() == "+":
                self.pos += 1
                rdn.append(self.ava())
            out.append(rdn)
            ch = self.peek()
            if ch == "":
                return out
            if ch == self.rdn_sep or (not self.slash and ch == ";"):
                # RFC 2253 §4 lets parsers accept ';' as an RDN separator too.
                self.pos += 1
                self.skip_spaces()
                if self.peek() == "":
                    if self.slash:
                        return out  # `openssl req -subj "/CN=x/"` accepts a trailing '/' too
                    raise self.fail(f"nothing after the last {ch!r}")
                continue
            raise self.fail(f"unexpected {ch!r}")  # pragma: no cover - value() stops only at separators

    def ava(self) -> _Ava:
        self.skip_spaces()
        start = self.pos
        eq = self.text.find("=", self.pos)
        seps = ("/", "+") if self.slash else (",", "+", ";")
        stops = [i for i in (self.text.find(c, self.pos) for c in seps) if i >= 0]
        if eq < 0 or (stops and min(stops) < eq):
            end = min(stops) if stops else len(self.text)
            piece = self.text[start:end].strip()
            if not piece:
                raise self.fail("empty attribute (two separators in a row?)", start)
            raise self.fail(f"{piece!r} is not TYPE=value", start)
        type_text = self.text[start:eq].strip()
        if not type_text:
            raise self.fail("missing attribute type before '='", start)
        self.pos = eq + 1
        if self.slash:
            value = self.slash_value()
            return _Ava(type_text, value, None, start)
        self.skip_spaces()
        if self.peek() == "#":
            return _Ava(type_text, None, self.hex_value(type_text), start)
        if self.peek() == '"':
            return _Ava(type_text, self.quoted_value(), None, start)
        return _Ava(type_text, self.plain_value(), None, start)

    def slash_value(self) -> str:
        # openssl -subj: a backslash makes the next character literal; '/' and '+' end the value.
        self.skip_spaces()
        out: list[str] = []
        keep = 0  # escaped characters, including spaces, survive the right-strip below
        while True:
            ch = self.peek()
            if ch in ("", "/", "+"):
                break
            if ch == "\\":
                if self.pos + 1 >= len(self.text):
                    raise self.fail("'\\' at the end of the DN escapes nothing")
                out.append(self.text[self.pos + 1])
                keep = len(out)
                self.pos += 2
                continue
            out.append(ch)
            self.pos += 1
        while len(out) > keep and out[-1] == " ":
            out.pop()
        return "".join(out)

    def plain_value(self) -> str:
        # RFC 4514 §3: '\' + special character or '\' + two hex digits (one UTF-8 byte).
        buf = bytearray()
        keep = 0
        while True:
            ch = self.peek()
            if ch in ("", ",", "+", ";"):
                break
            if ch == "\\":
                nxt = self.text[self.pos + 1:self.pos + 3]
                if _HEX_RE.match(nxt):
                    buf.append(int(nxt, 16))
                    self.pos += 3
                elif nxt:
                    buf.extend(nxt[0].encode("utf-8"))
                    self.pos += 2
                else:
                    raise self.fail("'\\' at the end of the DN escapes nothing")
                keep = len(buf)
                continue
            if ch == '"':
                raise self.fail('a \'"\' inside a value must be escaped as \\" (or quote the whole value)')
            buf.extend(ch.encode("utf-8"))
            self.pos += 1
        while len(buf) > keep and buf[-1:] == b" ":
            del buf[-1]
        try:
            return bytes(buf).decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("the \\XX escapes do not form valid UTF-8") from None

    def quoted_value(self) -> str:
        # RFC 1779 quoting, still common in tools: "Sue, Grabbit and Runn".
        open_at = self.pos
        self.pos += 1
        out: list[str] = []
        while True:
            ch = self.peek()
            if ch == "":
                raise self.fail("unterminated quoted value", open_at)
            if ch == "\\":
                nxt = self.text[self.pos + 1:self.pos + 2]
                if not nxt:
                    raise self.fail("unterminated quoted value", open_at)
                out.append(nxt)
                self.pos += 2
                continue
            self.pos += 1
            if ch == '"':
                break
            out.append(ch)
        self.skip_spaces()
        if self.peek() not in ("", ",", "+", ";"):
            raise self.fail("text after a closing quote")
        return "".join(out)

    def hex_value(self, type_text: str) -> bytes:
        # RFC 4514 §2.4: '#' + hex of the BER/DER of the value, used for dotted-OID types.
        start = self.pos
        self.pos += 1
        while self.peek() not in ("", ",", "+", ";", " "):
            self.pos += 1
        digits = self.text[start + 1:self.pos]
        self.skip_spaces()
        if self.peek() not in ("", ",", "+", ";"):
            raise self.fail("text after a #hex value", start)
        try:
            der = bytes.fromhex(digits)
            if not der:
                raise ValueError
            parsed = core.load(der, strict=True)
        except ValueError:
            raise self.fail(f"{type_text}=#{digits} is not the hex of one DER value", start) from None
        return bytes(parsed.dump())


def _resolve_type(type_text: str) -> tuple[str, _AttrType | None]:
    """Return (asn1crypto type name or dotted OID, known type or None)."""
    key = type_text.lower()
    if key in _ALIASES:
        name = _ALIASES[key]
        return name, _BY_NAME[name]
    m = _OID_RE.match(type_text)
    if m:
        dotted = m.group(1)
        known = x509.NameType._map.get(dotted)  # noqa: SLF001 - asn1crypto's OID-to-name table
        if known in _BY_NAME:
            return known, _BY_NAME[known]
        return dotted, None
    raise ValueError(
        f"bad DN: unknown attribute type {type_text!r}; use one of "
        "CN, O, OU, C, ST, L, street, title, GN, SN, serialNumber, emailAddress (E), DC, UID, "
        "or a dotted OID such as 2.5.4.3"
    )


def _encode_value(ava: _Ava, text: str) -> x509.NameTypeAndValue:
    type_name, known = _resolve_type(ava.type_text)
    label = known.short if known else type_name
    if ava.der is not None:
        if known is None:
            return x509.NameTypeAndValue({"type": type_name, "value": core.load(ava.der)})
        # Load with the type's own ASN.1 spec (EmailAddress, DirectoryString...) so a wrong
        # string type is refused, then re-check the text: #hex must not smuggle a bad C= in.
        spec = x509.NameTypeAndValue._oid_specs[type_name]  # noqa: SLF001 - asn1crypto's value spec
        try:
            value = spec.load(ava.der, strict=True)
            # asn1crypto's load() trusts the spec and does not check the tag itself; the
            # universal, primitive string types used here have a one-byte identifier.
            if not isinstance(value, core.Choice) and ava.der[0] != spec.tag:
                raise ValueError
            native = value.native
        except (ValueError, TypeError):
            raise ValueError(f"bad DN: {label}=#{ava.der.hex()} is not a valid {label} value") from None
        if not isinstance(native, str):
            raise ValueError(f"bad DN: {label}=#... must hold a string value")
        _check_value(label, known, native)
        return x509.NameTypeAndValue({"type": type_name, "value": value})
    assert ava.value is not None
    val = ava.value
    if val == "":
        raise ValueError(f"bad DN: {label} has an empty value ({_context(text, ava.where)})")
    if known is None:
        # Unknown OIDs get UTF8String, the RFC 5280 default for DirectoryString.
        return x509.NameTypeAndValue({"type": type_name, "value": core.UTF8String(val)})
    _check_value(label, known, val)
    if known.encoding == "ia5":
        # EmailAddress / DNSName: asn1crypto's IA5String subclasses for these two types.
        encoded: core.Asn1Value = x509.NameTypeAndValue._oid_specs[type_name](val)  # noqa: SLF001
    elif known.encoding == "printable":
        encoded = x509.DirectoryString(name="printable_string", value=core.PrintableString(val))
    else:
        encoded = x509.DirectoryString(name="utf8_string", value=core.UTF8String(val))
    return x509.NameTypeAndValue({"type": type_name, "value": encoded})


def _check_value(label: str, known: _AttrType, val: str) -> None:
    if known.encoding == "printable" and not _PRINTABLE_RE.match(val):
        raise ValueError(
            f"bad DN: {label}={val!r} has characters a PrintableString cannot hold "
            "(letters, digits, space and ' ( ) + , - . / : = ? only)"
        )
    if known.encoding == "ia5" and not val.isascii():
        raise ValueError(f"bad DN: {label}={val!r} must be ASCII")
    if known.name == "country_name" and not (len(val) == 2 and val.isalpha()):
        raise ValueError(f"bad DN: C={val!r} must be a two-letter ISO 3166 country code such as GB")
    if known.max_len is not None and len(val) > known.max_len:
        raise ValueError(
            f"bad DN: {label} is {len(val)} characters; RFC 5280 allows at most {known.max_len}"
        )


def parse_dn(text: str) -> x509.Name:
    """Parse an operator's DN in RFC 4514, runmqakm or openssl `-subj` syntax; see the notes above.

    Raises ValueError saying which part is bad; TypeError when `text` is not a str.
    """
    if not isinstance(text, str):
        raise TypeError(f"DN must be a str, not {type(text).__name__}")
    # Only leading spaces go here: a trailing one may be escaped (`CN=x\\ `); the scanner drops
    # unescaped trailing spaces itself.
    stripped = text.lstrip(" ")
    if not stripped.strip():
        raise ValueError("bad DN: it is empty")
    if "\x00" in stripped:
        raise ValueError("bad DN: it contains a NUL character")
    slash = stripped.startswith("/")
    parsed = _Scanner(stripped, slash=slash).rdns()
    if not slash:
        parsed.reverse()  # RFC 4514 text is most-significant last; the sequence is first.
    rdns = []
    for rdn in parsed:
        avas = [_encode_value(a, stripped) for a in rdn]
        encodings = [a.dump() for a in avas]
        if len(set(encodings)) != len(encodings):
            # A SET OF with the same member twice: refused by cryptography and meaningless.
            raise ValueError(f"bad DN: the same TYPE=value appears twice in one RDN joined by '+' "
                             f"({_context(stripped, rdn[0].where)})")
        rdns.append(x509.RelativeDistinguishedName(avas))
    return x509.Name(name="", value=x509.RDNSequence(rdns))


def _escape(value: str) -> str:
    # RFC 4514 §2.4.
    out = []
    for i, ch in enumerate(value):
        if ch in '"+,;<>\\' or (i == 0 and ch in "# ") or (i == len(value) - 1 and ch == " "):
            out.append("\\" + ch)
        elif ch == "\x00":
            out.append("\\00")
        else:
            out.append(ch)
    return "".join(out)


def _format_ava(ava: x509.NameTypeAndValue) -> str:
    dotted = ava["type"].dotted
    known = _BY_NAME.get(x509.NameType._map.get(dotted, ""))  # noqa: SLF001 - see _resolve_type
    raw = ava["value"].dump()
    if known is not None:
        try:
            value = core.load(raw)
        except ValueError:
            value = None
        if isinstance(value, _STRING_TYPES):
            return f"{known.short}={_escape(value.native)}"
        return f"{known.short}=#{raw.hex()}"
    # RFC 4514 §2.4: a type shown as a dotted OID has its value shown as #hex of the DER.
    return f"{dotted}=#{raw.hex()}"


def format_dn(name: x509.Name) -> str:
    """RFC 4514 text of a Name, most-significant RDN last, OpenSSL's short attribute names.

    The result may hold any Unicode, including control characters: pass it through
    `sanitize.safe_text` before putting it on a terminal.
    """
    rdns = list(name.chosen)
    return ",".join("+".join(_format_ava(a) for a in rdn) for rdn in reversed(rdns))
