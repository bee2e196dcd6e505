"""``pdg cook GRAPH --scheduler NAME``: run every node of a graph on one scheduler, unchanged.

``NAME`` is a scheduler the graph declares, or a built-in type (``dask``, ``local``,
``inprocess``) made with its defaults (``dask``: a LocalCluster sized to this machine). Which
scheduler runs an item is not part of its signature, so switching schedulers recooks nothing.
In-process nodes go to it only when it accepts their items (``on_accept_work_item``).
"""

from __future__ import annotations

from pdgstore.engine.errors import GraphError
from pdgstore.engine.schedulers.contract import make, type_named, types


def run_everything_on(graph, name: str) -> None:
    """Make scheduler ``name`` (declared, or a built-in type with its defaults) every node's."""
    if name not in graph.schedulers:
        if type_named(name) is None:
            declared = ", ".join(sorted(graph.schedulers)) or "none"
            raise GraphError(
                f"--scheduler {name}: graph {graph.name} declares no such scheduler (declared: {declared}) "
                f"and it is no scheduler type (types: {', '.join(sorted(types()))})"
            )
        graph.schedulers[name] = make(name, name, {})
    graph.default_scheduler = name
    for node in graph.nodes.values():
        if getattr(node, "scheduler", None) is not None:
            node.scheduler = name
