"""Explain a PKCS#11 return code, a GSKit (runmqakm/gskcapicmd) message or a TLS error in plain words."""

from __future__ import annotations

import re
from functools import lru_cache

from ikm_tui.core import errors
from ikm_tui.core.text.explanation import Explanation
from ikm_tui.core.errors import (
    CKR_BY_NAME,
    CKR_VENDOR_DEFINED,
    ckr_for_code,
    unknown_code_text,
)


_DB2_GSKIT = "https://www.ibm.com/docs/SSEPGG_11.5.0/com.ibm.db2.luw.admin.sec.doc/doc/r_gskit_return_codes.html"
_IBMDS_GSKIT = "https://www.ibm.com/support/knowledgecenter/SSVJJU_6.3.0/com.ibm.IBMDS.doc/progref506.htm"

_LIST_LABELS = ("`ikm-tui list` shows every object on the token with its label, CKA_ID and which key each "
                "certificate pairs with; use the label exactly as shown (`ikm-tui cert rename OLD NEW` renames "
                "a certificate and its keys together).")

# Only messages whose meaning was found documented (IBM's GSKit return-code tables) or reported by
# runmqakm -crypto users in issue 5. CTGSK3046W, CTGSK2101W, CTGSK3030W and
# GSK_ERROR_BAD_KEYFILE_PASSWORD are left out until their meaning is confirmed.
GSKIT: dict[str, Explanation] = {e.code: e for e in (
    Explanation(
        "CTGSK3026W", "GSKit",
        message='The key file "pkcs11" does not exist or cannot be read.',
        meaning=('runmqakm/gskcapicmd could not open the key database it was given. With -crypto MODULE '
                 '-tokenlabel LABEL the "key file" is the PKCS#11 token, which GSKit calls "pkcs11": '
                 'the token could not be opened, no file is missing.'),
        typical_cause=('Usually a wrong -tokenlabel (OpenSC names tokens "UserPIN (<card label>)") or a wrong '
                       'PIN given with -pw; GSKit reports both with this one message.'),
        action=('Run `ikm-tui tokens` to see the exact token labels, then `ikm-tui --token LABEL list` (a '
                'pkcs11: URI works too). ikm-tui asks for the PIN separately and reports a wrong one as '
                'CKR_PIN_INCORRECT, so the two causes are told apart.'),
    ),
    Explanation(
        "CTGSK2137W", "GSKit",
        meaning='The label given with -label does not exist: no certificate or key on the token carries it.',
        typical_cause=('The label differs from the object\'s CKA_LABEL (case, spaces), or the object is on '
                       'another token than -tokenlabel names.'),
        action=_LIST_LABELS,
    ),
    Explanation(
        "CTGSK3034W", "GSKit",
        meaning=('runmqakm -cert -receive looks in the key database for the certificate request that matches '
                 'the certificate, and did not find it.'),
        typical_cause=('Expected with -crypto: runmqakm cannot receive a certificate onto a PKCS#11 token, '
                       'even when the key and the request were made there.'),
        action=('Use `ikm-tui cert receive FILE`: it finds the certificate\'s private key on the token by its '
                'public key and stores the certificate with that key\'s CKA_ID and label, which is what '
                'Java, NSS and OpenSSL need to see them as a pair.'),
    ),
    Explanation(
        "GSK_KEY_LABEL_NOT_FOUND", "GSKit", number=6,
        meaning='The certificate label GSKit was asked for is not in the key file (here: on the token).',
        typical_cause=('The configured certificate label (MQ\'s CERTLABL, or its default '
                       'ibmwebspheremq<name>) does not match the certificate\'s label on the token.'),
        action=_LIST_LABELS,
        reference=_DB2_GSKIT,
    ),
    Explanation(
        "GSK_KEYFILE_IO_ERROR", "GSKit", number=102,
        meaning='GSKit hit an I/O error reading the key file (here: talking to the token).',
        action=('Check the token is reachable and listed: `ikm-tui --module PATH tokens`; the trace '
                '(`--trace FILE`) shows the failing PKCS#11 call.'),
        reference=_DB2_GSKIT,
    ),
    Explanation(
        "GSK_BAD_FORMAT_OR_INVALID_PASSWORD", "GSKit", number=106,
        meaning=('GSKit uses the key-file password as an integrity check: either the key file is corrupt or '
                 'the password is wrong.'),
        typical_cause='With -crypto the password is the token\'s user PIN, so usually the PIN is wrong.',
        action=('Log in with ikm-tui: it shows the token\'s PIN flags (COUNT_LOW, FINAL_TRY, LOCKED) before '
                'asking and reports a wrong PIN as CKR_PIN_INCORRECT; each wrong try counts towards '
                'locking the token.'),
        reference=_DB2_GSKIT,
    ),
    Explanation(
        "GSK_NO_KEYFILE_PASSWORD", "GSKit", number=201,
        meaning='Neither a password nor a stash file was given, so the key file could not be opened.',
        action=('ikm-tui takes the PIN from a prompt on a terminal, from --pin-file FILE or from IKM_PIN, '
                'never from the command line.'),
        reference=_IBMDS_GSKIT,
    ),
    Explanation(
        "GSK_KEYRING_OPEN_ERROR", "GSKit", number=202,
        meaning='The key file could not be opened: the path is wrong or file permissions deny it.',
        typical_cause='With -crypto, check the module path given to -crypto and its permissions.',
        action='`ikm-tui --module PATH tokens` says whether the module loads and which tokens it sees.',
        reference=_IBMDS_GSKIT,
    ),
)}

