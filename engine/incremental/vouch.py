"""Whether a cook of one node leaves the whole graph consistent (``CookFinished.consistent``).

A cook of the whole graph that succeeds leaves every item agreeing with the node definitions it
recorded and with its parents' records: the next cook may then prove a no-op from the manifest, or
walk only what a change reaches (``engine.incremental.noop``, ``engine.incremental.delta``). A cook
of one node (``pdg cook GRAPH NODE``) records the whole graph's definitions but cooks only its scope
(the node and what it needs), so it vouches for the rest of the graph only when it can:

- the graph was consistent before it (its last cook vouched, or covered the graph and succeeded);
- no node outside the scope changed, was added or was removed (its items were made under the
  definitions recorded before, which this cook's record would otherwise stand in for);
- the items outside the scope that an item the cook changed feeds (its children there, made from
  what it was) are known: the cook reused every item as recorded, or no node outside the scope
  takes one of the scope's as input, or the delta walk decided the items (and added, removed or
  renumbered none of a node feeding one outside). An item changed when its attributes or its
  files' paths, tags or hashes differ from its record before the cook (a file touched to the same
  bytes changes nothing downstream: the next cook would reuse its children), or, a partition,
  when it was merged anew. The cook then records each such child dirty (``WorkItemDirtied``, the
  upstream item named: ``pdg explain`` follows it; a wait-for-all's also with its changed members'
  records from before, ``was``, for ``engine.cook.inplace``), so the next cook of the graph reruns
  it, and what it feeds if its results change, as after ``pdg dirty``; the manifest it writes
  proves no no-op while one is dirty (``EventLog.all_done``), and the delta walk starts from them
  as from changed files.

Otherwise the next cook walks every item, as after any cook of one node before this. A cook of
one node that took the full walk (a node out of the delta walk's shortcut in its scope: a Python
processor, say) keeps the records of what it decided again as the delta walk does, and records
dirty the same children outside its scope, so ``pdg status`` and ``pdg explain`` tell the truth
before the next cook; it vouches for nothing, not knowing whether it added, removed or renumbered
items of a node feeding one outside.
"""

from __future__ import annotations

from pdgstore.engine.cook.inplace import MAX_CHANGED
from pdgstore.engine.graph.nodes import WaitForAll
from pdgstore.engine.incremental.noop import consistent

from pdgstore import events as ev
from pdgstore import reasons
from pdgstore.events import HASH, PATH, TAG


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


def leaves_consistent(recorder, graph, scope: list[str], state, walk, *, reused_all: bool) -> bool:
    """At the end of a cook of ``scope`` that succeeded, whose start found nothing outside the scope
    changed (``outside_unchanged``): record dirty the items outside the scope that what its ``walk``
    made or decided again feeds, and say whether it can vouch for the graph. The full walk (a node
    out of the delta walk's shortcut: a Python processor, say) records them too, but vouches for
    nothing: it does not tell whether it added, removed or renumbered items of a node feeding one
    outside, so the next cook decides every item (and reruns the dirty ones)."""
    in_scope = set(scope)
    feeding = {up for node in graph.nodes.values() if node.name not in in_scope for up in node.inputs} & in_scope
    if not feeding or reused_all:
        return True
    if walk.reshaped & feeding or recorder.log is None or walk.items.before is None:
        return False  # items were added, removed or renumbered; a dry run records nothing
    stale: dict[str, list[str]] = {}  # child outside the scope -> the items it was made from that changed
    items, before, remade = state.items, walk.items.before, walk.settle.remade
    # by the store's links; a state held whole (``pdg watch``'s, in memory) looks through its items
    children_of = getattr(state, "children_of", None) or state.children
    for name in feeding:
        partitioner = graph.nodes[name].is_partitioner
        made = walk.runs[name].items
        # a processor's items decided again (in the order decided), not each item the full walk holds
        for item_id in [i for i in made if i in remade] if partitioner else [i for i in before if i in made]:
            if not (partitioner or _changed(items[item_id], before[item_id])):
                continue
            for child in children_of(item_id):
                if items[child].node not in in_scope:
                    stale.setdefault(child, []).append(item_id)
    for child, parents in stale.items():
        item = items[child]
        reason = reasons.from_item(reasons.upstream(), parents[0])
        was = [before.get(p) for p in parents]
        if type(graph.nodes[item.node]) is WaitForAll and len(was) <= MAX_CHANGED and None not in was:
            # what its members were when it merged them: the next cook merges it in place (``inplace``)
            reason["was"] = [[w.item_id, w.outputs, w.attrs] for w in was if w is not None]
        if item.state == "dirty":
            if "was" not in item.reason:
                continue  # dirty already, merged from every member (or run) at the next cook
            reason.pop("was", None)  # changed by two cooks: merged from every member
        recorder.emit(ev.WorkItemDirtied, item_id=child, reason=reason)
    return walk.affected is not None


def _changed(item, was) -> bool:
    """Whether ``item`` differs from ``was`` (its record before this cook made it again, or None
    when it did not) in what its children are made from: attributes, and files but their stats."""
    if was is None:
        return False
    files = lambda outputs: [(o[PATH], o[TAG], o[HASH]) for o in outputs]  # noqa: E731
    return dict(item.attrs) != was.attrs or files(item.outputs) != files(was.outputs)
