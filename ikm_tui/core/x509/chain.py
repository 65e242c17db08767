"""Chain checks: build the path from a leaf to a self-signed root and judge every CA on it as TLS will."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from ikm_tui.core.sanitize import safe_text
from ikm_tui.core.x509.extchecks import aki_findings, critical_extension_findings, serial_length_findings
from ikm_tui.core.x509.findings import (
    ERROR, INFO, MD5_SIGNATURES, SHA1_SIGNATURES, STRICT, WARNING, Finding, describe, eku, ext, is_ca,
    is_parser_failure, key_usage, load, reason, run, safe, self_issued, serial_of,
)
from ikm_tui.core.x509.hostnames import name_constraint_findings

MIN_CA_RSA_BITS = 2048
# A path longer than this is a loop or a mistake, never a real PKI.
MAX_CHAIN_LENGTH = 10
_USE_OID = {"server": ExtendedKeyUsageOID.SERVER_AUTH, "client": ExtendedKeyUsageOID.CLIENT_AUTH}


def _verify_signature(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    """Check cert's signature with issuer's key, SHA-1 and MD5 included (those are judged elsewhere)."""
    if cert.signature_algorithm_oid not in SHA1_SIGNATURES | MD5_SIGNATURES:
        cert.verify_directly_issued_by(issuer)
        return
    # cryptography's verify_directly_issued_by refuses SHA-1; a SHA-1 signature is weak, not forged.
    if cert.issuer != issuer.subject:
        raise ValueError("issuer name differs")
    key = issuer.public_key()
    params = cert.signature_algorithm_parameters
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, params, cert.signature_hash_algorithm)  # type: ignore[arg-type]
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))  # type: ignore[arg-type]
    elif isinstance(key, dsa.DSAPublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, cert.signature_hash_algorithm)  # type: ignore[arg-type]
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes)
    else:
        raise ValueError("unsupported issuer key")


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        _verify_signature(cert, issuer)
        return True
    except BaseException as exc:
        if not is_parser_failure(exc):
            raise
        return False


def _valid_at(cert: x509.Certificate, at: datetime) -> bool:
    return bool(cert.not_valid_before_utc <= at <= cert.not_valid_after_utc)


def _key_ids(cert: x509.Certificate, candidate: x509.Certificate) -> tuple[bytes | None, bytes | None]:
    aki = ext(cert, x509.AuthorityKeyIdentifier)
    ski = ext(candidate, x509.SubjectKeyIdentifier)
    return (aki.value.key_identifier if aki else None,  # type: ignore[attr-defined]
            ski.value.digest if ski else None)  # type: ignore[attr-defined]


def _issuer_rank(cert: x509.Certificate, candidate: x509.Certificate, at: datetime) -> tuple[int, int, int]:
    """Sort key preferring, among same-name issuers, the one a verifier would pick."""
    aki, ski = _key_ids(cert, candidate)
    return (not (aki is not None and aki == ski), not is_ca(candidate), not _valid_at(candidate, at))


def _missing_issuer(cert: x509.Certificate, pool: list[x509.Certificate]) -> Finding:
    issuer = safe_text(cert.issuer.rfc4514_string())
    if self_issued(cert):
        # A self-issued certificate whose own signature does not verify: not a missing CA.
        return Finding(
            "chain-bad-signature", ERROR,
            f"{describe(cert)} names itself as issuer but its signature does not verify with its own key: "
            "it was altered or damaged (OpenSSL: \"certificate signature failure\"); get a fresh copy.",
        )
    return Finding(
        "chain-missing-issuer", ERROR,
        f"The issuer of {describe(cert)}, \"{issuer}\", is not among the CA certificates given, so the chain "
        "cannot be built (OpenSSL: \"unable to get local issuer certificate\", Chrome: "
        "NET::ERR_CERT_AUTHORITY_INVALID, Java: \"PKIX path building failed\"); add that CA certificate to "
        "the token or the files.",
    )


def _build_path(
    leaf: x509.Certificate, pool: list[x509.Certificate], at: datetime, findings: list[Finding]
) -> list[x509.Certificate] | None:
    """Leaf-first path up to a self-signed root, or None after recording why there is none."""
    path = [leaf]
    while len(path) <= MAX_CHAIN_LENGTH:
        cert = path[-1]
        if self_issued(cert) and signed_by(cert, cert):
            return path
        # Exact Name equality, not RFC 5280's case-folding comparison: a CA whose name differs only
        # in case or spacing shows up as a missing issuer, and verify_directly_issued_by would
        # refuse it anyway.
        named = [c for c in pool if c.subject == cert.issuer and all(c is not p for p in path)]
        if not named:
            findings.append(_missing_issuer(cert, pool))
            return None
        named.sort(key=lambda c: _issuer_rank(cert, c, at))
        signer = next((c for c in named if signed_by(cert, c)), None)
        if signer is None:
            findings.append(Finding(
                "chain-bad-signature", ERROR,
                f"No CA certificate named \"{safe_text(cert.issuer.rfc4514_string())}\" verifies the "
                f"signature on {describe(cert)}: the CA given is another one with the same name (e.g. "
                "re-created with a new key) or the certificate was altered (OpenSSL: \"unable to get local "
                "issuer certificate\" or \"certificate signature failure\"); get the CA certificate that "
                "really issued it.",
            ))
            return None
        findings.extend(_aki_mismatch(cert, signer))
        path.append(signer)
    findings.append(Finding(
        "chain-too-long", ERROR,
        f"No root was reached within {MAX_CHAIN_LENGTH} certificates; the CA certificates given form a "
        "loop or a path no client would follow.",
    ))
    return None


def _aki_mismatch(cert: x509.Certificate, signer: x509.Certificate) -> list[Finding]:
    aki, ski = _key_ids(cert, signer)
    if aki is None or ski is None or aki == ski:
        return []
    return [Finding(
        "chain-aki-mismatch", ERROR,
        f"The authorityKeyIdentifier of {describe(cert)} ({aki.hex()}) does not match the subjectKeyIdentifier "
        f"of its issuer {describe(signer)} ({ski.hex()}), so OpenSSL does not take that CA as the issuer "
        "(\"unable to get local issuer certificate\"); reissue the certificate from the CA as it is now.",
    )]


def _ca_basics(ca: x509.Certificate, below: int) -> list[Finding]:
    """basicConstraints, keyUsage and key identifiers of one issuer in the path."""
    who = describe(ca)
    out: list[Finding] = []
    bc_ext = ext(ca, x509.BasicConstraints)
    bc = bc_ext.value if bc_ext is not None else None
    ku = key_usage(ca)
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
                f"The CA {who} has basicConstraints not marked critical: {STRICT} "
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
                f"The CA {who} has no keyUsage extension: {STRICT} (\"CA cert does not include key "
                "usage extension\"); reissue it with keyUsage keyCertSign, cRLSign.",
            ))
        if ca.version == x509.Version.v3 and ext(ca, x509.SubjectKeyIdentifier) is None:
            out.append(Finding(
                "chain-ca-missing-ski", ERROR,
                f"The CA {who} has no subjectKeyIdentifier: {STRICT} (\"Missing Subject Key "
                "Identifier\"); reissue it with one.",
            ))
    if ku is not None and not ku.key_cert_sign:
        out.append(Finding(
            "chain-ca-without-keycertsign", ERROR,
            f"The issuer {who} has keyUsage without keyCertSign, so clients reject what it signed "
            "(OpenSSL: \"invalid CA certificate\" or \"key usage does not include certificate signing\").",
        ))
    return out


def _ca_validity(ca: x509.Certificate, at: datetime) -> list[Finding]:
    who = describe(ca)
    if at > ca.not_valid_after_utc:
        return [Finding(
            "chain-ca-expired", ERROR,
            f"The CA {who} expired on {ca.not_valid_after_utc:%Y-%m-%d} UTC, so the whole chain is "
            "rejected (OpenSSL: \"certificate has expired\"); install the renewed CA certificate.",
        )]
    if at < ca.not_valid_before_utc:
        return [Finding(
            "chain-ca-not-yet-valid", ERROR,
            f"The CA {who} is not valid until {ca.not_valid_before_utc:%Y-%m-%d} UTC, so the chain "
            "is rejected until then (OpenSSL: \"certificate is not yet valid\").",
        )]
    return []


def _ca_strength(ca: x509.Certificate) -> list[Finding]:
    """Key size and signature hash of a CA: what OpenSSL's security level 2 refuses."""
    who = describe(ca)
    out: list[Finding] = []
    key = ca.public_key()
    weak = (isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey) and key.key_size < MIN_CA_RSA_BITS) or (
        isinstance(key, ec.EllipticCurvePublicKey) and key.key_size < 224)
    if weak:
        out.append(Finding(
            "chain-ca-key-too-weak", ERROR,
            f"The CA {who} has a {key.key_size}-bit key (security level 2, Debian's default, needs "  # type: ignore[union-attr]
            f"{MIN_CA_RSA_BITS}): OpenSSL refuses the chain (verify: \"CA certificate key too weak\", s_server: "
            "\"ca key too small\", s_client: \"certificate verify failed\"), "
            "as does cryptography (\"RSA key is too weak\"); re-create the CA "
            "with a key of 2048 bits or more and reissue what it signed.",
        ))
    if not self_issued(ca) and ca.signature_algorithm_oid in SHA1_SIGNATURES | MD5_SIGNATURES:
        out.append(Finding(
            "chain-ca-weak-signature", ERROR,
            f"The CA certificate {who} is signed with SHA-1 or MD5: OpenSSL at security level 2 refuses the "
            "chain (verify: \"CA signature digest algorithm too weak\", s_server: \"ca md too weak\"), Chrome shows "
            "NET::ERR_CERT_WEAK_SIGNATURE_ALGORITHM; reissue the CA certificate with SHA-256.",
        ))
    return out


