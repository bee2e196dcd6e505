"""The engine's parts keep narrow contracts: no import cycle, no module using another's private names.

A cycle (cook -> dispatch -> static -> cook was one, hidden by an import inside a function) means no
part can be read, tested or replaced without the others; a private name used from outside means a
part's inside is someone else's contract. Both are read from the source with ``ast`` (nothing is
imported), so an import inside a function counts; imports under ``if TYPE_CHECKING:`` (annotations
only) do not.
"""

from __future__ import annotations

import ast
import functools
from collections import deque
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INSTALLED = {"pdgstore": "pdgstore", "engine": "pdgstore.engine", "cli": "pdgstore.cli"}
#: the folders held here (pdgstore's package init re-exports its modules: a cycle of names only)
CHECKED = ("engine", "cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    name = ".".join((INSTALLED[parts[0]], *parts[1:]))
    return name.removesuffix(".__init__")


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for layer in INSTALLED for p in sorted((REPO / layer).rglob("*.py"))}


@functools.cache
def parsed(path: Path) -> ast.Module:
    """The module's tree, parsed once for every test here."""
    return ast.parse(path.read_text(), filename=str(path))


def statements(tree: ast.AST) -> Iterator[ast.AST]:
    """The statements of ``tree`` in ``ast.walk``'s order, but none under ``if TYPE_CHECKING:``.
    An import is a statement, so the expressions (most of a tree) are never visited."""
    queue = deque([tree])
    while queue:
        for child in ast.iter_child_nodes(queue.popleft()):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, (ast.stmt, ast.excepthandler, ast.match_case)):
                yield child
                queue.append(child)


def imports_of(path: Path, known: dict[str, Path]) -> dict[str, str]:
    """Our modules ``path`` imports (anywhere but under TYPE_CHECKING): module -> the local name
    bound to it ('' when only names from it are imported)."""
    found: dict[str, str] = {}
    for node in statements(parsed(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    found[alias.name] = alias.asname or ""
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            subs = [a for a in node.names if f"{node.module}.{a.name}" in known]
            if node.module in known and len(subs) < len(node.names):  # names from the module itself
                found.setdefault(node.module, "")
            for alias in subs:  # ``from package import module``: the package's init is not the point
                found[f"{node.module}.{alias.name}"] = alias.asname or alias.name
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for other in edges:
                if other not in index:
                    index[other] = low[other] = len(index)
                    stack.append(other)
                    on_stack.add(other)
                    work.append((other, iter(sorted(graph[other]))))
                    break
                if other in on_stack:
                    low[node] = min(low[node], index[other])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    part = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        part.append(member)
                        if member == node:
                            break
                    if len(part) > 1:
                        found.append(sorted(part))
    return found


def checked_modules() -> dict[str, Path]:
    return {name: path for name, path in all_modules().items() if path.relative_to(REPO).parts[0] in CHECKED}


def test_the_engine_and_cli_have_no_import_cycle():
    known = all_modules()
    graph = {name: set(imports_of(path, known)) - {name} for name, path in checked_modules().items()}
    graph = {name: {m for m in deps if m in graph} for name, deps in graph.items()}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def private_uses(path: Path, known: dict[str, Path]) -> list[str]:
    """``module._name`` and ``from module import _name`` in ``path`` for our modules."""
    tree = parsed(path)
    bound = {local: module for module, local in imports_of(path, known).items() if local}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module in known:
            out.extend(
                f"{path.relative_to(REPO)}:{node.lineno}: from {node.module} import {a.name}"
                for a in node.names
                if a.name.startswith("_") and not a.name.startswith("__")
            )
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in bound
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            out.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value.id}.{node.attr}")
    return out


def test_no_module_uses_another_modules_private_names():
    known = all_modules()
    found = [use for path in checked_modules().values() for use in private_uses(path, known)]
    assert found == []


#: no module is longer than this: past it, a module does more than one job (STYLE.md: 100-400 lines)
MAX_MODULE_LINES = 600
SIZED = ("pdgstore", "engine", "cli", "pdg", "pdgd")


def test_no_module_is_over_600_lines():
    too_long = {
        str(path.relative_to(REPO)): lines
        for folder in SIZED
        for path in sorted((REPO / folder).rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}, f"split these into modules of one job each: {too_long}"
