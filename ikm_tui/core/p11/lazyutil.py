"""python-pkcs11's pkcs11.util.* submodules load on first use, not with `import pkcs11`.

pkcs11/__init__.py does `from pkcs11.util import dh, dsa, ec, rsa, x509`, which imports asn1crypto
(algos, keys, x509, core: ~25-50 ms of a cold `list --json`). Listing needs none of it; key
generation and the CA flows do (encode_named_curve_parameters...), and get it on first access.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Sequence
from typing import Any

LAZY = frozenset({"pkcs11.util.dh", "pkcs11.util.dsa", "pkcs11.util.ec", "pkcs11.util.rsa",
                  "pkcs11.util.x509"})
_LOCK = threading.RLock()  # two threads touching a module first run its code once


class _LazyModule(types.ModuleType):
    """Until an attribute is missing: then the real code runs and the class becomes ModuleType."""

    def __getattr__(self, name: str) -> Any:
        with _LOCK:
            if type(self) is _LazyModule:
                loader = self.__dict__["__spec__"].loader
                _set_class(self, types.ModuleType)  # first, so the module's own code sees a plain one
                try:
                    loader.real.exec_module(self)
                except BaseException:
                    _set_class(self, _LazyModule)
                    raise
        return getattr(self, name)


def _set_class(module: types.ModuleType, cls: type[types.ModuleType]) -> None:
    module.__class__ = cls


class _DeferredLoader(importlib.abc.Loader):
    def __init__(self, real: importlib.abc.Loader) -> None:
        self.real = real

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None  # the default module object; exec_module turns it lazy

    def exec_module(self, module: types.ModuleType) -> None:
        _set_class(module, _LazyModule)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in LAZY:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _DeferredLoader(spec.loader)
        return spec


def install() -> None:
    """Before the first `import pkcs11` (ikm_tui/core/p11/__init__.py); a no-op once pkcs11 is in."""
    if "pkcs11" in sys.modules or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder())
