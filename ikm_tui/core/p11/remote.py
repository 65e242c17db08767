"""Remote tokens through p11-kit's own RPC: one copy of p11-kit-client.so per remote command.

`p11-kit remote MODULE` speaks p11-kit's RPC on stdin/stdout, so `ssh host p11-kit remote
/path/module.so` is a transport, and p11-kit-client.so runs such a command itself when
P11_KIT_SERVER_ADDRESS starts with `|` (p11-kit's exec transport, the same as `remote: |cmd`
in a pkcs11.conf module file). No protocol of ours: the PIN goes from the prompt to C_Login,
through the RPC, to the module on the other host.

Why a copy per remote: the client reads P11_KIT_SERVER_ADDRESS once, when the module is loaded,
and python-pkcs11 loads each path once per process (and a path that resolves to an already
loaded file is the same library). A copy under its own path is a library of its own, with its
own address: two remotes in one process are two modules (measured: each copy kept its own
server across `C_Finalize`/`C_Initialize`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ikm_tui.core.errors import IkmError

CLIENT_CANDIDATES = [
    "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so",
    "/usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so",
    "/usr/lib64/pkcs11/p11-kit-client.so",
    "/usr/lib/pkcs11/p11-kit-client.so",
]
ADDRESS_VAR = "P11_KIT_SERVER_ADDRESS"
# Never handed to the remote command's process (ssh does not send it, but a wrapper script could).
_PRIVATE_VARS = ("IKM_PIN",)

# Module path (canonical) -> its remote, for the loader and for names; filled by module_for().
_BY_PATH: dict[str, Remote] = {}
# The --remote commands of this run (set once by the command line, read by discover()).
_REQUESTED: list[str] = []
# Loading sets process-wide environment variables: one load at a time.
_ENV_LOCK = threading.Lock()


@dataclass(frozen=True)
class Remote:
    name: str
    command: str
    source: str  # "--remote" or the config file's path


def config_path() -> Path:
    """$XDG_CONFIG_HOME/ikm-tui/remotes.toml (default ~/.config/ikm-tui/remotes.toml)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "ikm-tui" / "remotes.toml"


def read_config(path: Path | None = None) -> list[Remote]:
    """The named remotes of the config file (none when it does not exist).

    [remote.dr-host]
    command = "ssh -o BatchMode=yes mq@dr-host p11-kit remote /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
    """
    path = path or config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise IkmError(f"The remotes file {path} cannot be read: {exc}.",
                       "Fix it: one [remote.NAME] table per remote, each with command = \"...\".") from None
    out: list[Remote] = []
    table = data.get("remote", {})
    if not isinstance(table, dict):
        table = {}
    for name, entry in table.items():
        command = entry.get("command") if isinstance(entry, dict) else None
        if not isinstance(command, str) or not command.strip():
            raise IkmError(f"The remote {name!r} in {path} has no command.",
                           "Add command = \"ssh user@host p11-kit remote /path/to/module.so\".")
        out.append(Remote(str(name), command.strip(), str(path)))
    return out


def remotes(commands: list[str] | None) -> list[Remote]:
    """The config file's remotes, then each --remote command (a configured NAME selects that entry)."""
    configured = read_config()
    by_name = {r.name: r for r in configured}
    out = list(configured)
    taken = set(by_name)
    for cmd in commands or ():
        if cmd in by_name:
            continue
        name = base = remote_name(cmd)
        n = 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name)
        out.append(Remote(name, cmd, "--remote"))
    return out


# ssh options that take a value (ssh(1)): the host is the first word that is neither.
_SSH_VALUE_OPTS = set("BbcDEeFIiJLlmOoPpQRSWw")


def remote_name(command: str) -> str:
    """A short name for a --remote command: the host of an ssh command, else "remote"."""
    import shlex

    try:
        words = shlex.split(command)
    except ValueError:
        return "remote"
    if not words or os.path.basename(words[0]) not in ("ssh", "autossh"):
        return "remote"
    skip = False
    for w in words[1:]:
        if skip:
            skip = False
        elif w.startswith("-") and len(w) >= 2:
            skip = len(w) == 2 and w[1] in _SSH_VALUE_OPTS
        else:
            return w.rsplit("@", 1)[-1] or "remote"
    return "remote"


def request(commands: list[str]) -> None:
    """The --remote commands of this run: discover() lists them as modules."""
    _REQUESTED[:] = commands


def requested() -> list[str]:
    return list(_REQUESTED)


def client_module() -> str | None:
    for path in CLIENT_CANDIDATES:
        if os.path.exists(path):
            return os.path.realpath(path)
    return None


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ikm-tui" / "remote"


def module_for(remote: Remote) -> str:
    """The path of this remote's own copy of p11-kit-client.so (made once; kept per command, so
    token locks and journals keep their names between runs)."""
    src = client_module()
    if src is None:
        raise IkmError("p11-kit-client.so is not installed: remote tokens need it.",
                       "Install it (Debian/Ubuntu: apt install p11-kit-modules).")
    digest = hashlib.sha256(remote.command.encode()).hexdigest()[:16]
    folder = _cache_dir() / digest
    dest = folder / "p11-kit-client.so"
    if not _same_file_content(src, dest):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)  # a library we load: nobody else may swap it
        tmp = folder / f".p11-kit-client.so.{os.getpid()}"
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o500)
        os.replace(tmp, dest)
    path = os.path.realpath(dest)
    _BY_PATH[path] = remote
    return path


def _same_file_content(src: str, dest: Path) -> bool:
    try:
        if os.path.getsize(src) != dest.stat().st_size:
            return False
        with open(src, "rb") as a, open(dest, "rb") as b:
            return a.read() == b.read()
    except OSError:
        return False


def command_of(module_path: str) -> str | None:
    """The remote command behind a module path, or None for a local module."""
    remote = _BY_PATH.get(module_path)
    return remote.command if remote is not None else None


def name_of(module_path: str) -> str | None:
    """The remote's name for a module path, or None for a local module."""
    remote = _BY_PATH.get(module_path)
    return remote.name if remote is not None else None


@contextmanager
def remote_environment(module_path: str) -> Iterator[None]:
    """Around loading (and re-initialising) a remote's module: its address, and no PIN, in the
    environment the client reads and the command it starts inherits. A no-op for local modules."""
    command = command_of(module_path)
    if command is None:
        yield
        return
    with _ENV_LOCK:
        saved = {k: os.environ.get(k) for k in (ADDRESS_VAR, *_PRIVATE_VARS)}
        os.environ[ADDRESS_VAR] = "|" + command
        for k in _PRIVATE_VARS:
            os.environ.pop(k, None)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
