"""Lint X.509 certificates and check their chains, each finding saying what an operator will see."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

from ikm_tui.core.sanitize import safe_text
from ikm_tui.core.x509.pem import certificate_blobs as split_pem  # noqa: F401 - the name callers know

Severity = Literal["error", "warning", "info"]
ERROR: Severity = "error"
WARNING: Severity = "warning"
INFO: Severity = "info"

EXPIRY_WARNING = timedelta(days=30)
MIN_RSA_BITS = 2048
# A path longer than this is a loop or a mistake, never a real PKI.
MAX_CHAIN_LENGTH = 10

_SHA1_SIGNATURES = {
    SignatureAlgorithmOID.RSA_WITH_SHA1,
    SignatureAlgorithmOID._RSA_WITH_SHA1,  # noqa: SLF001 - the old OIW OID, still seen in old certs
    SignatureAlgorithmOID.ECDSA_WITH_SHA1,
    SignatureAlgorithmOID.DSA_WITH_SHA1,
}
_MD5_SIGNATURES = {SignatureAlgorithmOID.RSA_WITH_MD5}

_WANTED_EKU = {
    "server": (ExtendedKeyUsageOID.SERVER_AUTH, "TLS server (serverAuth)",
               "Java reports \"Extended key usage does not permit use for TLS server authentication\""),
    "client": (ExtendedKeyUsageOID.CLIENT_AUTH, "TLS client (clientAuth)",
               "the server rejects the handshake (OpenSSL: \"unsupported certificate purpose\")"),
}

_STRICT = "strict verifiers (`openssl verify -x509_strict`, Python 3.13+ ssl by default) reject the chain"


# Every code this module can report: stable ids that tests, docs and `ikm-tui explain` key on.
CODES = frozenset({
    "unparseable", "extensions-unparseable", "lint-check-failed", "unsupported-public-key",
    "keycertsign-without-ca", "ca-without-keycertsign", "ca-without-key-usage",
    "expired", "not-yet-valid", "expires-soon",
    "rsa-key-too-small", "sha1-signature", "md5-signature", "serial-not-positive", "v1-with-extensions",
    "server-without-san", "eku-mismatch",
    "chain-missing-issuer", "chain-bad-signature", "chain-issuer-not-ca", "chain-ca-without-keycertsign",
    "chain-ca-without-key-usage", "chain-ca-basic-constraints-not-critical", "chain-ca-missing-ski",
    "chain-missing-aki", "chain-pathlen-exceeded", "chain-ca-expired", "chain-ca-not-yet-valid",
    "chain-self-signed-leaf", "chain-candidate-unparseable", "chain-too-long", "chain-rejected-by-verifier",
})


@dataclass(frozen=True)
class Finding:
    """One problem found in a certificate or chain."""

    code: str  # one of CODES
    severity: Severity
    message: str  # one sentence for an operator, including what breaks because of it

    def __post_init__(self) -> None:
        # A typo in a code would silently escape the golden tests and the docs: fail loudly instead.
        if self.code not in CODES:
            raise ValueError(f"unknown finding code {self.code!r}")
        if self.severity not in (ERROR, WARNING, INFO):
            raise ValueError(f"unknown severity {self.severity!r}")


# --- loading ----------------------------------------------------------------------------------


def _is_parser_failure(exc: BaseException) -> bool:
    # cryptography parses in Rust; a panic there surfaces as pyo3's PanicException, which derives
    # from BaseException, not Exception. Treat it like any other parse failure; let
    # KeyboardInterrupt, SystemExit and cancellation through.
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def _load(der: bytes) -> tuple[x509.Certificate | None, str]:
    try:
        # cryptography warns (and will one day refuse) on serial numbers <= 0; we report those as a
        # finding, and a warning printed on stderr would tear through the TUI. catch_warnings is not
        # thread-safe before Python 3.14: a concurrent caller may briefly see this filter, which only
        # hides the same deprecation warning there.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return x509.load_der_x509_certificate(bytes(der)), ""
    except BaseException as exc:
        if not _is_parser_failure(exc):
            raise
        return None, _reason(exc)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    # Parser messages can be long Rust debug dumps; the first line is enough for an operator.
    return safe_text(text.splitlines()[0][:200])


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    # A naive datetime is taken as UTC, like the certificate's own times.
    return now if now.tzinfo else now.replace(tzinfo=timezone.utc)


def _describe(cert: x509.Certificate) -> str:
    try:
        return f"\"{safe_text(cert.subject.rfc4514_string())}\""
    except Exception:  # noqa: BLE001 - a malformed name must not hide the finding
        return "(unreadable subject)"


def _ext(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def _is_ca(cert: x509.Certificate) -> bool:
    bc = _ext(cert, x509.BasicConstraints)
    return bc is not None and bool(bc.value.ca)  # type: ignore[attr-defined]


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    ku = _ext(cert, x509.KeyUsage)
    return ku.value if ku is not None else None  # type: ignore[return-value]


def _self_issued(cert: x509.Certificate) -> bool:
    return bool(cert.subject == cert.issuer)


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        # Checks the issuer name and the signature with the issuer's key (RSA, EC, EdDSA).
        cert.verify_directly_issued_by(issuer)
        return True
    except BaseException as exc:
        if not _is_parser_failure(exc):
            raise
        return False


def _run(findings: list[Finding], name: str, check: Callable[[], Iterable[Finding]]) -> None:
    """Run one check; a certificate that breaks it costs that check only, never the whole lint."""
    try:
        findings.extend(check())
    except BaseException as exc:
        if not _is_parser_failure(exc):
            raise
        findings.append(Finding(
            "lint-check-failed", WARNING,
            f"The {name} check could not read this certificate ({_reason(exc)}), "
            "so many clients will likely fail to parse it too.",
        ))


# --- single-certificate checks ----------------------------------------------------------------


def _check_version(cert: x509.Certificate) -> Iterable[Finding]:
    if cert.version != x509.Version.v3 and len(cert.extensions) > 0:
        yield Finding(
            "v1-with-extensions", ERROR,
            f"The certificate says it is version {cert.version.value + 1} yet carries extensions, which only "
            "version 3 allows; OpenSSL refuses it (\"Using cert extension requires at least X509v3\") "
            "and other clients may ignore its extensions. Reissue it as v3.",
        )


def _check_extensions_parse(cert: x509.Certificate) -> Iterable[Finding]:
    try:
        _ = cert.extensions  # parsed lazily: this is where duplicates and bad encodings raise
    except BaseException as exc:
        if not _is_parser_failure(exc):
            raise
        yield Finding(
            "extensions-unparseable", ERROR,
            f"The certificate's extensions cannot be decoded ({_reason(exc)}); TLS clients reject "
            "certificates they cannot decode. Reissue it.",
        )


def _check_ca_flags(cert: x509.Certificate) -> Iterable[Finding]:
    ku = _key_usage(cert)
    is_ca = _is_ca(cert)
    if ku is not None and ku.key_cert_sign and not is_ca:
        yield Finding(
            "keycertsign-without-ca", ERROR,
            "keyUsage allows keyCertSign but basicConstraints is not CA:TRUE: Chrome rejects the "
            "certificate with ERR_CERT_INVALID and no reason, and only `openssl verify -x509_strict` "
            "says why (\"Key usage keyCertSign invalid for non-CA cert\"); reissue it without keyCertSign.",
        )
    if is_ca and ku is not None and not ku.key_cert_sign:
        yield Finding(
            "ca-without-keycertsign", ERROR,
            "basicConstraints says CA:TRUE but keyUsage lacks keyCertSign, so every certificate it "
            "issues is rejected (OpenSSL: \"key usage does not include certificate signing\"); add "
            "keyCertSign, or reissue it as CA:FALSE if it is meant to be an end-entity certificate.",
        )
    if is_ca and ku is None:
        yield Finding(
            "ca-without-key-usage", WARNING,
            "This CA certificate has no keyUsage extension, which RFC 5280 requires: "
            f"{_STRICT} (\"CA cert does not include key usage extension\"); reissue it with "
            "keyUsage keyCertSign, cRLSign.",
        )


def _check_validity(cert: x509.Certificate, now: datetime) -> Iterable[Finding]:
    not_before = cert.not_valid_before_utc
    not_after = cert.not_valid_after_utc
    if now > not_after:
        yield Finding(
            "expired", ERROR,
            f"The certificate expired on {not_after:%Y-%m-%d %H:%M} UTC; clients reject it "
            "(Chrome: NET::ERR_CERT_DATE_INVALID, OpenSSL: \"certificate has expired\"). Renew it.",
        )
    elif now < not_before:
        yield Finding(
            "not-yet-valid", ERROR,
            f"The certificate is not valid until {not_before:%Y-%m-%d %H:%M} UTC; clients reject it "
            "until then (OpenSSL: \"certificate is not yet valid\"). Check the issuing CA's clock.",
        )
    elif not_after - now <= EXPIRY_WARNING:
        days = (not_after - now).days
        yield Finding(
            "expires-soon", WARNING,
            f"The certificate expires on {not_after:%Y-%m-%d %H:%M} UTC, in {days} days; "
            "renew it before clients start rejecting it.",
        )


def _check_key(cert: x509.Certificate) -> Iterable[Finding]:
    try:
        key = cert.public_key()
    except BaseException as exc:
        if not _is_parser_failure(exc):
            raise
        yield Finding(
            "unsupported-public-key", WARNING,
            f"The public key cannot be read ({_reason(exc)}); most TLS clients will not accept it either.",
        )
        return
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        yield Finding(
            "rsa-key-too-small", ERROR,
            f"The RSA key has only {key.key_size} bits: OpenSSL at security level 2 (Debian's default) "
            f"refuses keys under {MIN_RSA_BITS} bits in TLS (\"ee key too small\"); generate a new key of "
            f"{MIN_RSA_BITS} bits or more.",
        )


def _check_signature(cert: x509.Certificate) -> Iterable[Finding]:
    # The OID, not `signature_hash_algorithm`: the latter raises for algorithms cryptography lacks.
    oid = cert.signature_algorithm_oid
    if oid in _SHA1_SIGNATURES:
        code, hash_name = "sha1-signature", "SHA-1"
    elif oid in _MD5_SIGNATURES:
        code, hash_name = "md5-signature", "MD5"
    else:
        return
    if _self_issued(cert) and _is_ca(cert):
        # Nobody checks a trust anchor's self-signature, so a SHA-1 root still works.
        yield Finding(
            code, WARNING,
            f"This root signs itself with {hash_name}; that signature is not checked once the root is "
            "trusted, but scanners flag it and some clients may refuse to import it.",
        )
        return
    yield Finding(
        code, ERROR,
        f"The certificate is signed with {hash_name}, which is broken: browsers reject it (Chrome: "
        "NET::ERR_CERT_WEAK_SIGNATURE_ALGORITHM) and so does OpenSSL 3 in TLS at its default security "
        "level, though `openssl verify` still accepts it; reissue it with SHA-256.",
    )


def _check_serial(serial: int) -> Iterable[Finding]:
    if serial <= 0:
        yield Finding(
            "serial-not-positive", ERROR,
            f"The serial number is {'zero' if serial == 0 else 'negative'}, which RFC 5280 forbids: Go "
            "refuses negative serials and Python's cryptography warns it will refuse both; reissue "
            "it with a positive random serial.",
        )


def _check_serial_of(cert: x509.Certificate) -> Iterable[Finding]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        serial = cert.serial_number
    return _check_serial(serial)


def _eku(cert: x509.Certificate) -> list[x509.ObjectIdentifier] | None:
    ext = _ext(cert, x509.ExtendedKeyUsage)
    return list(ext.value) if ext is not None else None  # type: ignore[call-overload]


def _check_san(cert: x509.Certificate, intended_use: str | None) -> Iterable[Finding]:
    if _is_ca(cert):
        return
    eku = _eku(cert)
    is_server = intended_use == "server" or (eku is not None and ExtendedKeyUsageOID.SERVER_AUTH in eku)
    if is_server and _ext(cert, x509.SubjectAlternativeName) is None:
        yield Finding(
            "server-without-san", ERROR,
            "This server certificate has no subjectAltName: Chrome and other modern clients ignore the "
            "CN, so every host name check fails (Chrome: NET::ERR_CERT_COMMON_NAME_INVALID); reissue "
            "it with the host names as SAN DNS entries.",
        )


def _check_eku(cert: x509.Certificate, intended_use: str | None) -> Iterable[Finding]:
    if intended_use is None:
        return
    eku = _eku(cert)
    if eku is None:  # no EKU: any use is allowed
        return
    wanted, what, consequence = _WANTED_EKU[intended_use]
    if wanted in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku:
        return
    have = ", ".join(getattr(o, "_name", o.dotted_string) for o in eku) or "nothing"
    yield Finding(
        "eku-mismatch", ERROR,
        f"extendedKeyUsage allows only {have}, not {what}, so using it as a {intended_use} certificate "
        f"fails: {consequence}; reissue it with the right extendedKeyUsage.",
    )


def lint_certificate(
    der: bytes, *, now: datetime | None = None, intended_use: str | None = None
) -> list[Finding]:
    """Everything wrong with one DER certificate; never raises on malformed input.

    `now` fixes the clock (tests, previews of a future date); `intended_use` is "server", "client"
    or None (no EKU check; a serverAuth EKU still makes the SAN check apply).
    """
    if intended_use not in (None, "server", "client"):
        raise ValueError(f"intended_use must be 'server', 'client' or None, not {intended_use!r}")
    at = _now(now)
    cert, reason = _load(der)
    if cert is None:
        findings = [Finding(
            "unparseable", ERROR,
            f"This is not a readable X.509 certificate ({reason}); no client will accept it, so check "
            "that the right file or object was chosen and that it is not truncated.",
        )]
        # The serial check survives a parser that refuses non-positive serials outright (cryptography
        # has announced it will), so the operator still learns the cause.
        findings.extend(_raw_serial_findings(der))
        return findings

    findings = []
    _run(findings, "extensions", lambda: _check_extensions_parse(cert))
    extensions_ok = not findings
    _run(findings, "validity", lambda: _check_validity(cert, at))
    _run(findings, "public key", lambda: _check_key(cert))
    _run(findings, "signature algorithm", lambda: _check_signature(cert))
    _run(findings, "serial number", lambda: _check_serial_of(cert))
    if extensions_ok:
        # Each of these reads extensions; with undecodable extensions they would only repeat that.
        _run(findings, "version", lambda: _check_version(cert))
        _run(findings, "CA flags", lambda: _check_ca_flags(cert))
        _run(findings, "subjectAltName", lambda: _check_san(cert, intended_use))
        _run(findings, "extendedKeyUsage", lambda: _check_eku(cert, intended_use))
    return findings


def _raw_serial_findings(der: bytes) -> list[Finding]:
    import asn1crypto.x509 as ax  # only when cryptography refused the cert

    try:
        serial = ax.Certificate.load(bytes(der))["tbs_certificate"]["serial_number"].native
    except BaseException as exc:
        if not _is_parser_failure(exc):
            raise
        return []  # "unparseable" already says it all
    return list(_check_serial(serial)) if isinstance(serial, int) else []


# --- chain --------------------------------------------------------------------------------------


def _valid_at(cert: x509.Certificate, at: datetime) -> bool:
    return bool(cert.not_valid_before_utc <= at <= cert.not_valid_after_utc)


def _issuer_rank(cert: x509.Certificate, candidate: x509.Certificate, at: datetime) -> tuple[int, int, int]:
    """Sort key preferring, among same-name issuers, the one a verifier would pick."""
    aki = _ext(cert, x509.AuthorityKeyIdentifier)
    ski = _ext(candidate, x509.SubjectKeyIdentifier)
    key_match = (
        aki is not None and ski is not None
        and aki.value.key_identifier == ski.value.digest  # type: ignore[attr-defined]
    )
    return (not key_match, not _is_ca(candidate), not _valid_at(candidate, at))


def _safe(fn: Callable[[], bool], default: bool) -> bool:
    try:
        return fn()
    except BaseException as exc:
        if not _is_parser_failure(exc):
            raise
        return default


def _ca_findings(ca: x509.Certificate, below: int, at: datetime) -> list[Finding]:
    """Problems of one issuer in the path; `below` = non-self-issued CAs between it and the leaf."""
    who = _describe(ca)
    out: list[Finding] = []
    bc_ext = _ext(ca, x509.BasicConstraints)
    bc = bc_ext.value if bc_ext is not None else None
    ku = _key_usage(ca)
    if bc is None or not bc.ca:  # type: ignore[attr-defined]
        out.append(Finding(
            "chain-issuer-not-ca", ERROR,
            f"The issuer {who} is not a CA (no basicConstraints CA:TRUE), so every client rejects "
            "what it signed (OpenSSL: \"invalid CA certificate\"); issue the certificate from a real CA.",
        ))
    else:
        if not bc_ext.critical:  # type: ignore[union-attr]
            out.append(Finding(
                "chain-ca-basic-constraints-not-critical", ERROR,
                f"The CA {who} has basicConstraints not marked critical: {_STRICT} "
                "(\"Basic Constraints of CA cert not marked critical\"); reissue the CA certificate.",
            ))
        if bc.path_length is not None and below > bc.path_length:  # type: ignore[attr-defined]
            out.append(Finding(
                "chain-pathlen-exceeded", ERROR,
                f"The CA {who} allows {bc.path_length} intermediate CA(s) below it but the path has "  # type: ignore[attr-defined]
                f"{below}; clients reject it (OpenSSL: \"path length constraint exceeded\").",
            ))
        if ku is None:
            out.append(Finding(
                "chain-ca-without-key-usage", ERROR,
                f"The CA {who} has no keyUsage extension: {_STRICT} (\"CA cert does not include key "
                "usage extension\"); reissue it with keyUsage keyCertSign, cRLSign.",
            ))
        if _ext(ca, x509.SubjectKeyIdentifier) is None:
            out.append(Finding(
                "chain-ca-missing-ski", ERROR,
                f"The CA {who} has no subjectKeyIdentifier: {_STRICT} (\"Missing Subject Key "
                "Identifier\"); reissue it with one.",
            ))
    if ku is not None and not ku.key_cert_sign:
        out.append(Finding(
            "chain-ca-without-keycertsign", ERROR,
            f"The issuer {who} has keyUsage without keyCertSign, so clients reject what it signed "
            "(OpenSSL: \"key usage does not include certificate signing\").",
        ))
    if at > ca.not_valid_after_utc:
        out.append(Finding(
            "chain-ca-expired", ERROR,
            f"The CA {who} expired on {ca.not_valid_after_utc:%Y-%m-%d} UTC, so the whole chain is "
            "rejected (OpenSSL: \"certificate has expired\"); install the renewed CA certificate.",
        ))
    elif at < ca.not_valid_before_utc:
        out.append(Finding(
            "chain-ca-not-yet-valid", ERROR,
            f"The CA {who} is not valid until {ca.not_valid_before_utc:%Y-%m-%d} UTC, so the chain "
            "is rejected until then (OpenSSL: \"certificate is not yet valid\").",
        ))
    return out


def _aki_findings(cert: x509.Certificate) -> list[Finding]:
    if _self_issued(cert) or _ext(cert, x509.AuthorityKeyIdentifier) is not None:
        return []
    return [Finding(
        "chain-missing-aki", ERROR,
        f"The certificate {_describe(cert)} has no authorityKeyIdentifier: {_STRICT} (\"Missing "
        "Authority Key Identifier\"); reissue it from a CA that adds one.",
    )]


def _build_path(
    leaf: x509.Certificate, pool: list[x509.Certificate], at: datetime, findings: list[Finding]
) -> list[x509.Certificate] | None:
    """Leaf-first path up to a self-signed root, or None after recording why there is none."""
    path = [leaf]
    while len(path) <= MAX_CHAIN_LENGTH:
        cert = path[-1]
        if _self_issued(cert) and _signed_by(cert, cert):
            return path
        # Exact Name equality, not RFC 5280's case-folding comparison: a CA whose name differs only
        # in case or spacing shows up as a missing issuer, and verify_directly_issued_by would
        # refuse it anyway.
        named = [c for c in pool if c.subject == cert.issuer and all(c is not p for p in path)]
        if not named:
            findings.append(Finding(
                "chain-missing-issuer", ERROR,
                f"The issuer of {_describe(cert)}, \"{safe_text(cert.issuer.rfc4514_string())}\", is "
                "not among the CA certificates given, so the chain cannot be built (OpenSSL: \"unable to "
                "get local issuer certificate\"); add that CA certificate to the token or the files.",
            ))
            return None
        named.sort(key=lambda c: _issuer_rank(cert, c, at))
        signer = next((c for c in named if _signed_by(cert, c)), None)
        if signer is None:
            findings.append(Finding(
                "chain-bad-signature", ERROR,
                f"No CA certificate named \"{safe_text(cert.issuer.rfc4514_string())}\" verifies the "
                f"signature on {_describe(cert)}: the CA given is another one with the same name (e.g. "
                "re-created with a new key) or the certificate was altered; get the CA certificate that "
                "really issued it.",
            ))
            return None
        path.append(signer)
    findings.append(Finding(
        "chain-too-long", ERROR,
        f"No root was reached within {MAX_CHAIN_LENGTH} certificates; the CA certificates given form a "
        "loop or a path no client would follow.",
    ))
    return None


def _second_opinion(
    path: list[x509.Certificate], pool: list[x509.Certificate], at: datetime
) -> list[Finding]:
    """Ask cryptography's own path validator, which checks what we do not (key sizes and signature
    algorithms of the CAs, name constraints, unknown critical extensions)."""
    try:
        from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError
    except ImportError:
        return []
    if not hasattr(PolicyBuilder, "extension_policies"):  # cryptography < 45: no way to relax the leaf
        return []
    leaf, root = path[0], path[-1]
    intermediates = [c for c in pool if c is not root]
    try:
        verifier = (
            PolicyBuilder().store(Store([root])).time(at).max_chain_depth(MAX_CHAIN_LENGTH)
            # Web PKI rules for the CAs; the leaf's own problems are lint_certificate's job.
            .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                                ee_policy=ExtensionPolicy.permit_all())
            .build_client_verifier()
        )
        verifier.verify(leaf, intermediates)
    except VerificationError as exc:
        return [Finding(
            "chain-rejected-by-verifier", WARNING,
            f"cryptography's strict path validator rejects this chain ({_reason(exc)}), so strict "
            "TLS libraries may refuse it too.",
        )]
    except BaseException as exc:
        if not _is_parser_failure(exc):
            raise
        return []  # the validator itself failed: no opinion, not a finding about the chain
    return []


def check_chain(leaf_der: bytes, candidates: list[bytes], *, now: datetime | None = None) -> list[Finding]:
    """Build a path from the leaf to a self-signed root among `candidates`, as strictly as
    `openssl verify -x509_strict`; the leaf's own problems are left to `lint_certificate`.

    Never raises on malformed input.
    """
    at = _now(now)
    leaf, reason = _load(leaf_der)
    if leaf is None:
        return [Finding(
            "unparseable", ERROR,
            f"The certificate to check is not a readable X.509 certificate ({reason}), so no chain can be built.",
        )]
    findings: list[Finding] = []
    pool: list[x509.Certificate] = []
    seen = {bytes(leaf_der)}
    for index, der in enumerate(candidates, 1):
        if bytes(der) in seen:
            continue
        seen.add(bytes(der))
        cert, why = _load(der)
        if cert is None:
            findings.append(Finding(
                "chain-candidate-unparseable", INFO,
                f"CA candidate #{index} is not a readable certificate ({why}) and was skipped.",
            ))
        else:
            pool.append(cert)

    path: list[x509.Certificate] | None = None

    def build() -> Iterable[Finding]:
        nonlocal path
        out: list[Finding] = []
        path = _build_path(leaf, pool, at, out)
        return out

    _run(findings, "chain building", build)
    if path is None:
        return findings
    if len(path) == 1:
        if not _safe(lambda: _is_ca(leaf), False):
            findings.append(Finding(
                "chain-self-signed-leaf", INFO,
                "The certificate is self-signed: clients accept it only where it is installed as trusted "
                "itself, which is fine for a private service but not for browsers at large.",
            ))
        return findings

    below = 0
    for position, cert in enumerate(path):
        if position > 0:
            _run(findings, "CA certificate", lambda c=cert, b=below: _ca_findings(c, b, at))  # type: ignore[misc]
            if not _safe(lambda c=cert: _self_issued(c), True):  # type: ignore[misc]
                below += 1
        _run(findings, "authorityKeyIdentifier", lambda c=cert: _aki_findings(c))  # type: ignore[misc]

    if not any(f.severity == ERROR for f in findings):
        _run(findings, "path validation", lambda: _second_opinion(path or [], pool, at))
    return findings


# ----- choosing inputs: shared by the CLI (`cert lint`, `cert receive`) and the TUI ---------------
SEVERITY_ORDER = {ERROR: 0, WARNING: 1, INFO: 2}


def intended_use_of(eku: Sequence[str]) -> str | None:
    """"server" or "client" from a certificate's EKU names (serverAuth wins); None for neither."""
    if "serverAuth" in eku:
        return "server"
    if "clientAuth" in eku:
        return "client"
    return None


def token_ca_certificates(objects: Sequence[Any], skip: Collection[int] = ()) -> list[bytes]:
    """DER of every CA certificate among listed token objects (CA:TRUE, or filed as authority).

    `objects` are core.model.ObjectInfo; `skip` holds handles not to offer (the leaf itself).
    """
    from ikm_tui.core.model import ObjClass
    from ikm_tui.core.p11.objects import CATEGORY_AUTHORITY

    return [o.value for o in objects
            if o.cls is ObjClass.CERTIFICATE and o.value is not None and o.handle not in skip
            and ((o.cert is not None and o.cert.is_ca) or o.cert_category == CATEGORY_AUTHORITY)]


def assess(der: bytes, candidates: Sequence[bytes], *, now: datetime | None = None,
           intended_use: str | None = None) -> list[Finding]:
    """lint_certificate plus, when the DER parsed, check_chain; errors first."""
    findings = lint_certificate(der, now=now, intended_use=intended_use)
    if not any(f.code == "unparseable" for f in findings):
        findings += check_chain(der, list(candidates), now=now)
    return sorted(findings, key=lambda f: SEVERITY_ORDER.get(f.severity, 3))
