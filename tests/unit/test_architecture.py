"""The shape of the package, checked so that it cannot drift back: no import cycles
between the modules of rater/, and no module over MAX_LINES lines but the few listed
(a list that can only shrink).

The import graph is built from the source with `ast`, without importing anything.
Only imports that run when a module is imported count: those at module level,
including inside a module-level `try` or `if`. Two kinds are left out on purpose:

* imports under `if TYPE_CHECKING:` never run; they exist for annotations (every
  module has `from __future__ import annotations`), so a "cycle" through them cannot
  fail at import time and is the standard way to name a type across modules;
* imports inside a function run when it is called, after every module has loaded.

Both are listed by `deferred_edges` so that a reader can see them. A cycle closed by
an import inside a function does not fail at import time, but it is a cycle all the
same: a second test forbids those too (`runtime_graph`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "rater"
MAX_LINES = 400

# Modules still over MAX_LINES. Each one is being split by its owner; remove a module
# from this list when it comes under the limit (the test below says so), never add one.
OVER_THE_LIMIT: dict[str, str] = {}


def module_name(path: Path) -> str:
    """`rater/a/b.py` -> `rater.a.b`; `rater/a/__init__.py` -> `rater.a`."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The absolute name a `from ... import` statement reads from."""
    if node.level == 0:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join([*base, node.module] if node.module else base)


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The modules of rater/ an import statement loads (a package's submodule when
    `from package import submodule` names one)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name in MODULES:
                yield alias.name
        return
    source = _absolute(module, node)
    if source not in MODULES:
        return
    named = [f"{source}.{alias.name}" for alias in node.names]
    submodules = [name for name in named if name in MODULES]
    yield from submodules
    if len(submodules) < len(named):
        yield source


def _walk(
    body: list[ast.stmt], *, why: str = ""
) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement of `body`, with why it is deferred: "" (it runs when the
    module is imported), "type" (under TYPE_CHECKING) or "function" (inside one)."""
    for stmt in body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            yield stmt, why
        elif isinstance(stmt, ast.If):
            yield from _walk(stmt.body, why=why or ("type" if _is_type_checking(stmt.test) else ""))
            yield from _walk(stmt.orelse, why=why)
        elif isinstance(stmt, ast.Try):
            for block in (stmt.body, stmt.orelse, stmt.finalbody):
                yield from _walk(block, why=why)
            for handler in stmt.handlers:
                yield from _walk(handler.body, why=why)
        elif isinstance(stmt, ast.With):
            yield from _walk(stmt.body, why=why)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            is_function = not isinstance(stmt, ast.ClassDef)
            yield from _walk(stmt.body, why=why or ("function" if is_function else ""))


def _edges(*kinds: str) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, why in _walk(tree.body):
            if why in kinds:
                graph[name].update(t for t in _targets(name, node) if t != name)
    return graph


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of rater/ it imports when it is imported."""
    return _edges("")


def deferred_edges() -> dict[str, set[str]]:
    """Module -> the modules it imports only under TYPE_CHECKING or inside a function."""
    return _edges("type", "function")


def runtime_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports at any time it runs (inside functions too; only
    the TYPE_CHECKING imports, for annotations, left out)."""
    return _edges("", "function")


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path: list[str] = [start]
        stack: list[Iterator[str]] = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_the_graph_sees_imports() -> None:
    """A guard for the test itself: known imports are found, deferred ones kept apart."""
    graph = import_graph()
    assert "rater.catalog.decisions" in graph["rater.core.draw"]
    assert "rater.codec.avro" in graph["rater.codec.jsonl"]
    assert "rater.codec.jsonl" not in graph["rater.codec.avro"]  # in a function only
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle in rater/: " + " -> ".join(cycle or [])


def test_no_import_cycles_through_imports_inside_functions_either() -> None:
    """A function-level import that closes a cycle is a cycle all the same (it only
    hides from the import-time check): none either."""
    cycle = find_cycle(runtime_graph())
    assert cycle is None, "import cycle in rater/ (via a function): " + " -> ".join(cycle or [])


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize("path", sorted(MODULES.values()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_over_the_limit(path: Path) -> None:
    name = str(path.relative_to(ROOT))
    lines = _lines(path)
    if name in OVER_THE_LIMIT:
        assert lines > MAX_LINES, (
            f"{name} has {lines} lines, within the limit of {MAX_LINES}: remove it from "
            f"OVER_THE_LIMIT in {Path(__file__).name}"
        )
    else:
        assert lines <= MAX_LINES, (
            f"{name} has {lines} lines, over the limit of {MAX_LINES}: split it into "
            f"modules with one job each (OVER_THE_LIMIT only shrinks)"
        )


def test_the_allowlist_names_modules_that_exist() -> None:
    missing = [name for name in OVER_THE_LIMIT if not (ROOT / name).exists()]
    assert missing == [], f"remove from OVER_THE_LIMIT, these modules are gone: {missing}"
