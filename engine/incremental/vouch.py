"""Whether a cook of one node leaves the whole graph consistent (``CookFinished.consistent``).

A cook of the whole graph that succeeds leaves every item agreeing with the node definitions it
recorded and with its parents' records: the next cook may then prove a no-op from the manifest, or
walk only what a change reaches (``engine.incremental.noop``, ``engine.incremental.delta``). A cook
of one node (``pdg cook GRAPH NODE``) records the whole graph's definitions but cooks only its scope
(the node and what it needs), so it vouches for the rest of the graph only when it can:

- the graph was consistent before it (its last cook vouched, or covered the graph and succeeded);
- no node outside the scope changed, was added or was removed (its items were made under the
  definitions recorded before, which this cook's record would otherwise stand in for);
- no item of a scope node that feeds a node outside the scope was made or decided again (its
  children there would be stale): every item was reused as recorded, or the delta walk reached no
  item of those nodes, or no node outside the scope takes one of the scope's as input.

Otherwise the next cook walks every item, as after any cook of one node before this.
"""

from __future__ import annotations

from pdgstore.engine.incremental.noop import consistent


def outside_unchanged(state, graph, scope: list[str], previous, node_reasons: dict, cook_id: int) -> bool:
    """At the start of cook ``cook_id`` of ``scope``: the graph was consistent, and no node outside
    ``scope`` changed from the definitions recorded before (``previous``: the ``GraphInfo``)."""
    in_scope = set(scope)
    return (
        previous is not None
        and consistent(state, graph.name, cook_id)
        and {d["name"] for d in previous.nodes} == set(graph.nodes)
        and not any(name in node_reasons for name in graph.nodes if name not in in_scope)
    )


def leaves_consistent(graph, scope: list[str], walk, *, reused_all: bool) -> bool:
    """At the end of a cook of ``scope`` that succeeded, whose start found nothing outside the scope
    changed (``outside_unchanged``): whether what its ``walk`` made reaches no item outside it."""
    in_scope = set(scope)
    feeding = {up for node in graph.nodes.values() if node.name not in in_scope for up in node.inputs} & in_scope
    if not feeding or reused_all:
        return True
    if walk.affected is None:
        return False  # the full walk may have remade any item
    return not (walk.reshaped & feeding) and not any(walk.runs[name].items for name in feeding)
