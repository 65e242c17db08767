"""Packaging: ranges in pyproject, exact CI versions in constraints.txt, an sdist that carries its tests."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pairs = [line.split("==") for line in lines if line.strip() and not line.startswith("#")]
    return {name.strip(): ver.strip() for name, ver in pairs}


def _deps() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {Requirement(d).name: Requirement(d) for d in project["dependencies"]}


@pytest.mark.parametrize("name", ["textual", "python-pkcs11"])
def test_range_in_pyproject_exact_pin_for_ci(name: str) -> None:
    pin = _pins()[name]
    req = _deps()[name]
    assert "==" not in str(req.specifier), "an exact pin blocks installing next to other packages"
    assert req.specifier.contains(pin), (req, pin)
    # The snapshots are drawn with the pinned Textual: the test venv must have exactly it.
    assert version(name) == pin, f"{name} {version(name)} installed; bootstrap installs with -c constraints.txt"


def test_sdist_manifest_carries_what_pytest_needs() -> None:
    text = (ROOT / "MANIFEST.in").read_text()
    for tree in ("tests", "snapshots", "bench"):
        assert f"\ngraft {tree}\n" in text, tree
    assert "constraints.txt" in text.split() and "LICENSE" in text.split()


def test_schemas_are_package_data() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "schemas/*.json" in project["tool"]["setuptools"]["package-data"]["ikm_tui"]
