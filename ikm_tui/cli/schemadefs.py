"""The JSON Schemas of every `--json` document; `python -m ikm_tui.cli.schemadefs` writes ikm_tui/schemas/.

The files are what users and the tests read; this module is where they are kept in step with
the code (tests/unit/test_json_schemas.py fails when a file differs from what is defined here).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ikm_tui.cli.jsonout import RESULTS, SCHEMA_VERSION, schema_id, schema_path

S = {"type": "string"}
S0 = {"type": ["string", "null"]}
B = {"type": "boolean"}
B0 = {"type": ["boolean", "null"]}
I0 = {"type": ["integer", "null"]}
SERIAL = {"type": ["string", "integer", "null"]}


def arr(items: dict[str, Any], *, null: bool = False) -> dict[str, Any]:
    return {"type": ["array", "null"] if null else "array", "items": items}


def obj(props: dict[str, Any], *, null: bool = False, open_: bool = False) -> dict[str, Any]:
    """An object whose every key is required (present, maybe null) and, unless open_, no others."""
    out: dict[str, Any] = {"type": ["object", "null"] if null else "object", "properties": props,
                           "required": list(props)}
    if not open_:
        out["additionalProperties"] = False
    return out


TOKEN = obj({
    "label": S, "manufacturer": S0, "model": S0, "serial": S0, "flags": arr(S), "pin_state": arr(S),
    "min_pin_len": I0, "max_pin_len": I0, "free_public_memory": I0, "free_private_memory": I0, "uri": S,
}, null=True)
SLOT = obj({"slot_id": {"type": "integer"}, "slot_description": S0, "slot_manufacturer": S0, "token": TOKEN})
MODULE = obj({"path": S, "name": S0, "source": S0, "description": S0, "manufacturer": S0, "version": S0, "error": S0,
              "slots": arr(SLOT)})

OBJECT = obj({
    "class": S, "label": S, "id": S, "uri": S0, "private": B0, "key_type": S0, "bits": I0, "curve": S0,
    "flags": arr(S), "subject": S0, "issuer": S0, "serial": SERIAL, "not_before": S0, "not_after": S0,
    "sans": arr(S, null=True), "key_usage": arr(S, null=True), "eku": arr(S, null=True), "is_ca": B0,
    "sha256": S0, "has_private_key": B0, "paired_key_id": S0, "id_mismatch": B0, "parse_error": S0,
    "application": S0, "marker": S, "seen_by": {"type": ["object", "null"]},
})

REQUEST = {
    "label": S, "where": S, "path": S0, "subject": S0, "sans": arr(S), "key_usage": arr(S), "eku": arr(S),
    "key_type": S0, "signature_algorithm": S0, "signature_valid": B0, "key_id": S, "has_key": B0, "error": S0,
}

HASH = obj({"hash": S0, "supported": B, "mechanism": S0, "reason": S0})
FINDING = obj({"code": S, "severity": {"enum": ["error", "warning", "info"]}, "message": S})

# Documents of the commands that print their own (capture=False), without the "schema" key.
READ_DOCUMENTS: dict[str, dict[str, Any]] = {
    "tokens": {"modules": arr(MODULE)},
    "list": {"token": obj({"label": S, "serial": S0, "manufacturer": S0, "model": S0, "uri": S, "logged_in": B}),
             "complete": {"const": True}, "objects": arr(OBJECT)},
    "explain": {"query": S, "known": B, "text": S, "code": S0, "family": S0, "number": I0, "meaning": S0,
                "action": S0, "typical_cause": S0, "exception": S0, "message": S0, "reference": S0},
    "howto": {"action": S0, "summary": S0, "ikm_command": S0,
              "actions": arr(obj({"name": S, "summary": S, "ikm_command": S})),
              "commands": arr(obj({"tool": S, "available": B, "command": S0, "note": S0}))},
    "certreq-capabilities": {"key_types": arr(obj({"key_type": S, "supported": B, "reason": S0, "warning": S0,
                                                   "default_hash": S0, "hashes": arr(HASH)}))},
    "certreq-list": {"requests": arr(obj(REQUEST))},
    "certreq-details": REQUEST,
    "ca-list": {"ca": S, "log": S, "issued": arr(obj({"serial": S, "subject": S, "sans": arr(S), "not_after": S,
                                                      "sha256": S, "issued_at": S, "profile": S}))},
    "expiry": {"within_days": {"type": "integer"}, "due": {"type": "integer"}, "tokens_read": {"type": "integer"},
               "certificates": arr(obj({
                   "days_left": I0, "expired": B, "due": B, "not_after": S0, "module": S, "module_path": S,
                   "token": S, "token_serial": S0, "label": S, "id": S, "subject": S, "issuer": S,
                   "key_on_token": B, "key": {"enum": ["private", "public", None]}})),
               "problems": arr(obj({"module": S, "module_path": S, "token": S0, "error": S, "counts": B}))},
    "lint": {"certificates": arr(obj({"name": S, "intended_use": S0, "findings": arr(FINDING)})),
             "errors": {"type": "integer"}},
}

ERROR = obj({"message": S, "next_step": S0, "ckr": S0, "exit_status": {"type": "integer"}}, null=True)


def document(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of command document `name`."""
    if name in READ_DOCUMENTS:
        props = dict(READ_DOCUMENTS[name])
        kind = "report"
    else:
        props = {**RESULTS[name], "messages": arr(S), "error": ERROR}
        kind = "action result (text lines in `messages`; on failure `error` is set and the exit status is not 0)"
    body = obj({"schema": {"const": schema_id(name)}, **props})
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": schema_id(name),
            "title": f"ikm-tui {name.replace('-', ' ')} --json, version {SCHEMA_VERSION}",
            "description": f"`ikm-tui {name.replace('-', ' ')} --json`: {kind}. Every key is always present; "
                           "null when it does not apply.", **body}


def names() -> list[str]:
    return sorted({*READ_DOCUMENTS, *RESULTS})


def render(name: str) -> str:
    return json.dumps(document(name), indent=2) + "\n"


def main() -> int:
    for name in names():
        schema_path(name).write_text(render(name), encoding="utf-8")
        print(schema_path(name), file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
