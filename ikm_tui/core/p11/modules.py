"""Find PKCS#11 modules: --module, IKM_MODULE, p11-kit registrations, then well-known paths."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from ikm_tui.core.errors import IkmError

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
    remote = remote_candidates()
    if explicit:
        # --module NAME selects a remote by its name.
        named = [c for c in remote if c.name == explicit]
        found.append(ModuleCandidate(named[0].path, "--module", explicit) if named else
                     ModuleCandidate(explicit, "--module"))
    env = os.environ.get("IKM_MODULE")
    if env:
        found.append(ModuleCandidate(env, "IKM_MODULE"))
    discovered = [m for m in _p11kit_modules() if os.path.exists(m.path)]
    discovered += [ModuleCandidate(p, "well-known") for p in WELL_KNOWN if os.path.exists(p)]
    # The trust store after the keystores (p11-kit registers it between opensc and softhsm2):
    # the TUI opens the first token it finds, and that must not be "System Trust".
    found.extend(m for m in discovered if not is_trust_module(m.path))
    found.extend(remote)  # after the local keystores: a plain `ikm-tui list` opens no connection
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


def remote_candidates() -> list[ModuleCandidate]:
    """The remotes (config file, then --remote), each as its own copy of p11-kit-client.so."""
    from ikm_tui.core.p11.remote import module_for, remotes, requested

    return [ModuleCandidate(module_for(r), "--remote" if r.source == "--remote" else "remotes.toml", r.name)
            for r in remotes(requested())]


def display_name(cand: ModuleCandidate) -> str:
    """What the operator calls a module: a remote's name, else its path."""
    from ikm_tui.core.p11.remote import name_of

    return name_of(canonical(cand.path)) or cand.path


def module_load_error(path: str, exc: BaseException, said: list[str] | None = None) -> IkmError:
    """The operator's reading of why python-pkcs11 could not load `path`, with the first lines the
    module printed on stderr while loading (often the only reason it gives)."""
    from ikm_tui.core.p11.quirks import quirks_for
    from ikm_tui.core.p11.remote import command_of

    err = _load_error_text(path, exc)
    hint = quirks_for(path).load_hint
    command = command_of(canonical(path))
    if command is not None:
        hint = (f"The remote command did not answer with p11-kit's RPC: {command}. Run it by hand (it "
                "should wait silently), check that ssh logs in without a prompt (BatchMode) and that "
                "p11-kit and the module exist on the remote host.")
    if hint and "C_Initialize" in err.cause:
        err = IkmError(err.cause, hint, err.ckr_name, err.ckr_code, err.operation)
    if said:
        return IkmError(f"{err.cause.rstrip('.')}. The module said: {' | '.join(said)}", err.next_step,
                        err.ckr_name, err.ckr_code, err.operation)
    return err


def _load_error_text(path: str, exc: BaseException) -> IkmError:
    from ikm_tui.core.errors import from_exception

    msg = " ".join(str(a) for a in getattr(exc, "args", ())) or str(exc)
    if not msg:
        # python-pkcs11 raises C_Initialize's code as a bare exception class (no message).
        mapped = from_exception(exc)
        msg = f"C_Initialize returned {mapped.ckr_name or type(exc).__name__}"
    low = msg.lower()
    if ("wrong elf class" in low or "elfclass" in low
            or ("cannot open shared object file: no such file" not in low and "architecture" in low)):
        return IkmError(
            f"{path} is built for another architecture ({msg}).",
            "Install the module for this machine's architecture (e.g. the amd64 package on x86_64).",
            operation="Loading the module",
        )
    if "invalid elf header" in low or "file too short" in low or "not a dynamic executable" in low:
        return IkmError(
            f"{path} is not a shared library ({msg}).",
            "Point --module at the PKCS#11 .so file, not a config file or script.",
            operation="Loading the module",
        )
    if "c_getfunctionlist" in low or "undefined symbol" in low:
        return IkmError(
            f"{path} is a shared library but not a PKCS#11 module ({msg}).",
            "Use the module's PKCS#11 library (e.g. libsofthsm2.so, opensc-pkcs11.so, libykcs11.so).",
            operation="Loading the module",
        )
    if "cannot open shared object" in low or "no such file" in low:
        return IkmError(
            f"{path} could not be opened ({msg}).",
            "Check the path and that the libraries it depends on are installed (`ldd PATH`).",
            operation="Loading the module",
        )
    return IkmError(f"{path} failed to load: {msg}", "Check the module path and its logs.",
                    operation="Loading the module")
