"""Changing an item's cache state by hand: ``pdg dirty`` and ``pdg accept``.

Both act between cooks, under the store's writer lock (so never during a cook), and record what
they did as events, so the next cook (and ``pdg explain``) knows why:

- **dirty** records ``WorkItemDirtied`` with the reason ``{"cause": "user", "cache_state":
  "dirty_always"}`` for each named item. The next cook reruns them; their dependents rerun only if
  what they make changes (early cutoff), as after any other change. ``remove_outputs`` also deletes
  the files the items wrote (never the files a file pattern found: those are the user's inputs).
  A graph's no-op manifest that described the log's end is moved to the new end in the same
  transaction: dirtying changes no file record (a removed file is one its scan finds changed), and
  the next cook takes the dirty items from the store's index as its delta walk's seeds
  (``engine.incremental.vouch``), where without the manifest it read every item.
- **accept** records ``WorkItemAccepted`` with each item's output files as they are now (re-stat
  and re-hashed), for the named items and everything downstream of them: "these files are up to
  date". The next cook takes the inputs it finds as the ones these results were made from, so a
  change the user knows is harmless reruns nothing.

A target is a node name (all its items) or an item reference (id, id prefix or name, as ``pdg
show`` takes), either one alone or after its graph (``GRAPH/NODE``, ``GRAPH/ITEM``): a name that
more than one graph of the store holds, given alone, is refused before anything is written, never
acted on in every graph (``pdgstore.queries.find_nodes``, ``find_item``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from sys import intern
from typing import NamedTuple

from pdgstore.engine.cook.recorder import Recorder
from pdgstore.engine.errors import MissingFiles, NoResult, OutsideProject
from pdgstore.engine.files import records as files
from pdgstore.engine.files.confine import Confine
from pdgstore.engine.files.filetypes import TypeRegistry

from pdgstore import events as ev
from pdgstore import reasons
from pdgstore.errors import UnknownItem
from pdgstore.log import EventLog
from pdgstore.queries import JSON_SCHEMA, find_item, find_nodes, node_list, project_root, working_dirs
from pdgstore.readmodel import TableState
from pdgstore.state import Item, State

#: items read, recorded and let go of at a time: ``pdg dirty`` of a node of a million items never
#: holds them all (every chunk's events are appended in the one transaction of the whole change)
CHUNK = 5_000


class Touched(NamedTuple):
    """An item a ``dirty`` or ``accept`` changed, as its answer names it."""

    item_id: str
    name: str
    node: str
    graph: str


@dataclass
class ManualResult:
    """What a ``dirty`` or ``accept`` did: the items it touched and the files it removed or found missing."""

    items: list[Touched] = field(default_factory=list)
    removed_files: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)
    #: ``accept``: the items downstream (or of the node) left as they are: no result to accept
    skipped: list[Touched] = field(default_factory=list)

    def to_json(self, action: str) -> dict:
        return {
            "schema": JSON_SCHEMA,
            "action": action,
            "count": len(self.items),
            "items": [i._asdict() for i in self.items],
            "removed_files": self.removed_files,
            "missing_files": self.missing_files,
            "skipped": [i._asdict() for i in self.skipped],
        }

    def touched(self, items: list[Item], into: list[Touched] | None = None) -> None:
        # a node's and a graph's name once, not once per item (a million items: 110 MB less)
        (self.items if into is None else into).extend(
            Touched(i.item_id, i.name, intern(i.node), intern(i.graph)) for i in items
        )


def resolve(state, target: str) -> Iterator[list[Item]]:
    """The items a NODE|ITEM argument names, a chunk at a time: a node's items (in log order) or
    the one item, each named alone or as ``GRAPH/NODE``, ``GRAPH/ITEM``. ``state``: a ``State`` or
    the store's tables (``pdgstore.readmodel.TableState``). A wrong target, or a name more than one
    graph holds given alone, is refused before any chunk."""
    nodes = find_nodes(state, target, with_items=True)
    if nodes:
        graph, node = nodes[0]
        return _chunks(state.iter_items_of(graph, node))
    try:
        return iter([[find_item(state, target)]])
    except UnknownItem:
        listed = node_list(state.node_keys())
        raise UnknownItem(f"no node or work item {target} in the store (nodes: {listed})") from None


def with_dependents(state, roots: Iterable[list[Item]]) -> Iterator[list[Item]]:
    """The chunks of ``roots``, then every item downstream of them, each once, level by level, a
    chunk at a time (the children of an item come from the store's links, so this reads what is
    downstream, not every item)."""
    seen: set[str] = set()
    frontier: list[str] = []
    for chunk in roots:
        fresh = [i for i in chunk if i.item_id not in seen]
        seen.update(i.item_id for i in fresh)
        frontier += [i.item_id for i in fresh]
        yield fresh
    while frontier:
        below = []
        for item_id in frontier:
            for child in state.children(item_id):
                if child not in seen:
                    seen.add(child)
                    below.append(child)
        for ids in _chunks(below):
            found = state.items_many(ids)
            yield [found[i] for i in ids if i in found]
        frontier = below


def _chunks(values: Iterable) -> Iterator[list]:
    it = iter(values)
    while chunk := list(islice(it, CHUNK)):
        yield chunk


def _holding(items: list[Item]) -> State:
    """A ``State`` holding only ``items``: what the recorder applies ``dirty``'s and ``accept``'s
    events to (each changes only its own item), instead of the whole store loaded."""
    state = State()
    for item in items:
        state.items[item.item_id] = item
        state.node_items.setdefault((item.graph, item.node), {})[item.item_id] = None
    return state


def dirty(path: str, target: str, *, remove_outputs: bool = False, message: str = "pdg dirty") -> ManualResult:
    """Dirty the items ``target`` names in the store at ``path`` (see the module docstring). With
    ``remove_outputs``, their files are deleted once the change is in the log; a file outside the
    project refuses the whole change before anything is written or deleted."""
    with EventLog.open(path, writer=True) as log:
        state = TableState(log)
        result = ManualResult()
        recorder = Recorder(log, State())
        reason = reasons.user(message)
        doomed: list[str] = []
        end = log.last_seq()
        with log.one_transaction():
            for chunk in resolve(state, target):
                if remove_outputs:
                    doomed += _outputs_to_remove(log, state, chunk)
                recorder.state = _holding(chunk)
                for item in chunk:
                    recorder.graph = item.graph
                    recorder.emit(ev.WorkItemDirtied, item_id=item.item_id, reason=reason)
                recorder.flush()
                result.touched(chunk)
            for graph in {i.graph for i in result.items}:
                found = log.manifest(graph)
                if found is not None and log.only_live_since(found[0], until=end):
                    log.save_manifest(graph, log.next_seq - 1, found[1])
        for full in doomed:
            try:
                os.remove(full)
                result.removed_files.append(full)
            except FileNotFoundError:
                result.missing_files.append(full)
        return result


def _outputs_to_remove(log: EventLog, state, items: list[Item]) -> list[str]:
    """The output files of ``items`` that ``dirty --remove-outputs`` deletes: every one inside the
    project (or one of its schedulers' working folders), else the whole change is refused."""
    doomed = []
    for item in items:
        if not item.inputs and not item.parents:
            continue  # a file pattern's item: its "output" is the user's own input file
        root = project_root(log, state, item.graph)
        confine = Confine(root, working_dirs(state, item.graph))
        for out in item.outputs:
            full = files.absolute(out[files.PATH], root)
            problem = confine.problem(full)  # resolved, symlinks included: never PDG_ALLOW_OUTSIDE
            if problem:
                raise OutsideProject(
                    f"pdg dirty --remove-outputs refuses to delete {problem} (recorded for work item "
                    f"{item.name}); nothing was deleted or dirtied"
                )
            doomed.append(full)
    return doomed


#: the states of an item whose files are a result: a failed, cancelled or unfinished one has none
#: (``dirty`` has one when its last cook succeeded: ``_has_result``)
RESULT_STATES = frozenset({"cooked_success", "cooked_cache"})


def _has_result(item: Item) -> bool:
    """Whether ``item``'s files are a result ``accept`` can vouch for: it succeeded, or it was
    dirtied after it did (its signature kept, no error from a failed run since)."""
    return item.state in RESULT_STATES or (item.state == "dirty" and bool(item.signature) and not item.error)


def accept(path: str, target: str, *, message: str = "pdg accept") -> ManualResult:
    """Accept the current files of ``target``'s items and of everything downstream of them. A
    missing output file refuses the whole change: nothing is written. An item with no result (it
    failed, was cancelled, never ran) is left to the next cook (``skipped``); an ITEM target with
    none is refused."""
    with EventLog.open(path, writer=True) as log:
        state = TableState(log)
        result = ManualResult()
        recorder = Recorder(log, State())
        registries: dict[str, TypeRegistry] = {}
        missing: set[str] = set()
        one_item = not find_nodes(state, target, with_items=True)
        with log.one_transaction():
            for chunk in with_dependents(state, resolve(state, target)):
                recorder.state = _holding(chunk)
                if one_item and not (result.items or result.skipped) and chunk and not _has_result(chunk[0]):
                    raise NoResult(
                        f"cannot accept {chunk[0].name}: it has no result to accept (it is {chunk[0].state}); "
                        "pdg cook runs it again"
                    )
                kept: list[Item] = []
                without: list[Item] = []
                for item in chunk:
                    (kept if _has_result(item) else without).append(item)
                result.touched(without, into=result.skipped)
                chunk = kept
                for item in chunk:
                    root = project_root(log, state, item.graph)
                    types = registries.get(root)
                    if types is None:
                        types = registries[root] = TypeRegistry.of_project(root)
                    outputs = []
                    for out in item.outputs:
                        verdict, current = files.check(out, root, types=types)
                        if current is None:
                            full = files.absolute(out[files.PATH], root)
                            if full not in missing:
                                missing.add(full)
                                result.missing_files.append(full)
                        else:
                            outputs.append(current)
                    if not missing:  # once a file is missing nothing is written: the rest is only checked
                        recorder.graph = item.graph
                        recorder.emit(ev.WorkItemAccepted, item_id=item.item_id, outputs=outputs, message=message)
                recorder.flush()
                result.touched(chunk)
            if missing:  # refused: what was appended is rolled back with the transaction
                shown = ", ".join(result.missing_files[:3]) + (" ..." if len(result.missing_files) > 3 else "")
                raise MissingFiles(
                    f"cannot accept {target}: its output files are missing ({shown}); "
                    f"use pdg dirty {target} to make them again"
                )
        return result
