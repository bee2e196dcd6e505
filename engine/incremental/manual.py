"""Changing an item's cache state by hand: ``pdg dirty`` and ``pdg accept``.

Both act between cooks, under the store's writer lock (so never during a cook), and record what
they did as events, so the next cook (and ``pdg explain``) knows why:

- **dirty** records ``WorkItemDirtied`` with the reason ``{"cause": "user", "cache_state":
  "dirty_always"}`` for each named item. The next cook reruns them; their dependents rerun only if
  what they make changes (early cutoff), as after any other change. ``remove_outputs`` also deletes
  the files the items wrote (never the files a file pattern found: those are the user's inputs).
- **accept** records ``WorkItemAccepted`` with each item's output files as they are now (re-stat
  and re-hashed), for the named items and everything downstream of them: "these files are up to
  date". The next cook takes the inputs it finds as the ones these results were made from, so a
  change the user knows is harmless reruns nothing.

A target is a node name (all its items, in every graph that has such a node) or an item reference
(id, id prefix or name, as ``pdg show`` takes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pdgstore.engine.cook.recorder import Recorder
from pdgstore.engine.errors import MissingFiles, OutsideProject
from pdgstore.engine.files import records as files
from pdgstore.engine.files.confine import Confine
from pdgstore.engine.files.filetypes import TypeRegistry

from pdgstore import events as ev
from pdgstore import reasons
from pdgstore.errors import UnknownItem
from pdgstore.log import EventLog
from pdgstore.queries import JSON_SCHEMA, find_item, project_root, working_dirs
from pdgstore.readmodel import TableState
from pdgstore.state import Item, State

DONE_STATES = ("cooked_success", "cooked_cache")


@dataclass
class ManualResult:
    """What a ``dirty`` or ``accept`` did: the items it touched and the files it removed or found missing."""

    items: list[Item] = field(default_factory=list)
    removed_files: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)

    def to_json(self, action: str) -> dict:
        return {
            "schema": JSON_SCHEMA,
            "action": action,
            "count": len(self.items),
            "items": [{"item_id": i.item_id, "name": i.name, "node": i.node, "graph": i.graph} for i in self.items],
            "removed_files": self.removed_files,
            "missing_files": self.missing_files,
        }


def resolve(state, target: str) -> list[Item]:
    """The items a NODE|ITEM argument names: a node's items (in log order) or the one item.
    ``state``: a ``State`` or the store's tables (``pdgstore.readmodel.TableState``)."""
    by_node = [i for g, n in state.node_keys() if n == target for i in state.items_of(g, n)]
    if by_node:
        return by_node
    try:
        return [find_item(state, target)]
    except UnknownItem:
        nodes = sorted({n for (_, n) in state.node_keys()})
        raise UnknownItem(f"no node or work item {target} in the store (nodes: {', '.join(nodes) or 'none'})") from None


def dependents(state, roots: list[Item]) -> list[Item]:
    """``roots`` and every item downstream of them, each once, roots first (the children of an
    item come from the store's links, so this reads what is downstream, not every item)."""
    seen = {i.item_id for i in roots}
    order = list(roots)
    frontier = [i.item_id for i in roots]
    while frontier:
        nxt = []
        for item_id in frontier:
            for child in state.children(item_id):
                if child not in seen:
                    seen.add(child)
                    nxt.append(child)
        found = state.items_many(nxt)
        order += [found[i] for i in nxt if i in found]
        frontier = nxt
    return order


def _holding(items: list[Item]) -> State:
    """A ``State`` holding only ``items``: what the recorder applies ``dirty``'s and ``accept``'s
    events to (each changes only its own item), instead of the whole store loaded."""
    state = State()
    for item in items:
        state.items[item.item_id] = item
        state.node_items.setdefault((item.graph, item.node), {})[item.item_id] = None
    return state


def dirty(path: str, target: str, *, remove_outputs: bool = False, message: str = "pdg dirty") -> ManualResult:
    """Dirty the items ``target`` names in the store at ``path`` (see the module docstring)."""
    with EventLog.open(path, writer=True) as log:
        state = TableState(log)
        result = ManualResult(items=resolve(state, target))
        recorder = Recorder(log, _holding(result.items))
        for item in result.items:
            recorder.graph = item.graph
            recorder.cook_id = 0
            recorder.emit(ev.WorkItemDirtied, item_id=item.item_id, reason=reasons.user(message))
        if remove_outputs:
            doomed = []
            for item in result.items:
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
            for full in doomed:
                try:
                    os.remove(full)
                    result.removed_files.append(full)
                except FileNotFoundError:
                    result.missing_files.append(full)
        recorder.flush()
        return result


def accept(path: str, target: str, *, message: str = "pdg accept") -> ManualResult:
    """Accept the current files of ``target``'s items and of everything downstream of them."""
    with EventLog.open(path, writer=True) as log:
        state = TableState(log)
        items = dependents(state, resolve(state, target))
        result = ManualResult(items=items)
        recorder = Recorder(log, _holding(items))
        registries: dict[str, TypeRegistry] = {}
        pending = []
        for item in items:
            root = project_root(log, state, item.graph)
            types = registries.get(root)
            if types is None:
                types = registries[root] = TypeRegistry.of_project(root)
            outputs = []
            for out in item.outputs:
                verdict, current = files.check(out, root, types=types)
                if current is None:
                    full = files.absolute(out[files.PATH], root)
                    if full not in result.missing_files:
                        result.missing_files.append(full)
                else:
                    outputs.append(current)
            pending.append((item, outputs))
        if result.missing_files:
            shown = ", ".join(result.missing_files[:3]) + (" ..." if len(result.missing_files) > 3 else "")
            raise MissingFiles(
                f"cannot accept {target}: its output files are missing ({shown}); "
                f"use pdg dirty {target} to make them again"
            )
        for item, outputs in pending:
            recorder.graph = item.graph
            recorder.emit(ev.WorkItemAccepted, item_id=item.item_id, outputs=outputs, message=message)
        recorder.flush()
        return result
