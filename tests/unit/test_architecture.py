"""The layout's rules, read from the source with `ast` (nothing of ikm_tui is imported).

Every import counts: module level, inside functions and under `if TYPE_CHECKING:`, because each
is a dependency a reader must follow. `from pkg import name` counts as an import of `pkg.name`
when that is a module of the package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "ikm_tui"

MAX_MODULE_LINES = 450
MAX_CORE_FUNCTION_LINES = 60
# A type-only import is still a dependency a reader must follow (a flow typed against MainScreen
# is coupled to it): the layout wants small protocols there instead. Set False to count only the
# imports that run.
COUNT_TYPE_CHECKING_IMPORTS = True


@dataclass(frozen=True)
class Import:
    target: str  # the dotted name imported, resolved to a module of ikm_tui where it is one
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@cache
def tree(name: str) -> ast.Module:
    path = modules()[name]
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _base(name: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = name if modules()[name].name == "__init__.py" else name.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST) -> list[ast.AST]:
    """ast.walk, leaving out `if TYPE_CHECKING:` bodies unless they count."""
    nodes = [node]
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and not COUNT_TYPE_CHECKING_IMPORTS and _is_type_checking(child):
            nodes.extend(n for c in child.orelse for n in _walk(c))
        else:
            nodes.extend(_walk(child))
    return nodes


@cache
def imports(name: str) -> tuple[Import, ...]:
    """Every import in module `name`, wherever it stands in the file."""
    found: list[Import] = []
    for node in _walk(tree(name)):
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _base(name, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append(Import(sub if sub in modules() else base, node.lineno))
    return tuple(dict.fromkeys(found))  # `from x import a, b` is one import of x


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _where(name: str, imp: Import) -> str:
    return f"{modules()[name].relative_to(ROOT)}:{imp.line} imports {imp.target}"


def test_the_rules_see_the_package() -> None:
    # Guards the guards: an empty walk would pass every rule below.
    assert "ikm_tui.core.p11.service" in modules()
    assert any(i.target == "pkcs11" or _under(i.target, "pkcs11") for i in imports("ikm_tui.core.p11.backend"))


def test_only_core_p11_imports_pkcs11_or_ctypes() -> None:
    bad = [_where(name, imp) for name in modules() if not _under(name, "ikm_tui.core.p11")
           for imp in imports(name) if imp.target.split(".")[0] in ("pkcs11", "ctypes")]
    assert not bad, "PKCS#11 belongs to ikm_tui/core/p11 alone:\n" + "\n".join(bad)


def test_core_imports_no_ui_toolkit_ui_or_cli() -> None:
    banned = ("textual", "rich", "ikm_tui.ui", "ikm_tui.cli")
    bad = [_where(name, imp) for name in modules() if _under(name, "ikm_tui.core")
           for imp in imports(name) if any(_under(imp.target, b) for b in banned)]
    assert not bad, "the core is what the CLI and the TUI stand on; it imports neither:\n" + "\n".join(bad)


def test_the_cli_reaches_the_ui_through_cli_tui_only() -> None:
    # Scripted commands never pay for Textual, and the UI never depends on the command line.
    bad = [_where(name, imp) for name in modules() for imp in imports(name)
           if (_under(name, "ikm_tui.cli") and name != "ikm_tui.cli.tui" and _under(imp.target, "ikm_tui.ui"))
           or (_under(name, "ikm_tui.ui") and _under(imp.target, "ikm_tui.cli"))]
    assert not bad, "\n".join(bad)


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {module of ikm_tui it imports: line of the first such import}."""
    graph: dict[str, dict[str, int]] = {name: {} for name in modules()}
    for name in modules():
        for imp in imports(name):
            if imp.target in graph and imp.target != name:
                graph[name].setdefault(imp.target, imp.line)
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    graph = import_graph()
    report = []
    for component in cycles(graph):
        edges = [f"  {modules()[a].relative_to(ROOT)}:{line} imports {b}"
                 for a in component for b, line in sorted(graph[a].items()) if b in component]
        report.append(f"{len(component)} modules import each other:\n" + "\n".join(edges))
    assert not report, "\n".join(report)


def test_no_module_over_450_lines() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()}
    bad = [f"{modules()[n].relative_to(ROOT)}: {size} lines" for n, size in sorted(sizes.items())
           if size > MAX_MODULE_LINES]
    assert not bad, f"split these by concern (limit {MAX_MODULE_LINES}):\n" + "\n".join(bad)


def test_no_core_function_over_60_lines() -> None:
    bad = []
    for name in modules():
        if not _under(name, "ikm_tui.core"):
            continue
        for node in ast.walk(tree(name)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_CORE_FUNCTION_LINES:
                    bad.append(f"{modules()[name].relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines")
    assert not bad, f"functions in the core over {MAX_CORE_FUNCTION_LINES} lines:\n" + "\n".join(bad)