def _ca_eku(ca: x509.Certificate, intended_use: str | None) -> list[Finding]:
    have = eku(ca)
    if intended_use is None or have is None or _USE_OID[intended_use] in have:
        return []
    names = ", ".join(getattr(o, "_name", o.dotted_string) for o in have) or "nothing"
    return [Finding(
        "chain-ca-eku-mismatch", ERROR,
        f"The CA {describe(ca)} limits its extendedKeyUsage to {names}, which excludes {intended_use} use "
        "(anyExtendedKeyUsage does not count in a CA for OpenSSL), so OpenSSL rejects the chain "
        "(\"unsuitable certificate purpose\") and Chrome shows NET::ERR_CERT_INVALID; use a CA whose EKU "
        f"includes {intended_use}Auth, or one without EKU.",
    )]


def _second_opinion(
    path: list[x509.Certificate], pool: list[x509.Certificate], at: datetime
) -> list[Finding]:
    """Ask cryptography's own path validator, which checks what we do not (e.g. the Web PKI's key and
    signature algorithms for CAs)."""
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
            f"cryptography's strict path validator rejects this chain ({reason(exc)}), so strict "
            "TLS libraries may refuse it too.",
        )]
    except BaseException as exc:
        if not is_parser_failure(exc):
            raise
        return []  # the validator itself failed: no opinion, not a finding about the chain
    return []


