"""Loading a PKCS#11 module: its stderr kept off the screen, its calls interposed for the trace."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import pkcs11
from pkcs11 import Attribute, ObjectClass

from ikm_tui.core.errors import NotFoundError
from ikm_tui.core.p11 import stderr_capture
from ikm_tui.core.p11.attributes import ulong_pack
from ikm_tui.core.p11.calltrace import Interposer, interpose
from ikm_tui.core.p11.fastpath import RawObjects
from ikm_tui.core.p11.modules import module_load_error
from ikm_tui.core.p11.quirks import quirks_for
from ikm_tui.core.p11.remote import remote_environment


@dataclass(frozen=True)
class LoadedModule:
    lib: Any  # a pkcs11.lib; its type stub declares no attributes
    messages: tuple[str, ...]  # what the module printed on stderr while it loaded
    calls: Interposer | None  # the recording shims; None where python-pkcs11's layout is not the known one


def load_library(path: str, given: str) -> LoadedModule:
    """pkcs11.lib(path) with the module's stderr captured; `given` is the path as the operator typed it."""
    if not os.path.exists(path):
        raise NotFoundError(
            f"PKCS#11 module {given!r} does not exist.",
            "Give the path of an installed module with --module (e.g. "
            "/usr/lib/softhsm/libsofthsm2.so or /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so), "
            "or install the package that provides it.",
            operation="Loading the module",
        )
    # What the module prints while it loads (C_Initialize) is kept off the screen, and
    # is often the only reason given for a failure.
    fresh = path not in pkcs11._loaded  # noqa: SLF001 - python-pkcs11 keeps one lib per path
    started = time.monotonic()
    load_exc: Exception | None = None
    with stderr_capture.capture() as said, remote_environment(path):
        try:
            lib = pkcs11.lib(path)
        except Exception as exc:  # noqa: BLE001 - explained below, with what the module said
            load_exc = exc
    if load_exc is not None:
        raise module_load_error(given, load_exc, said.lines()) from None
    # Every C_* call python-pkcs11 makes goes through recording shims (the Trace).
    calls = interpose(lib, (started, time.monotonic() - started) if fresh else None)
    return LoadedModule(lib, tuple(said.lines(20)), calls)


def valued_handles(raw: RawObjects, h: int, path: str) -> dict[int, ObjectClass]:
    """Certificates (and, on remote modules, data objects), found by class first: handle -> class.

    Why: these objects need CKA_VALUE, which the union read leaves out (on a key it is secret
    material), so without knowing them each costs a second read. Through p11-kit-client every
    call is one round trip: two more searches make a listing objects + 12 calls, not
    2 x objects. On SoftHSM a search pass costs as much as reading a third to a half of the
    objects, so the one more search there (certificates only: data objects are rare) breaks
    even when that share are certificates. Measured (listing CPU, issue 16): 5% less on 1,000
    and 5,000 certificates, no change on the mixed bench tokens (a third certificates); a
    token of keys only pays the search for nothing.
    """
    out: dict[int, ObjectClass] = {}
    remote = quirks_for(path).remote
    for klass in (ObjectClass.CERTIFICATE, ObjectClass.DATA) if remote else (ObjectClass.CERTIFICATE,):
        out.update(dict.fromkeys(raw.find(h, [(int(Attribute.CLASS), ulong_pack(klass))]), klass))
    return out