KNOWN_PREFIXES = ("CKR_ (a PKCS#11 name such as CKR_PIN_INCORRECT, also without the prefix, "
                  "or its number: 0xA0, a0, 160)",
                  "CTGSK (runmqakm/gskcapicmd messages: " + ", ".join(k for k in GSKIT if k.startswith("CTGSK")) + ")",
                  "GSK_ (GSKit return codes: " + ", ".join(k for k in GSKIT if k.startswith("GSK_")) + ")",
                  "TLS errors as pasted: openssl verify/s_client lines (\"error 24 at 1 depth lookup: invalid CA "
                  "certificate\", X509_V_ERR_*), Chrome NET::ERR_CERT_*, NSS SEC_ERROR_*/SSL_ERROR_*/"
                  "PR_END_OF_FILE_ERROR, Java \"PKIX path building failed\", strmqikm findSigner")


@lru_cache(maxsize=1)
def _exception_names() -> tuple[dict[str, str], dict[str, str]]:
    """(CKR name -> python-pkcs11 class name, lowercase class name -> CKR name), built on first
    use: the table imports python-pkcs11, which `ikm-tui --help` should not pay for."""
    table = errors.CKR_NAME_BY_EXCEPTION
    return ({name: klass.__name__ for klass, name in table.items()},
            {klass.__name__.lower(): name for klass, name in table.items()})

_CTGSK = re.compile(r"\bCTGSK\d{4}[A-Z]\b")
_GSK = re.compile(r"\bGSK_[A-Z0-9_]+\b")
_UNMAPPED = re.compile(r"UNMAPPED ERROR CODE (0X[0-9A-F]+)")
_CKR_HEX = re.compile(r"\bCKR_0X([0-9A-F]+)\b")
_VENDOR = re.compile(r"\bCKR_VENDOR_DEFINED\b(?:\s*\+\s*(0X[0-9A-F]+|\d+))?")
_CKR = re.compile(r"\bCKR_[A-Z0-9_]+\b")


def _parse_number(text: str) -> int | None:
    """0xA0 and a0 are hex, 160 is decimal: digits alone are read as decimal."""
    t = text.strip().upper()
    if re.fullmatch(r"0X[0-9A-F]+", t):
        return int(t, 16)
    if re.fullmatch(r"\d+", t):
        return int(t)
    if re.fullmatch(r"[0-9A-F]+", t):
        return int(t, 16)
    return None


