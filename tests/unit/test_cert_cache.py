"""The certificate parse cache (core/x509/certcache.py): the same fields as a parse, or no cache at all."""
# ruff: noqa: S302, SLF001 - reading and forging the cache file is the point here

from __future__ import annotations

import marshal
import os
from pathlib import Path

import pytest

from ikm_tui.core.x509 import certcache
from ikm_tui.core.x509.info import parse_certificate
from tests.support.helpers import SoftCA
from tests.token.test_malformed import corpus


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("IKM_CERT_CACHE", raising=False)
    certcache.reset()
    yield tmp_path / "ikm-tui"
    certcache.reset()


def _ders() -> dict[str, bytes]:
    ca = SoftCA("Cache CA")
    leaf = ca.issue(ca.key.public_key(), "leaf.example", serial=0x1234)
    from cryptography.hazmat.primitives import serialization

    return {"ca": ca.der, "leaf": leaf.public_bytes(serialization.Encoding.DER),
            **{name: der for name, (der, _) in corpus().items()}}


def _new_process() -> None:
    """What the next run sees: the file on disk, nothing in memory."""
    certcache.flush()
    certcache.reset()
    parse_certificate.cache_clear()


def test_cached_fields_equal_a_fresh_parse_for_good_and_hostile_certificates(cache_home: Path) -> None:
    ders = _ders()
    first = {name: certcache.cert_fields(der) for name, der in ders.items()}
    _new_process()
    [cache_file] = cache_home.glob("certs-*.marshal")
    assert len(marshal.loads(cache_file.read_bytes())) == len(set(ders.values()))
    for name, der in ders.items():
        again = certcache.cert_fields(der)
        assert again == first[name] == parse_certificate(der), name
        # Same types too: the listing's JSON prints them (datetime.isoformat, tuples as arrays).
        assert type(again.not_after) is type(first[name].not_after), name
        assert again.not_after is None or again.not_after.utcoffset() == first[name].not_after.utcoffset()
    assert certcache._store is not None and not certcache._store.dirty  # nothing new to write


def test_the_file_is_private_and_a_foreign_or_broken_one_is_ignored(cache_home: Path) -> None:
    der = _ders()["leaf"]
    certcache.cert_fields(der)
    _new_process()
    [path] = cache_home.glob("certs-*.marshal")
    assert path.stat().st_mode & 0o777 == 0o600
    assert cache_home.stat().st_mode & 0o777 == 0o700

    # Writable by others: its entries are not believed (a lie about a subject stays a lie).
    entries = marshal.loads(path.read_bytes())
    sha = next(iter(entries))
    row = list(entries[sha])
    row[0] = "CN=forged"
    path.write_bytes(marshal.dumps({sha: tuple(row)}))
    os.chmod(path, 0o666)  # noqa: S103 - the unsafe file under test
    assert certcache.cert_fields(der).subject != "CN=forged"
    _new_process()

    for junk in (b"", b"\x00not marshal", marshal.dumps([1, 2]), marshal.dumps({sha: (1, 2)})):
        path.write_bytes(junk)
        os.chmod(path, 0o600)
        certcache.reset()
        assert certcache.cert_fields(der) == parse_certificate(der)
        _new_process()  # and the next write replaces the broken file
        assert marshal.loads(path.read_bytes())[sha][0] == parse_certificate(der).subject


def test_a_new_signature_starts_a_new_file_and_only_the_newest_others_stay(cache_home: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    ders = list(_ders().values())
    made: list[Path] = []
    for version in range(4):  # four versions in turn, as upgrades would
        monkeypatch.setattr(certcache, "FORMAT", 100 + version)
        certcache.cert_fields(ders[version])
        _new_process()
        [new] = set(cache_home.glob("certs-*.marshal")) - set(made)
        assert len(marshal.loads(new.read_bytes())) == 1  # each parser's entries in its own file
        os.utime(new, ns=(version * 10**9, version * 10**9))  # mtimes apart even on a coarse clock
        made.append(new)
    # The newest file and the two before it stay (two installs used in turn keep their own);
    # the oldest is gone.
    assert set(cache_home.glob("certs-*.marshal")) == set(made[1:])
    monkeypatch.setattr(certcache, "FORMAT", 101)  # back to an older install: its file is still there
    certcache.cert_fields(ders[1])
    assert not certcache._store.dirty


def test_off_writes_nothing(cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IKM_CERT_CACHE", "off")
    der = _ders()["leaf"]
    assert certcache.cert_fields(der) == parse_certificate(der)
    _new_process()
    assert not cache_home.exists()


def test_the_cache_is_bounded_and_keeps_what_was_just_listed(cache_home: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    ders = list(dict.fromkeys(_ders().values()))
    monkeypatch.setattr(certcache, "MAX_ENTRIES", 3)
    for der in ders[:4]:
        certcache.cert_fields(der)
    _new_process()
    certcache.cert_fields(ders[4])  # this run lists one new certificate
    _new_process()
    [path] = cache_home.glob("certs-*.marshal")
    kept = marshal.loads(path.read_bytes())
    assert len(kept) == 3
    assert parse_certificate(ders[4]).sha256 in kept


def test_prepare_makes_the_same_fields_ahead_and_stops_when_told(cache_home: Path) -> None:
    ders = _ders()
    for der in ders.values():
        certcache.cert_fields(der)
    _new_process()
    certcache.prepare(stop=lambda: True)  # the module loaded already: nothing done
    assert certcache._store is not None and not certcache._store.ready
    certcache.prepare(stop=lambda: False)
    assert len(certcache._store.ready) == len(set(ders.values()))
    for der in ders.values():
        assert certcache.cert_fields(der) == parse_certificate(der)
