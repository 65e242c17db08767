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
