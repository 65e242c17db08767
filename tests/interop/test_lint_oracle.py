"""Lint agrees with TLS: over a generated corpus (tests/support/chains.py) of 150+ chains, ikm-tui's
verdict (any ERROR = reject) is compared with `openssl verify -x509_strict -auth_level 2 -purpose
ssl<use>` (plus -verify_hostname/-verify_ip for servers) and with cryptography's x509.verification.

Rules (issue 13): no chain openssl rejects may pass lint; no chain both oracles accept may fail it.
Where lint is stricter than openssl (only cryptography rejects), the chain is listed below with why.
"""

from __future__ import annotations

import re
import shutil

import pytest

from ikm_tui.core.x509.lint import assess
from tests.support.chains import AT, Chain, corpus
from tests.support.oracles import cryptography_verify, openssl_verify

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")]

# Chains lint rejects although openssl accepts them; cryptography rejects each of them too.
STRICTER_THAN_OPENSSL = {
    "server-without-san": "Chrome and cryptography ignore the CN; openssl -verify_hostname still falls back to it",
    "ok-v1-leaf-server": "a v1 server leaf has no SAN: same CN fallback as server-without-san",
    "serial-21-bytes-leaf-server": "RFC 5280 caps serials at 20 octets; cryptography enforces it, openssl does not",
    "serial-21-bytes-leaf-client": "as above",
    "serial-21-bytes-int-server": "as above, on the intermediate",
    "serial-21-bytes-int-client": "as above, on the intermediate",
}
# Chains where a rule is broken on purpose, with the reason (none today: keep it that way).
EXCEPTIONS: dict[str, str] = {}

FAMILIES = {
    "clean", "unknown-critical", "name-constraints", "any-eku", "eku-mismatch", "int-eku", "aki-ski",
    "key-usage", "key-usage-type", "ca-flags", "names", "ip-as-dns", "host", "serial", "weak-ca", "sha1",
    "v1-leaf", "validity", "building",
}


def _verdict(chain: Chain) -> tuple[bool, list[str], str]:
    candidates = [*chain.intermediates, *([chain.root] if chain.root else [])]
    findings = assess(chain.leaf, candidates, now=AT, intended_use=chain.use, host=chain.host)
    errors = [f for f in findings if f.severity == "error"]
    return not errors, [f.code for f in errors], " ".join(f.message for f in errors)


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Chain, bool, str, bool, str, bool, list[str], str]]:
    work = tmp_path_factory.mktemp("oracle")
    rows = []
    for chain in corpus():
        ossl_ok, ossl_out = openssl_verify(chain, work)
        crypto_ok, crypto_out = cryptography_verify(chain)
        ours, codes, text = _verdict(chain)
        rows.append((chain, ossl_ok, ossl_out, crypto_ok, crypto_out, ours, codes, text))
    return rows


def test_corpus_covers_every_family() -> None:
    chains = corpus()
    assert len(chains) >= 100
    assert {c.family for c in chains} == FAMILIES


def test_nothing_openssl_rejects_passes_lint(table: list) -> None:  # type: ignore[type-arg]
    missed = [f"{c.id}: openssl said {out.splitlines()[-1:]}" for c, ossl_ok, out, *_, ours, codes, _t in table
              if not ossl_ok and ours and c.id not in EXCEPTIONS]
    assert missed == []


def test_nothing_both_oracles_accept_fails_lint(table: list) -> None:  # type: ignore[type-arg]
    false_alarms = [f"{c.id}: {codes}" for c, ossl_ok, _o, crypto_ok, _c, ours, codes, _t in table
                    if ossl_ok and crypto_ok and not ours and c.id not in EXCEPTIONS]
    assert false_alarms == []


def test_stricter_than_openssl_only_where_listed(table: list) -> None:  # type: ignore[type-arg]
    stricter = {c.id for c, ossl_ok, _o, crypto_ok, _c, ours, *_ in table if ossl_ok and not ours}
    assert stricter == set(STRICTER_THAN_OPENSSL)
    assert all(not crypto_ok for c, _ok, _o, crypto_ok, *_ in table if c.id in STRICTER_THAN_OPENSSL)


def test_each_rejection_names_openssls_own_error_text(table: list) -> None:  # type: ignore[type-arg]
    # An operator pasting openssl's message should find it in lint's finding.
    unnamed = []
    for c, ossl_ok, out, *_rest, text in table:
        m = re.search(r"error \d+ at \d+ depth lookup: (.*)", out)
        if not ossl_ok and m and m.group(1).lower() not in text.lower():
            unnamed.append(f"{c.id}: {m.group(1)}")
    assert unnamed == []


def test_the_issues_false_statements_are_gone(table: list) -> None:  # type: ignore[type-arg]
    by_id = {row[0].id: row for row in table}
    # A SHA-1 self-signed root next to its leaf is not a missing issuer (nor any error).
    for cid in ("sha1-root-self-signature-server", "sha1-root-with-int-client"):
        assert by_id[cid][5], by_id[cid][6]
    # A SHA-1 signature is weak, not a bad (altered) signature.
    assert by_id["sha1-leaf-server"][6] == ["sha1-signature"]
    assert by_id["sha1-int-client"][6] == ["chain-ca-weak-signature"]
    # A v1 leaf without extensions passes -x509_strict, and lint does not claim otherwise.
    assert by_id["ok-v1-leaf-client"][1] and by_id["ok-v1-leaf-client"][5]

