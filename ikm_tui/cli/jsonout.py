"""`--json`: one versioned envelope for every command; the schemas ship in ikm_tui/schemas/.

Every document starts with `"schema": "ikm-tui/<name>/v1"`, naming the JSON Schema file
`ikm_tui/schemas/<name>.v1.json` it validates against. Keys a command may not know are present
as null (or an empty list), never left out. The version changes when a key is renamed, removed
or changes type; new keys may be added within a version.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ikm_tui.cli.common import print_json

SCHEMA_VERSION = 1
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
JSON_HELP = "machine-readable output (versioned schema: `ikm-tui help json`)"


def schema_id(name: str) -> str:
    return f"ikm-tui/{name}/v{SCHEMA_VERSION}"


def schema_path(name: str) -> Path:
    return SCHEMA_DIR / f"{name}.v{SCHEMA_VERSION}.json"


def emit(name: str, data: dict[str, Any]) -> None:
    """Print one --json document of schema `name`."""
    print_json({"schema": schema_id(name), **data})


# JSON Schema fragments for the result keys of the action commands.
_STR = {"type": ["string", "null"]}
_STRS = {"type": ["array", "null"], "items": {"type": "string"}}
_BOOL = {"type": ["boolean", "null"]}
_INT = {"type": ["integer", "null"]}
_OBJ = {"type": ["object", "null"]}
_OBJS = {"type": ["array", "null"], "items": {"type": "object"}}

# The action commands' documents: {"schema", <these keys>, "messages", "error"}. Every key is
# present; one the command did not reach (it failed first) is null. The schema files of these
# commands are generated from this table (scripts/gen_schemas.py; a unit test keeps them equal).
RESULTS: dict[str, dict[str, dict[str, Any]]] = {
    "certreq-create": {"label": _STR, "key_type": _STR, "key_id": _STR, "out": _STR, "stored": _STR,
                       "path": _STR, "warnings": _STRS},
    "certreq-recreate": {"label": _STR, "key_id": _STR, "out": _STR, "warnings": _STRS},
    "certreq-extract": {"label": _STR, "out": _STR},
    "certreq-delete": {"label": _STR, "deleted": _STRS, "with_key": _BOOL},
    "cert-create": {"label": _STR, "key_type": _STR, "key_id": _STR, "out": _STR},
    "cert-receive": {"file": _STR, "format": _STR, "key": _OBJ, "written": _OBJ, "removed": _OBJS,
                     "chain_written": _OBJS, "chain_skipped": _STRS, "requests_removed": _STRS, "notes": _STRS,
                     "lint": _OBJS},
    "cert-add": {"label": _STR, "id": _STR, "subject": _STR, "is_ca": _BOOL, "already_present": _BOOL},
    "cert-extract": {"label": _STR, "id": _STR, "out": _STR, "format": _STR},
    "cert-delete": {"planned": _STRS, "deleted": _STRS, "warnings": _STRS},
    "cert-rename": {"old": _STR, "new": _STR, "ok": _BOOL},
    "cert-doctor": {"healthy": _BOOL, "planned": _INT, "applied": _INT, "failed": _INT},
    "key-export-public": {"label": _STR, "id": _STR, "out": _STR},
    "key-delete": {"planned": _STRS, "deleted": _STRS, "warnings": _STRS},
    "pin-change": {"changed": _BOOL},
    **{f"journal-{n}": {"command": _STR, "started": _STR, "state": _STR, "steps": _STRS}
       for n in ("show", "finish", "undo")},
    "ca-create": {"label": _STR, "key_type": _STR, "key_id": _STR, "out": _STR},
    "ca-sign": {"ca": _STR, "profile": _STR, "serial": _STR, "subject": _STR, "sans": _STRS, "not_after": _STR,
                "sha256": _STR, "out": _STR, "log": _STR, "warnings": _STRS, "plan": _OBJ, "issued": _BOOL},
    "ca-revoke": {"ca": _STR, "serial": _STR, "revoked_at": _STR, "reason": _STR, "already": _BOOL},
    "ca-crl": {"ca": _STR, "out": _STR, "crl_number": _STR, "revoked": _INT, "this_update": _STR,
               "next_update": _STR},
    "export-config": {"target": _STR, "out": _STR, "key": _OBJ, "files": _OBJS, "proof": _STR, "expect": _STR,
                      "warnings": _STRS},
    "demo": {"token": _STR, "module": _STR, "pin": _STR, "softhsm2_conf": _STR},
}


def add_json(parser: argparse.ArgumentParser, name: str, *, capture: bool = True) -> None:
    """--json on a command. Captured (action) commands set results with result(); their text
    lines become `messages`. With `capture=False` the handler prints its own document with emit().
    """
    parser.add_argument("--json", action="store_true", help=JSON_HELP)
    parser.set_defaults(json_schema=name, json_capture=capture)


def run_captured(args: argparse.Namespace, func: Callable[[argparse.Namespace], int | None]) -> int:
    """Run an action command with its text output captured, then print its --json document.

    A failure prints the document too (with `error`), then goes on to main()'s handler, which
    prints it on stderr and sets the exit status.
    """
    from ikm_tui.cli.exitcodes import exit_status
    from ikm_tui.core.errors import IkmError

    args.result = dict.fromkeys(RESULTS[args.json_schema])
    buf = io.StringIO()
    error: dict[str, Any] | None = None
    try:
        with contextlib.redirect_stdout(buf):
            status = int(func(args) or 0)
    except IkmError as err:
        error = {"message": err.cause, "next_step": err.next_step or None, "ckr": err.ckr_name,
                 "exit_status": exit_status(err)}
        emit(args.json_schema, {**args.result, "messages": buf.getvalue().splitlines(), "error": error})
        raise
    emit(args.json_schema, {**args.result, "messages": buf.getvalue().splitlines(), "error": error})
    return status


def result(args: argparse.Namespace, **data: Any) -> None:
    """Record structured results of an action command for --json (ignored without it)."""
    if getattr(args, "result", None) is not None:
        args.result.update(data)
