"""RFC 7512 PKCS#11 URIs: build them for tokens and objects, parse the token part."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote, unquote

# RFC 7512 §2.3: pchar minus ';' '?' '/' etc.; keep unreserved characters literal.
_SAFE = "-._~:[]@!$&'()*+,="


_PCT = [f"%{b:02x}" for b in range(256)]
_SAFE_CHARS = _SAFE.replace(";", "").replace("?", "").replace("/", "")


def _enc(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return "".join([_PCT[b] for b in value])
    return _enc_str(value)


@lru_cache(maxsize=1024)
def _enc_str(value: str) -> str:
    # Cached: every object URI of a listing repeats the token label and serial.
    return quote(value, safe=_SAFE_CHARS)


def token_uri(label: str, manufacturer: str = "", model: str = "", serial: str = "") -> str:
    parts = []
    if model:
        parts.append(f"model={_enc(model)}")
    if manufacturer:
        parts.append(f"manufacturer={_enc(manufacturer)}")
    if serial:
        parts.append(f"serial={_enc(serial)}")
    parts.append(f"token={_enc(label)}")
    return "pkcs11:" + ";".join(parts)


_TYPES = {
    "private_key": "private",
    "public_key": "public",
    "certificate": "cert",
    "secret_key": "secret-key",
    "data": "data",
}


def object_uri(token_label: str, serial: str, cls: str, label: str, obj_id: bytes) -> str:
    parts = [f"token={_enc(token_label)}"]
    if serial:
        parts.append(f"serial={_enc(serial)}")
    if label:
        parts.append(f"object={_enc(label)}")
    if obj_id:
        parts.append(f"id={_enc(obj_id)}")
    if cls in _TYPES:
        parts.append(f"type={_TYPES[cls]}")
    return "pkcs11:" + ";".join(parts)


def parse_token_selector(text: str) -> dict[str, str]:
    """`--token` value: a plain label, or a pkcs11: URI; returns {'token': ..., 'serial': ...}."""
    if not text.startswith("pkcs11:"):
        return {"token": text}
    body = text[len("pkcs11:"):].split("?", 1)[0]
    out: dict[str, str] = {}
    for part in body.split(";"):
        if not part:
            continue
        key, _, val = part.partition("=")
        out[key.strip()] = unquote(val)
    return {k: v for k, v in out.items() if k in ("token", "serial", "manufacturer", "model", "slot-id")}
