"""Only core/p11 talks PKCS#11: no other module imports pkcs11 or ctypes, at any depth of the file."""

from __future__ import annotations

import ast
from pathlib import Path

import ikm_tui

PACKAGE = Path(ikm_tui.__file__).parent
P11 = PACKAGE / "core" / "p11"
FORBIDDEN = ("pkcs11", "ctypes")


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    # ast.walk: imports inside functions and `if TYPE_CHECKING:` blocks count too.
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def test_only_core_p11_imports_pkcs11_or_ctypes() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if P11 in path.parents:
            continue
        for line, name in _imported(ast.parse(path.read_text(encoding="utf-8"))):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(PACKAGE)}:{line} imports {name}")
    assert offenders == []


def test_use_cases_reach_the_backend_only_through_its_public_methods() -> None:
    offenders = []
    for path in sorted((PACKAGE / "core" / "ops").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id == "backend"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} backend.{node.attr}")
    assert offenders == []
