"""Find PKCS#11 modules: --module, IKM_MODULE, p11-kit registrations, then well-known paths."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

WELL_KNOWN = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
    "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
    "/usr/lib/x86_64-linux-gnu/libykcs11.so",
    "/usr/lib/aarch64-linux-gnu/libykcs11.so",
    "/usr/local/lib/libykcs11.so",
    "/usr/lib/pkcs11/opensc-pkcs11.so",
]

_P11KIT_DIRS = [
    "/usr/share/p11-kit/modules",
    "/etc/pkcs11/modules",
    "~/.config/pkcs11/modules",
]
_P11KIT_LIBDIRS = [
    "/usr/lib/x86_64-linux-gnu/pkcs11",
    "/usr/lib/aarch64-linux-gnu/pkcs11",
    "/usr/lib/pkcs11",
]


@dataclass(frozen=True)
class ModuleCandidate:
    path: str
    source: str  # "--module", "IKM_MODULE", "p11-kit:<file>", "well-known"
    name: str = ""


def is_trust_module(path: str) -> bool:
    """p11-kit's trust module: the system CA list as a token, never a keystore."""
    return "p11-kit-trust" in os.path.basename(path)


def _p11kit_modules() -> list[ModuleCandidate]:
    out: list[ModuleCandidate] = []
    for d in _P11KIT_DIRS:
        for f in sorted(glob.glob(os.path.join(os.path.expanduser(d), "*.module"))):
            try:
                text = Path(f).read_text(errors="replace")
            except OSError:
                continue
            for line in text.splitlines():
                key, _, val = line.partition(":")
                if key.strip() == "module" and val.strip():
                    mod = val.strip()
                    if not os.path.isabs(mod):
                        for libdir in _P11KIT_LIBDIRS:
                            if os.path.exists(os.path.join(libdir, mod)):
                                mod = os.path.join(libdir, mod)
                                break
                    out.append(ModuleCandidate(mod, f"p11-kit:{os.path.basename(f)}",
                                               Path(f).stem))
    return out


def canonical(path: str) -> str:
    """python-pkcs11 caches modules by path string: always load one file by one path."""
    try:
        return os.path.realpath(path)
    except OSError:
        return path


def discover(explicit: str | None = None) -> list[ModuleCandidate]:
    """Candidates in priority order, deduplicated by real path; the first is the default."""
    found: list[ModuleCandidate] = []
    if explicit:
        found.append(ModuleCandidate(explicit, "--module"))
    env = os.environ.get("IKM_MODULE")
    if env:
        found.append(ModuleCandidate(env, "IKM_MODULE"))
    discovered = [m for m in _p11kit_modules() if os.path.exists(m.path)]
    discovered += [ModuleCandidate(p, "well-known") for p in WELL_KNOWN if os.path.exists(p)]
    # The trust store after the keystores (p11-kit registers it between opensc and softhsm2):
    # the TUI opens the first token it finds, and that must not be "System Trust".
    found.extend(m for m in discovered if not is_trust_module(m.path))
    found.extend(m for m in discovered if is_trust_module(m.path))
    seen: set[str] = set()
    out: list[ModuleCandidate] = []
    for cand in found:
        key = canonical(cand.path)
        if key in seen:
            continue
        seen.add(key)
        out.append(cand)
    return out
