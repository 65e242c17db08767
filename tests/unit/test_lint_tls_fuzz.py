"""The TLS checks of issue 13 never raise on malformed input: mutated corpus chains, any host, any use."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikm_tui.core.x509.lint import Finding, assess
from tests.support.chains import AT, corpus

# Chains whose CAs carry what the new checks read: name constraints, EKU, key identifiers.
_IDS = ("nc-dns-violated-server", "int-eku-excludes-server", "aki-mismatch-int-client", "ip-as-dns",
        "unknown-critical-int-server", "sha1-int-client")
_CHAINS = [c for c in corpus() if c.id in _IDS]


def _mutate(der: bytes, edits: list[tuple[int, int]]) -> bytes:
    buf = bytearray(der)
    for pos, value in edits:
        buf[pos % len(buf)] = value
    return bytes(buf)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.integers(0, len(_IDS) - 1), part=st.integers(0, 2),
       edits=st.lists(st.tuples(st.integers(0, 4096), st.integers(0, 255)), min_size=1, max_size=4),
       host=st.sampled_from([None, "www.lint.example.test", "10.1.2.3", "::1", "*.x", ""]),
       use=st.sampled_from([None, "server", "client"]))
def test_mutated_chains_never_raise(which: int, part: int, edits: list[tuple[int, int]], host: str | None,
                                    use: str | None) -> None:
    chain = _CHAINS[which]
    ders = [chain.leaf, *chain.intermediates, chain.root or b""]
    ders[min(part, len(ders) - 1)] = _mutate(ders[min(part, len(ders) - 1)], edits)
    findings = assess(ders[0], ders[1:], now=AT, intended_use=use, host=host or None)
    assert all(isinstance(f, Finding) and f.message.endswith(".") for f in findings)
