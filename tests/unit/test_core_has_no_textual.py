"""The core must never import Textual or Rich: the CLI and other frontends depend on it alone."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import ikm_tui.core


def core_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(ikm_tui.core.__path__, "ikm_tui.core."))


def test_each_core_module_imports_without_textual() -> None:
    mods = core_modules()
    assert "ikm_tui.core.p11.backend" in mods
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'rich'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_paths_do_not_import_textual() -> None:
    code = (
        "import sys\n"
        "from ikm_tui.cli.main import build_parser\n"
        "build_parser()\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'rich'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