def _ca_findings(path: list[x509.Certificate], position: int, below: int, at: datetime,
                 intended_use: str | None) -> Iterable[Finding]:
    """Everything wrong with the CA at `position`; `below` = non-self-issued CAs between it and the leaf."""
    ca = path[position]
    yield from _ca_basics(ca, below)
    yield from _ca_validity(ca, at)
    yield from _ca_strength(ca)
    yield from _ca_eku(ca, intended_use)
    yield from critical_extension_findings(ca)
    yield from serial_length_findings(serial_of(ca), f"the CA {describe(ca)}")
    yield from name_constraint_findings(ca, path[:position])


def _pool(leaf_der: bytes, candidates: list[bytes], findings: list[Finding]) -> list[x509.Certificate]:
    pool: list[x509.Certificate] = []
    seen = {bytes(leaf_der)}
    for index, der in enumerate(candidates, 1):
        if bytes(der) in seen:
            continue
        seen.add(bytes(der))
        cert, why = load(der)
        if cert is None:
            findings.append(Finding(
                "chain-candidate-unparseable", INFO,
                f"CA candidate #{index} is not a readable certificate ({why}) and was skipped.",
            ))
        else:
            pool.append(cert)
    return pool


def check_chain(leaf_der: bytes, candidates: list[bytes], *, now: datetime | None = None,
                intended_use: str | None = None) -> list[Finding]:
    """Build a path from the leaf to a self-signed root among `candidates`, as strictly as
    `openssl verify -x509_strict -auth_level 2 -purpose ssl<intended_use>`; the leaf's own problems
    are left to `lint_certificate`.

    Never raises on malformed input.
    """
    at = now or datetime.now(timezone.utc)
    at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    leaf, why = load(leaf_der)
    if leaf is None:
        return [Finding(
            "unparseable", ERROR,
            f"The certificate to check is not a readable X.509 certificate ({why}), so no chain can be built.",
        )]
    findings: list[Finding] = []
    pool = _pool(leaf_der, candidates, findings)
    path: list[x509.Certificate] | None = None

    def build() -> Iterable[Finding]:
        nonlocal path
        out: list[Finding] = []
        path = _build_path(leaf, pool, at, out)
        return out

    run(findings, "chain building", build)
    if path is None:
        return findings
    if len(path) == 1:
        if not safe(lambda: is_ca(leaf), False):
            findings.append(Finding(
                "chain-self-signed-leaf", INFO,
                "The certificate is self-signed: clients accept it only where it is installed as trusted "
                "itself, which is fine for a private service but not for browsers at large.",
            ))
        return findings

    below = 0
    for position, cert in enumerate(path):
        if position > 0:
            run(findings, "CA certificate",
                lambda p=position, b=below: _ca_findings(path or [], p, b, at, intended_use))  # type: ignore[misc]
            if not safe(lambda c=cert: self_issued(c), True):  # type: ignore[misc]
                below += 1
        run(findings, "authorityKeyIdentifier", lambda c=cert: aki_findings(c))  # type: ignore[misc]

    if not any(f.severity == ERROR for f in findings):
        run(findings, "path validation", lambda: _second_opinion(path or [], pool, at))
    return findings
