"""What a cook reports as its results: the files of the items of its last nodes, in walk order."""

from __future__ import annotations

from pdgstore.engine.files import records as files

from pdgstore.events import PATH


def listed(graph, state, walk, *, whole: bool = False) -> list[str]:
    """The absolute paths of the files of the finished items of the last nodes of the cook's scope
    (those no node in it takes as input), or of the ``whole`` graph's (after a cook of one node that
    left it consistent: what a no-op of the graph reports). A file two items share is listed once."""
    if whole:
        fed = {up for node in graph.nodes.values() for up in node.inputs}
        last = [name for name in graph.topological_order() if name not in fed]
    else:
        last = [name for name, run in walk.runs.items() if not run.downstream]
    root = graph.root
    paths: list[str] = []
    for name in last:
        run = walk.runs.get(name)
        finished = state.finished_outputs(graph.name, name)  # items not read stay so
        for item_id in walk.listed(run) if run is not None else state.item_ids_of(graph.name, name):
            outputs = finished.get(item_id)
            if outputs is not None:
                paths.extend(files.absolute(o[PATH], root) for o in outputs)
    return list(dict.fromkeys(paths))  # a file two final partitions share is one result
