"""``pdg.GraphContext`` and ``pdg.Graph``: cook a graph and read its task graph with PDG's calls.

Seed 002's static-cook sample does ``context.cook(True, pdg.cookType.StaticDepsFull)`` and then
``context.graph.dependencyGraph(True)``. Here a context is made from a graph (an ``engine.Graph`` or
a graph file) instead of a Houdini node: ``GraphContext(graph).cook(...)`` cooks it into its store
(``StaticDepsFull``/``StaticDepsNode`` are ``pdg cook --static``), and ``dependencyGraph`` returns
the work items of the store with their dependencies, as ``pdg.WorkItem`` objects.
"""

from __future__ import annotations

import os
from typing import Any

from pdgstore.engine.pdgapi.enums import cookType
from pdgstore.engine.pdgapi.items import WorkItem


class Graph:
    """``pdg.Graph``: the work items a context's store holds for its graph."""

    def __init__(self, context: GraphContext) -> None:
        self._context = context

    @property
    def name(self) -> str:
        return self._context.engine_graph.name

    def dependencyGraph(self, expand: bool = True):  # noqa: N802
        """(dependencies, dependents, ready): each work item of the graph -> the set of items it waits
        for (its parents: a partition's members, a child's parent), the inverse, and the items that
        wait for nothing. Every item of the graph is read: this is the whole task graph."""
        from pdgstore.log import EventLog

        graph = self._context.engine_graph
        with EventLog.open(self._context.db) as log:
            state = log.load_state()
        items = {}
        for node in graph.topological_order():
            for item in state.items_of(graph.name, node):
                items[item.item_id] = WorkItem(item, graph.nodes.get(node))
        dependencies = {w: {items[p] for p in w.item.parents if p in items} for w in items.values()}
        dependents: dict[WorkItem, set[WorkItem]] = {w: set() for w in items.values()}
        for w, waits in dependencies.items():
            for other in waits:
                dependents[other].add(w)
        ready = [w for w, waits in dependencies.items() if not waits]
        return dependencies, dependents, ready


class GraphContext:
    """``pdg.GraphContext`` for an engine graph (or graph file) and its store (``db``: beside it)."""

    def __init__(self, graph, db: str | None = None) -> None:
        from pdgstore.engine import project
        from pdgstore.engine.graph.loader import load_graph

        if isinstance(graph, (str, os.PathLike)):
            self.path = os.fspath(graph)
            graph = load_graph(self.path)
        else:
            self.path = None
        self.engine_graph = graph
        self.db = db or project.store_beside(self.path or os.path.join(graph.root, "graph.py"))
        self.graph = Graph(self)
        self.summary: Any = None  # the engine's CookSummary of the last cook

    @property
    def name(self) -> str:
        return self.engine_graph.name

    def cook(self, blocking: bool = True, cook_type=cookType.Full, nodes=None):
        """Cook the graph (``nodes``: one node name to cook with what it needs). ``blocking`` False
        is not offered: the cook runs to its end either way. Returns the engine's ``CookSummary``."""
        from pdgstore.engine.project import cook_graph

        node = nodes[0] if isinstance(nodes, (list, tuple)) and nodes else nodes
        static = cookType(cook_type) in (cookType.StaticDepsFull, cookType.StaticDepsNode)
        self.summary = cook_graph(self.engine_graph, db=self.db, node=node, static=static)
        return self.summary
