"""The three layers stay where they belong: cli -> engine -> pdgstore, and the pure modules stay pure.

The folders ``engine/`` and ``cli/`` are installed as ``pdgstore.engine`` and ``pdgstore.cli``, never as
top-level ``engine`` or ``cli`` (generic names another distribution could overwrite). The import walk
reads the source with ``ast`` (nothing is imported), so an import hidden inside a function is caught
as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pdgstore
import pdgstore.cli as cli
import pdgstore.engine as engine

REPO = Path(__file__).resolve().parent.parent
LAYERS = ("pdgstore", "engine", "cli", "pdgd")
#: folder -> the package it is installed as
INSTALLED = {"pdgstore": "pdgstore", "engine": "pdgstore.engine", "cli": "pdgstore.cli", "pdgd": "pdgd"}

#: folder -> packages it must never import (the old top-level names are wrong everywhere)
FORBIDDEN = {
    "pdgstore": {"pdgstore.engine", "pdgstore.cli", "engine", "cli", "pdgd"},
    "engine": {"pdgstore.cli", "engine", "cli", "pdgd"},
    "cli": {"engine", "cli"},
    # PDG's data layer module stands where cli does: it uses the engine, nothing uses it
    "pdgd": {"pdgstore.cli", "engine", "cli"},
}

#: modules that only compute (events, codec, state, the fold): no clock, no processes, no threads,
#: no file system. Replay must give the same state on any machine, at any time.
PURE_MODULES = ("pdgstore/events.py", "pdgstore/codec.py", "pdgstore/state.py", "pdgstore/projection.py")
IMPURE_IMPORTS = {"os", "subprocess", "time", "threading"}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import statement in ``path``, wherever it sits."""
    parts = path.relative_to(REPO).with_suffix("").parts[:-1]
    package = ".".join((INSTALLED[parts[0]], *parts[1:]))
    return modules_in(path.read_text(), package, str(path))


def modules_in(source: str, package: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in ``source``, a module of ``package``."""
    tree = ast.parse(source, filename=filename)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's own package
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            if node.module is None or node.level:
                # ``from . import x`` / ``from pkg import sub``: the names may be modules too
                found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
    return found


def python_files(layer: str) -> list[Path]:
    files = sorted((REPO / layer).rglob("*.py"))
    assert files, f"no Python files under {layer}/"
    return files


@pytest.mark.parametrize("module", [pdgstore, engine, cli], ids=lambda m: m.__name__)
def test_top_level_packages_are_this_repository(module):
    path = Path(module.__file__).resolve()
    assert path.is_relative_to(REPO), f"{module.__name__} is imported from {path}, not from {REPO}"
    folder = {v: k for k, v in INSTALLED.items()}[module.__name__]
    assert path == REPO / folder / "__init__.py"


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_go_one_way(layer):
    wrong = []
    for path in python_files(layer):
        for line, module in imported_modules(path):
            if any(module == f or module.startswith(f + ".") for f in FORBIDDEN[layer]):
                wrong.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert not wrong, f"{layer} must not import {sorted(FORBIDDEN[layer])}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("relpath", PURE_MODULES)
def test_pure_modules_import_no_side_effects(relpath):
    path = REPO / relpath
    wrong = [
        f"{relpath}:{line} imports {module}"
        for line, module in imported_modules(path)
        if module.split(".")[0] in IMPURE_IMPORTS
    ]
    assert not wrong, "\n".join(wrong)


def test_import_walk_sees_what_it_should():
    """The walker itself: plain, dotted, from-, relative and function-local imports are all seen."""
    source = (
        "import os.path\n"
        "from pdgstore.engine import cook\n"
        "from . import codec\n"
        "from .events import REGISTRY\n"
        "def f():\n"
        "    import pdgstore.cli.main\n"
    )
    modules = {m for _, m in modules_in(source, "pdgstore")}
    assert {"os.path", "pdgstore.engine", "pdgstore.codec", "pdgstore.events", "pdgstore.cli.main"} <= modules
