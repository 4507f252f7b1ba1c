"""The package's architecture, checked from its source: no import circles, and each folder imports
only the folders below it (docs/architecture.md).

The import graph is read with `ast` from every module under src/homeworkflow, module-level and
function-level imports alike (an import inside a function is still a dependency); imports under
`if TYPE_CHECKING:` are left out (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "homeworkflow"

# Folder -> the folders (besides itself) it may import. Bottom to top.
ALLOWED = {
    "util": set(),
    "data": {"util"},
    "models": {"util"},
    "simulate": {"util", "data"},
    "transcripts": {"util", "data"},
    "study2": {"util", "data", "models"},
    "presentation": {"util", "data", "models", "study2"},
    "design": {"util", "data", "simulate", "models", "study2", "presentation"},
}


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(tree: ast.AST):
    """Every Import / ImportFrom node, at any depth, outside `if TYPE_CHECKING:` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph(root: Path = SRC / PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (a package's name stands for its __init__)."""
    files = {module_name(p, root.parent): p for p in root.rglob("*.py")}
    modules = set(files)
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in imports_of(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(base + ([node.module] if node.module else []))
                else:
                    base = node.module
                # `from a import b` imports module a.b when it is one, else names of a.
                candidates = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            targets |= {c for c in candidates if c in modules and c != name}
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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


def folder(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else None


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_no_import_circles(graph):
    assert cycles(graph) == []


def test_each_folder_imports_only_the_folders_below_it(graph):
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        if folder(module) and folder(target) and folder(target) != folder(module)
        and folder(target) not in ALLOWED[folder(module)]
    )
    assert wrong == []


def test_every_folder_has_a_floor(graph):
    """A new top-level folder must be placed in ALLOWED (and docs/architecture.md)."""
    folders = {m.split(".")[1] for m in graph if m.count(".") >= 1 and (SRC / PACKAGE / m.split(".")[1]).is_dir()}
    assert folders <= set(ALLOWED), sorted(folders - set(ALLOWED))


def test_the_checks_can_fail(tmp_path):
    """The graph sees module-level, function-level and relative imports, and a circle is found."""
    pkg = tmp_path / PACKAGE / "util"
    pkg.mkdir(parents=True)
    (tmp_path / PACKAGE / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from homeworkflow.util import b\n")
    (pkg / "b.py").write_text("from . import c\n")
    (pkg / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import b\nfrom .a import f\n"
    )
    found = import_graph(tmp_path / PACKAGE)
    assert found["homeworkflow.util.a"] == {"homeworkflow.util.b"}
    assert found["homeworkflow.util.c"] == {"homeworkflow.util.a"}
    assert cycles(found) == [["homeworkflow.util.a", "homeworkflow.util.b", "homeworkflow.util.c"]]
