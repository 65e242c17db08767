"""Request-time warnings (issue 13): the seed's mistakes caught before a CA signs anything."""

from __future__ import annotations

from ikm_tui.core.x509.request_lint import request_warnings


def _one(**kw: object) -> str:
    args = {"key_type": "ec:p256", "subject": "CN=mq.example.com", "sans": ["DNS:mq.example.com"],
            "key_usage": ["digitalSignature"], "eku": ["serverAuth"]}
    args.update(kw)
    [warning] = request_warnings(**args)  # type: ignore[arg-type]
    return warning


def test_clean_request_has_no_warning() -> None:
    assert request_warnings("rsa:2048", "CN=mq.example.com", ["DNS:mq.example.com", "IP:10.1.2.3"],
                            ["digitalSignature", "keyEncipherment"], ["serverAuth", "clientAuth"]) == []
    # A client request needs no SAN naming the CN.
    assert request_warnings("ec:p256", "CN=alice", [], ["digitalSignature"], ["clientAuth"]) == []


def test_keycertsign_without_ca() -> None:
    w = _one(key_usage=["digitalSignature", "keyCertSign"])
    assert "NET::ERR_CERT_INVALID" in w and "drop keyCertSign" in w


def test_ip_written_as_dns() -> None:
    w = _one(subject="CN=10.1.2.3", sans=["DNS:10.1.2.3", "IP:10.1.2.3"])
    assert "IP address mismatch" in w and "use IP:10.1.2.3" in w


def test_cn_not_in_san_for_a_server() -> None:
    w = _one(sans=["DNS:other.example.com"])
    assert "CN=mq.example.com is not in the SAN" in w and "--san DNS:mq.example.com" in w
    assert "not in the SAN" not in " ".join(request_warnings("ec:p256", "CN=mq.example.com",
                                                             ["DNS:*.example.com"], [], ["serverAuth"]))
    assert "without subjectAltName" in _one(sans=[])


def test_rsa_under_2048() -> None:
    assert "ee key too small" in _one(key_type="rsa:1024")
