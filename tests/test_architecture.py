"""The package's layers (docs/architecture.md): import-linter's contracts hold, no module takes part in an import
circle, and no module imports the package's own modules inside a function (where a circle would hide)."""
from __future__ import annotations

import ast
import pathlib
import shutil
import subprocess
import sys

import grimp

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = 'hinas_basicsr'


def import_graph() -> dict[str, set[str]]:
    """Every module of the package and the package's modules it imports directly (grimp: top level and inside
    functions alike)."""
    graph = grimp.build_graph(PACKAGE, cache_dir=None)
    return {m: graph.find_modules_directly_imported_by(m) for m in graph.modules if m.startswith(PACKAGE)}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted: the import circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
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

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_circles_finds_a_planted_circle_and_nothing_in_a_tree():
    assert circles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]
    assert circles({'a': {'b', 'c'}, 'b': {'c'}, 'c': set()}) == []


def test_no_import_circles_among_the_package_modules():
    edges = import_graph()
    assert len(edges) > 50  # the whole package was read
    # the package's __init__ registers the core (it imports archs, models...): an edge from the root to every
    # layer, not a circle of modules
    edges = {m: {t for t in targets if t != PACKAGE} for m, targets in edges.items() if m != PACKAGE}
    assert circles(edges) == []


def test_import_linter_contracts_are_kept():
    command = shutil.which('lint-imports') or str(pathlib.Path(sys.executable).parent / 'lint-imports')
    result = subprocess.run([command, '--no-cache'], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert '0 broken' in result.stdout and 'KEPT' in result.stdout


def test_no_package_import_inside_a_function_without_its_reason():
    """An import of the package's own modules inside a function is allowed only with a comment on its line or the
    line above that says why (start-up time); the layers make every other one unnecessary."""
    inner = []
    for path in sorted((ROOT / PACKAGE).rglob('*.py')):
        source = path.read_text(encoding='utf-8')
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.col_offset > 0 and (node.module or '').startswith(PACKAGE):
                context = lines[node.lineno - 1] + lines[node.lineno - 2]
                if 'start-up' not in context:
                    inner.append(f'{path.relative_to(ROOT)}:{node.lineno}')
    assert inner == []
