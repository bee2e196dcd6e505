"""Loading a graph file: run it as Python, find its Graph, and turn its mistakes into sentences.

Errors name the file and the line: a syntax error, an exception while the file builds its graph
(the deepest line of the graph file in the traceback), no graph defined, several graphs with none
named ``graph``, an unknown ``--set`` name, a connection to an unknown node or a cycle (found once
the file has run: the line is the one that declared the node, ``Graph.validate``).
"""

from __future__ import annotations

import os
import sys
import types

from pdgstore.engine.errors import GraphError, ParmError, error_line
from pdgstore.engine.graph import api as graph_module
from pdgstore.engine.graph.api import Graph
from pdgstore.engine.pdgapi import ensure_pdg_module

from pdgstore.errors import PdgError


def load_graph(path: str, overrides: dict | None = None) -> Graph:
    """Run the graph file at ``path`` and return the graph it defines, validated."""
    path = os.path.abspath(path)
    shown = os.path.relpath(path) if not os.path.relpath(path).startswith("../..") else path
    if not os.path.isfile(path):
        raise GraphError(f"graph file {shown} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise GraphError(f"graph file {shown} cannot be read: {exc}") from None
    try:
        code = compile(source, path, "exec")
    except SyntaxError as exc:
        raise GraphError(f"{shown}:{exc.lineno}: syntax error: {exc.msg}") from None

    module_name = f"pdg_graph_{os.path.splitext(os.path.basename(path))[0]}"
    module = types.ModuleType(module_name)
    module.__file__ = path
    graph_dir = os.path.dirname(path)
    sys.modules[module_name] = module  # so dataclasses, pickling and inspect.getsource work
    sys.path.insert(0, graph_dir)  # a graph file may import its local modules
    ensure_pdg_module()  # ... but `import pdg` is PDG's API, not the project's pdg/types/ folder
    try:
        with graph_module.loading(path, overrides):
            exec(code, module.__dict__)
    except PdgError as exc:
        raise type(exc)(f"{shown}:{_line_in(exc, path)}: {exc}") from None
    except SystemExit as exc:
        raise GraphError(f"{shown}: the graph file called exit({exc.code})") from None
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise GraphError(f"{shown}:{_line_in(exc, path)}: {error_line(exc)}") from None
    finally:
        try:
            sys.path.remove(graph_dir)
        except ValueError:
            pass

    graphs = {name: value for name, value in module.__dict__.items() if isinstance(value, Graph)}
    unique = {id(g): g for g in graphs.values()}
    if not unique:
        raise GraphError(f"{shown} defines no graph: create one with graph = Graph(...)")
    if len(unique) == 1:
        graph = next(iter(unique.values()))
    elif isinstance(graphs.get("graph"), Graph):
        graph = graphs["graph"]
    else:
        raise GraphError(f"{shown} defines several graphs ({', '.join(sorted(graphs))}); name the one to cook 'graph'")
    try:
        graph.check_overrides()
        graph.validate()
    except (GraphError, ParmError) as exc:
        line = getattr(exc, "line", None)
        raise type(exc)(f"{shown}:{line}: {exc}" if line else f"{shown}: {exc}") from None
    return graph


def _line_in(exc: BaseException, path: str) -> int | str:
    """The deepest line of ``path`` in the exception's traceback ('?' when it is not there)."""
    import traceback  # here: only a graph file that fails needs it

    line: int | str = "?"
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == path:
            line = frame.lineno if frame.lineno is not None else line
    return line
