"""Certificate lint: golden files (certificate next to its expected finding codes) and robustness."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikm_tui.core.x509 import lint
from ikm_tui.core.x509.lint import Finding, check_chain, lint_certificate, split_pem
from tests.support import FIXTURES as SUPPORT_FIXTURES

FIXTURES = SUPPORT_FIXTURES / "lint"
CHAINS = FIXTURES / "chain"
# The instant every fixture was built around (make_fixtures.NOW): tests never read the clock.
NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)


def _expected(pem: Path) -> tuple[set[str], str | None]:
    codes, use, _host = _expected_with_host(pem)
    return codes, use


def _expected_with_host(pem: Path) -> tuple[set[str], str | None, str | None]:
    codes: set[str] = set()
    use = host = None
    for line in pem.with_suffix(".expected").read_text().splitlines():
        line = line.strip()
        if m := re.fullmatch(r"#\s*intended_use:\s*(\w+)", line):
            use = m.group(1)
        elif m := re.fullmatch(r"#\s*host:\s*(\S+)", line):
            host = m.group(1)
        elif line and not line.startswith("#"):
            codes.add(line)
    return codes, use, host


LINT_CASES = sorted(FIXTURES.glob("*.pem"))
CHAIN_CASES = sorted(CHAINS.glob("*.pem"))


def _assert_well_formed(findings: list[Finding]) -> None:
    for f in findings:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", f.code), f.code
        assert f.severity in ("error", "warning", "info")
        assert f.message and "\n" not in f.message and f.message.endswith("."), f.message


@pytest.mark.parametrize("pem", LINT_CASES, ids=[p.stem for p in LINT_CASES])
def test_lint_golden(pem: Path) -> None:
    expected, use, host = _expected_with_host(pem)
    [der] = split_pem(pem.read_bytes())
    findings = lint_certificate(der, now=NOW, intended_use=use, host=host)
    _assert_well_formed(findings)
    assert {f.code for f in findings} == expected, [f.message for f in findings]


@pytest.mark.parametrize("pem", CHAIN_CASES, ids=[p.stem for p in CHAIN_CASES])
def test_chain_golden(pem: Path) -> None:
    expected, use = _expected(pem)
    leaf, *candidates = split_pem(pem.read_bytes())
    findings = check_chain(leaf, candidates, now=NOW, intended_use=use)
    _assert_well_formed(findings)
    assert {f.code for f in findings} == expected, [f.message for f in findings]


def test_every_finding_code_has_a_golden_file() -> None:
    covered: set[str] = set()
    for pem in LINT_CASES + CHAIN_CASES:
        covered |= _expected(pem)[0]
    # These two need a broken check or an 11-certificate chain: unit tests below cover them.
    assert lint.CODES - covered == {"lint-check-failed", "chain-too-long"}
    assert covered <= lint.CODES


def _lint_fixture(name: str, **kw: object) -> list[Finding]:
    [der] = split_pem((FIXTURES / f"{name}.pem").read_bytes())
    return lint_certificate(der, now=NOW, **kw)  # type: ignore[arg-type]


def test_keycertsign_without_ca_is_an_error_that_names_the_consequence() -> None:
    [finding] = _lint_fixture("keycertsign-without-ca")
    assert finding.code == "keycertsign-without-ca"
    assert finding.severity == "error"
    assert "ERR_CERT_INVALID" in finding.message
    assert "-x509_strict" in finding.message


def test_severities() -> None:
    assert [f.severity for f in _lint_fixture("expires-soon")] == ["warning"]
    assert [f.severity for f in _lint_fixture("expired")] == ["error"]
    assert [f.severity for f in _lint_fixture("sha1-signature")] == ["error"]
    [pem] = split_pem((CHAINS / "self-signed-leaf.pem").read_bytes())
    assert [f.severity for f in check_chain(pem, [], now=NOW)] == ["info"]


def test_now_decides_expiry() -> None:
    [der] = split_pem((FIXTURES / "clean-server.pem").read_bytes())
    assert lint_certificate(der, now=datetime(2025, 12, 20, tzinfo=timezone.utc))[0].code == "expires-soon"
    assert lint_certificate(der, now=datetime(2026, 2, 1, tzinfo=timezone.utc))[0].code == "expired"
    # A naive `now` is UTC, as the certificate's own times are.
    assert lint_certificate(der, now=datetime(2026, 2, 1))[0].code == "expired"


def test_intended_use_is_validated() -> None:
    with pytest.raises(ValueError):
        lint_certificate(b"", intended_use="email")


def test_split_pem_keeps_der_and_broken_blocks() -> None:
    assert split_pem(b"\x30\x03\x02\x01\x01") == [b"\x30\x03\x02\x01\x01"]
    bundle = b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"
    assert split_pem(bundle) == [b""]
    assert [f.code for f in lint_certificate(b"", now=NOW)] == ["unparseable"]


def test_a_failing_check_becomes_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    class PanicException(BaseException):  # stands in for pyo3_runtime.PanicException
        pass

    def boom(cert: object) -> list[Finding]:
        raise PanicException("rust panicked")

    monkeypatch.setattr(lint, "_check_key", boom)
    codes = [f.code for f in _lint_fixture("clean-server")]
    assert codes == ["lint-check-failed"]


def test_interrupts_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(cert: object) -> list[Finding]:
        raise KeyboardInterrupt

    monkeypatch.setattr(lint, "_check_key", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _lint_fixture("clean-server")


def test_chain_too_long(monkeypatch: pytest.MonkeyPatch) -> None:
    from ikm_tui.core.x509 import chain

    monkeypatch.setattr(chain, "MAX_CHAIN_LENGTH", 1)  # path building lives in chain.py since the split
    leaf, *candidates = split_pem((CHAINS / "ok.pem").read_bytes())
    assert [f.code for f in check_chain(leaf, candidates, now=NOW)] == ["chain-too-long"]


def test_chain_findings_name_the_ca() -> None:
    leaf, *candidates = split_pem((CHAINS / "expired-intermediate.pem").read_bytes())
    [finding] = check_chain(leaf, candidates, now=NOW)
    assert "Expired Intermediate CA" in finding.message


# --- robustness -----------------------------------------------------------------------------------

_VALID = [split_pem((FIXTURES / f"{n}.pem").read_bytes())[0] for n in ("clean-server", "root-ca")]
_CANDIDATES = split_pem((CHAINS / "ok.pem").read_bytes())[1:]

_mutation = st.tuples(
    st.sampled_from(["flip", "set", "insert", "delete", "truncate"]),
    st.integers(min_value=0, max_value=4096),
    st.integers(min_value=0, max_value=255),
)


def _mutate(der: bytes, mutations: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(der)
    for op, pos, value in mutations:
        if not buf:
            break
        i = pos % len(buf)
        if op == "flip":
            buf[i] ^= 1 << (value % 8)
        elif op == "set":
            buf[i] = value
        elif op == "insert":
            buf.insert(i, value)
        elif op == "delete":
            del buf[i]
        else:
            del buf[i:]
    return bytes(buf)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(_VALID), mutations=st.lists(_mutation, min_size=1, max_size=6),
       use=st.sampled_from([None, "server", "client"]))
def test_mutated_der_never_raises(base: bytes, mutations: list[tuple[str, int, int]], use: str | None) -> None:
    der = _mutate(base, mutations)
    findings = lint_certificate(der, now=NOW, intended_use=use)
    assert all(isinstance(f, Finding) for f in findings)
    chain = check_chain(der, _CANDIDATES, now=NOW)
    assert all(isinstance(f, Finding) for f in chain)


@settings(max_examples=100, deadline=None)
@given(mutations=st.lists(_mutation, min_size=1, max_size=4), which=st.integers(0, 1))
def test_mutated_candidates_never_raise(mutations: list[tuple[str, int, int]], which: int) -> None:
    candidates = list(_CANDIDATES)
    candidates[which] = _mutate(candidates[which], mutations)
    findings = check_chain(_VALID[0], candidates, now=NOW)
    assert all(isinstance(f, Finding) for f in findings)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert lint_certificate(data, now=NOW)[0].code == "unparseable"


# --- agreement with `openssl verify -x509_strict` -------------------------------------------------


def _openssl_strict(tmp_path: Path, leaf: bytes, candidates: list[bytes]) -> tuple[bool, str]:
    """Run `openssl verify -x509_strict` at NOW: self-signed candidates trusted, the rest untrusted."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    roots, others = [], []
    for der in candidates:
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            continue
        (roots if cert.subject == cert.issuer else others).append(cert.public_bytes(Encoding.PEM))
    leaf_cert = x509.load_der_x509_certificate(leaf)
    if not roots:
        roots = [leaf_cert.public_bytes(Encoding.PEM)] if leaf_cert.subject == leaf_cert.issuer else []
    # -auth_level 2: the security level TLS applies on Debian (issue 13), so weak CA keys count.
    args = ["openssl", "verify", "-x509_strict", "-auth_level", "2", "-attime", str(int(NOW.timestamp()))]
    files = {"leaf.pem": [leaf_cert.public_bytes(Encoding.PEM)], "roots.pem": roots, "untrusted.pem": others}
    for name, pems in files.items():
        (tmp_path / name).write_bytes(b"".join(pems))
    args += ["-CAfile", str(tmp_path / "roots.pem")] if roots else ["-no-CAfile", "-no-CApath"]
    if others:
        args += ["-untrusted", str(tmp_path / "untrusted.pem")]
    proc = subprocess.run([*args, str(tmp_path / "leaf.pem")], capture_output=True, text=True, timeout=30)
    return proc.returncode == 0, proc.stdout + proc.stderr


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


@pytest.mark.interop
@needs_openssl
@pytest.mark.parametrize("pem", CHAIN_CASES, ids=[p.stem for p in CHAIN_CASES])
def test_chain_errors_agree_with_openssl_x509_strict(pem: Path, tmp_path: Path) -> None:
    leaf, *candidates = split_pem(pem.read_bytes())
    findings = check_chain(leaf, candidates, now=NOW)
    if any(f.code == "unparseable" for f in findings):
        pytest.skip("openssl cannot read the leaf either")
    ok, output = _openssl_strict(tmp_path, leaf, candidates)
    assert ok == (not any(f.severity == "error" for f in findings)), output


@pytest.mark.interop
@needs_openssl
def test_openssl_x509_strict_names_keycertsign_without_ca(tmp_path: Path) -> None:
    # The one place that says why Chrome shows ERR_CERT_INVALID: keep our message's claim honest.
    [leaf] = split_pem((FIXTURES / "keycertsign-without-ca.pem").read_bytes())
    ok, output = _openssl_strict(tmp_path, leaf, _CANDIDATES)
    assert not ok
    assert "keyCertSign invalid for non-CA" in output
