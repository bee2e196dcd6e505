"""What a cook reports as its results: the files of the items of its last nodes, in walk order."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pdgstore.engine.files import records as files

from pdgstore.events import PATH


def listed(graph, state, walk, *, whole: bool = False) -> list[str]:
    """The absolute paths of the files of the finished items of the last nodes of the cook's scope
    (those no node in it takes as input); of the ``whole`` graph's (after a cook of one node that
    left it consistent: what a no-op of the graph reports), as recorded (relative to the graph's
    root when under it: the no-op manifest keeps them so, and is all they are listed for). A file
    two items share is listed once."""
    last = _last_nodes(graph) if whole else [name for name, run in walk.runs.items() if not run.downstream]

    def ids(name: str) -> Iterable[str]:
        run = walk.runs.get(name)
        return walk.listed(run) if run is not None else state.item_ids_of(graph.name, name)

    return _files(graph, state, last, ids, recorded=whole)


def of_graph(graph, state) -> list[str]:
    """``listed(whole=True)`` without a cook: the whole graph's results as ``state`` holds them,
    as recorded (for a watcher's no-op manifest, written once its cook is over)."""
    return _files(graph, state, _last_nodes(graph), lambda name: state.item_ids_of(graph.name, name), recorded=True)


def _last_nodes(graph) -> list[str]:
    """The nodes no node takes as input, in topological order."""
    fed = {up for node in graph.nodes.values() for up in node.inputs}
    return [name for name in graph.topological_order() if name not in fed]


def _files(graph, state, last: list[str], ids: Callable[[str], Iterable[str]], *, recorded: bool) -> list[str]:
    root = graph.root
    paths: list[str] = []
    for name in last:
        finished = state.finished_outputs(graph.name, name)  # items not read stay so
        for item_id in ids(name):
            outputs = finished.get(item_id)
            if outputs is not None:
                if recorded:
                    paths.extend(o[PATH] for o in outputs)
                else:
                    paths.extend(files.absolute(o[PATH], root) for o in outputs)
    return list(dict.fromkeys(paths))  # a file two final partitions share is one result
