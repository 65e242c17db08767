"""SoftHSM2 helpers: an isolated token directory and config, and token initialisation.

Used by the demo, the tests and the benchmarks; never touches the system token directory.
PINs go to softhsm2-util through its arguments only for throw-away demo/test tokens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SOFTHSM_CANDIDATES = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
]


def softhsm_module() -> str | None:
    for path in SOFTHSM_CANDIDATES:
        if os.path.exists(path):
            return os.path.realpath(path)
    return None


@dataclass(frozen=True)
class SoftHsmHome:
    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "softhsm2.conf"

    @property
    def tokendir(self) -> Path:
        return self.root / "tokens"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["SOFTHSM2_CONF"] = str(self.conf)
        return env


def make_home(root: Path) -> SoftHsmHome:
    home = SoftHsmHome(Path(root))
    home.tokendir.mkdir(parents=True, exist_ok=True)
    home.conf.write_text(
        f"directories.tokendir = {home.tokendir}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n"
    )
    return home


def init_token(home: SoftHsmHome, label: str, pin: str, so_pin: str) -> None:
    util = shutil.which("softhsm2-util")
    if util is None:
        raise RuntimeError("softhsm2-util not found: install the softhsm2 package (make setup does)")
    subprocess.run(
        [util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
        env=home.env(), check=True, capture_output=True, text=True,
    )


def object_files(module_path: str, serial: str) -> list[str] | None:
    """Names of the token's object files (SoftHSM file store), else None."""
    token = token_file(module_path, serial)
    if token is None:
        return None
    return sorted(p.name for p in token.parent.glob("*.object") if p.name != "token.object")


def remove_object_file(module_path: str, serial: str, name: str) -> bool:
    """Remove one object file (and its lock file) of the token: for an object SoftHSM itself can
    neither describe nor destroy (a C_CreateObject killed half-way). True when it was there."""
    token = token_file(module_path, serial)
    if token is None or "/" in name or not name.endswith(".object") or name == "token.object":
        return False
    target = token.parent / name
    if not target.is_file():
        return False
    target.unlink()
    (token.parent / (name[: -len(".object")] + ".lock")).unlink(missing_ok=True)
    return True


def token_file(module_path: str, serial: str) -> Path | None:
    """SoftHSM's token.object for token `serial` (file object store), else None.

    Why: SoftHSM rewrites token.object in place during C_SetPIN; a SIGKILL in that write left
    it empty and the token (every key on it) gone — measured in tests/token/test_crash_consistency.
    A copy taken just before lets `ikm-tui journal finish|undo` put the old file back.
    """
    if "softhsm" not in os.path.basename(module_path).lower() or not serial.strip():
        return None
    conf = os.environ.get("SOFTHSM2_CONF") or "/etc/softhsm/softhsm2.conf"
    settings: dict[str, str] = {}
    try:
        for line in Path(conf).read_text(encoding="utf-8", errors="replace").splitlines()[:1000]:
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    except OSError:
        return None
    tokendir = settings.get("directories.tokendir")
    if not tokendir or settings.get("objectstore.backend", "file") != "file":
        return None
    try:
        # The token directory is a UUID whose last 16 hex digits are the token's serial.
        for d in Path(tokendir).iterdir():
            if d.name.replace("-", "").endswith(serial.strip()) and (d / "token.object").is_file():
                return d / "token.object"
    except OSError:
        return None
    return None