def _from_ckr(name: str, number: int | None = None) -> Explanation | None:
    entry = CKR_BY_NAME.get(name) if number is None else ckr_for_code(number)
    if entry is None:
        return None
    # p11-kit's old numbers reach python-pkcs11 as "Unmapped error code", not as the named class.
    canonical = CKR_BY_NAME[entry.name].code == entry.code
    return Explanation(entry.name, "PKCS#11", entry.cause, entry.next_step, number=entry.code,
                       exception=_exception_names()[0].get(entry.name) if canonical else None)


def _resolve(code: str) -> tuple[Explanation | None, int | None]:
    """The explanation for `code`, and the number it named when that number is unknown."""
    text = code.strip()
    up = text.upper()
    # Operators paste whole lines ("CTGSK3026W The key file ..."), so look for a code inside first.
    if m := _CTGSK.search(up):
        return GSKIT.get(m.group(0)), None
    if m := _GSK.search(up):
        return GSKIT.get(m.group(0)), None
    if m := _UNMAPPED.search(up):
        number = int(m.group(1), 16)
        return _from_ckr("", number), number
    if m := _CKR_HEX.search(up):
        number = int(m.group(1), 16)
        return _from_ckr("", number), number
    if m := _VENDOR.search(up):
        offset = _parse_number(m.group(1)) if m.group(1) else 0
        return None, CKR_VENDOR_DEFINED + (offset or 0)
    if m := _CKR.search(up):
        return _from_ckr(m.group(0)), None
    from ikm_tui.core.text.tls_explain import tls_lookup  # here: its tables cost start-up time

    if (tls := tls_lookup(text)) is not None:
        return tls, None
    if up and "CKR_" + up in CKR_BY_NAME:
        return _from_ckr("CKR_" + up), None
    by_class_name = _exception_names()[1]
    if text.lower() in by_class_name:
        return _from_ckr(by_class_name[text.lower()]), None
    parsed = _parse_number(text)
    if parsed is not None:
        return _from_ckr("", parsed), parsed
    return None, None


def lookup(code: str) -> Explanation | None:
    """The explanation for a CKR name/number, a python-pkcs11 exception name or a GSKit code; None if unknown."""
    return _resolve(code)[0]


def render(exp: Explanation) -> str:
    """The explanation as the plain text `explain` prints."""
    head = exp.code
    if exp.family == "PKCS#11" and exp.number is not None:
        head += f" (0x{exp.number:08X} = {exp.number}) - PKCS#11 return code"
    elif exp.family != "GSKit":  # the TLS side: OpenSSL, Chrome, NSS, Java
        head += (f" ({exp.number})" if exp.number is not None else "") + f" - {exp.family}"
    elif exp.number is not None:
        head += f" ({exp.number}) - GSKit return code"
    else:
        head += " - GSKit (runmqakm/gskcapicmd) message"
    lines = [head]
    if exp.message:
        lines.append(f"Message: {exp.message}")
    lines.append(f"Meaning: {exp.meaning}")
    if exp.typical_cause:
        lines.append(f"Typical cause on a token: {exp.typical_cause}")
    lines.append(f"What to do: {exp.action}")
    if exp.exception:
        lines.append(f"python-pkcs11 raises: pkcs11.exceptions.{exp.exception}")
    if exp.reference:
        lines.append(f"Source: {exp.reference}")
    return "\n".join(lines)


def explain(code: str) -> str:
    """Plain-text explanation of `code`; never raises for unknown input, it says what is known instead."""
    exp, number = _resolve(code)
    if exp is not None:
        text = render(exp)
        # "10" is read as decimal; say so when the hex reading names another code.
        digits = code.strip()
        if digits.isdigit() and int(digits, 16) != int(digits):
            other = ckr_for_code(int(digits, 16))
            if other is not None:
                text += f"\n(Read as decimal {digits}; 0x{digits} would be {other.name}.)"
        return text
    prefixes = "; ".join(KNOWN_PREFIXES)
    if number is not None:
        return (f"unknown code {code.strip()!r}: {unknown_code_text(number)}\n"
                f"Known prefixes are {prefixes}.")
    return f"unknown code {code.strip()!r}: known prefixes are {prefixes}."
