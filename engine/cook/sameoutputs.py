"""Two work items that write one file: found as a cook records their outputs, told as a warning.

Why: an output path that does not tell a node's items apart (``o/@pdg_index.txt`` below a node
whose parents each make items 0, 1, ...) has two items write one file. The one that ran last
overwrote the other's, so every later cook finds the other's recorded file changed and runs it
again: "2 ran" forever, and nothing said why. PDG's pages say nothing of the case; the cook still
does what it was asked, so it is a warning (a ``CookWarning`` about the later item: in the log and
in the cook's summary) naming both items and the file, and ``pdg explain`` of an item run again for
it names the other (``annotate``: the reason's ``written_by``).

What counts as writing: an item of a working node (``does_work``, not a partitioner) recording its
results in this cook (it ran, was cached or updated: ``Settle.made``). A partition lists its
members' files and a born-cooked item (an attribute node's, a file pattern's) lists files others
made or found: neither writes them, and neither is named as the other writer. A path among an
item's inputs is handed on (or edited in place), not written: no clash either. An item recording
the path it recorded before is itself, not another.

Cost: one query a flush, over the paths recorded since the last one: the store's ``files`` index
(``pdgstore.fileindex.others_holding``) finds, per path, the other items of the working nodes
whose rows list it; none come back in a graph without the mistake. The rows of events not written
yet (the log appender may be behind the cook) are not in the table, so the paths recorded since the
last written event are kept here (``_unwritten``) and asked of too. An item found is checked
against the cook's state (live, of a working node, still listing the path) before it is named:
the table may be behind the cook. A cold cook (on a store that held no item) asks no table: every
file recorded is this cook's, so the first item to record each path is kept in memory (``_first``)
and a second one is told at once, for a dict's lookup an output.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from itertools import chain, islice

from pdgstore.engine.cook.recorder import Recorder
from pdgstore.engine.graph.api import Graph

from pdgstore.events import PATH
from pdgstore.fileindex import OTHERS_NAMED
from pdgstore.state import Item, State

#: pairs named in one cook; more are counted in one last warning (each one is the same mistake)
MAX_TOLD = 20


class SameOutputs:
    def __init__(
        self, graph: Graph, state: State, recorder: Recorder, warn: Callable[[str, str], None], *, cold: bool = False
    ) -> None:
        self.graph, self.state, self.recorder = graph, state, recorder
        #: a cold cook's: path -> the first item that recorded it (the table holds nothing older)
        self._first: dict[str, str] | None = {} if cold else None
        self._warn = warn  # (message, about: the item id)
        nodes = graph.nodes.values()
        self.writers = sorted(n.name for n in nodes if getattr(n, "does_work", False) and not n.is_partitioner)
        self._writer_set = frozenset(self.writers)
        self._fresh: list[tuple[str, str]] = []  # (path, item id) recorded since the last check
        self._window: deque[tuple[int, str, str]] = deque()  # (seq, path, item id) maybe not written yet
        #: path -> the id ``_window`` holds it for, or the ids in order when it holds several
        self._unwritten: dict[str, str | deque[str]] = {}
        self._told: set[tuple[str, str, str]] = set()  # (path, id, id) of each pair found
        self.found = 0

    def wrote(self, item_id: str) -> None:
        """``item_id`` recorded its results in this cook (its last event is the recorder's last)."""
        if self.recorder.log is None:  # a dry run: nothing is written, nor told
            return
        items = self.state.items
        item = dict.get(items, item_id) or items.get(item_id)
        if item is None or not item.outputs or item.node not in self._writer_set:
            return
        outputs = item.outputs
        first = self._first
        if first is not None:
            for path in (outputs[0][PATH],) if len(outputs) == 1 else dict.fromkeys(o[PATH] for o in outputs):
                if first.setdefault(path, item_id) != item_id and (other := self._other(path, item_id, [])):
                    self._tell(path, item_id, other)
            return
        seq = self.recorder.emitted_seq
        unwritten = self._unwritten
        for path in (outputs[0][PATH],) if len(outputs) == 1 else dict.fromkeys(o[PATH] for o in outputs):
            self._fresh.append((path, item_id))
            self._window.append((seq, path, item_id))
            held = unwritten.get(path)
            if held is None:
                unwritten[path] = item_id
            elif isinstance(held, str):
                unwritten[path] = deque((held, item_id))
            else:
                held.append(item_id)

    def check(self) -> None:
        """Tell each pair the paths recorded since the last check make (called before each flush)."""
        fresh, self._fresh = self._fresh, []
        self._forget_written(self.recorder.written_seq)
        if not fresh:
            return
        found: dict[tuple[str, str], list[str]] = {}
        for path, item_id, other_id in self._in_table(fresh):
            found.setdefault((path, item_id), []).append(other_id)
        unwritten = self._unwritten
        for path, item_id in fresh:
            in_table = found.get((path, item_id))
            if in_table is None and type(unwritten.get(path)) is not deque:
                continue  # (the window holds this item's own entry, and no other)
            other = self._other(path, item_id, in_table or [])
            if other is not None:
                self._tell(path, item_id, other)

    def finish(self) -> None:
        """The last check, before the cook's end is recorded, and the count of pairs not named."""
        self.check()
        if self.found > MAX_TOLD:
            self._warn(
                f"{self.found - MAX_TOLD} more pairs of work items record the same output file "
                f"(the first {MAX_TOLD} are named above)",
                self.graph.name,
            )

    def annotate(self, item_id: str, reason: dict) -> None:
        """Name in ``reason`` (a decision to run ``item_id`` again) another item that writes the
        file it found changed, when there is one (``written_by``: ``pdg explain`` says so)."""
        if reason.get("cause") != "output_modified" or not reason.get("path"):
            return
        path = reason["path"]
        other = self._other(path, item_id, [row[2] for row in self._in_table([(path, item_id)])])
        if other is not None:
            reason["written_by"] = other.item_id

    def unwritten(self, path: str) -> Iterable[str]:
        """The items that recorded ``path`` in this cook, in order, whose events are not written
        yet (the table does not hold them): a question about the files this cook recorded asks
        here and the table."""
        if self._first is not None:  # (a cold cook's: the first to record it, written or not)
            first = self._first.get(path)
            return (first,) if first is not None else ()
        held = self._unwritten.get(path, ())
        return (held,) if isinstance(held, str) else held

    # -- inside --------------------------------------------------------------------------------------
    def _forget_written(self, written_seq: int) -> None:
        """Drop from the window what the log holds now (the table answers for it)."""
        window, unwritten = self._window, self._unwritten
        while window and window[0][0] <= written_seq:
            _seq, path, _item_id = window.popleft()
            held = unwritten[path]
            if isinstance(held, str):
                del unwritten[path]
            else:
                held.popleft()  # (its first: each path's ids are in the window's order)
                if len(held) == 1:
                    unwritten[path] = held[0]

    def _in_table(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
        ask = getattr(self.state, "others_holding", None)  # a store's state (a plain one has no table)
        return ask(self.graph.name, self.writers, pairs) if ask is not None else []

    def _other(self, path: str, item_id: str, in_table: list[str]) -> Item | None:
        """An item that writes ``path`` besides ``item_id``, as the cook holds it: among the first
        few ids the window holds for it (those written are in the table), then ``in_table``."""
        items = self.state.items
        item = items.get(item_id)
        if item is None or _lists(item.inputs, path):
            return None
        window = islice((o for o in self.unwritten(path) if o != item_id), OTHERS_NAMED)
        for other_id in dict.fromkeys(chain(window, in_table)):
            other = items.get(other_id)
            if (
                other is not None
                and other.graph == self.graph.name
                and other.node in self._writer_set
                and _lists(other.outputs, path)
                and not _lists(other.inputs, path)
            ):
                return other
        return None

    def _tell(self, path: str, item_id: str, other: Item) -> None:
        first, second = sorted((item_id, other.item_id))
        key = (path, first, second)
        if key in self._told:
            return
        self._told.add(key)
        self.found += 1
        if self.found <= MAX_TOLD:
            name = self.state.items[item_id].name
            self._warn(
                f"work items {name} and {other.name} both record {path} as an output: each run of one "
                "overwrites the other's file, so a later cook finds the other's output changed and runs "
                "it again (give each item a path of its own, named after what tells the items apart: their "
                "input, @pdg_input, or attributes such as @wedgeindex and @frame; @pdg_name is a position that "
                "may shift when inputs come and go)",
                item_id,
            )


def _lists(records: list, path: str) -> bool:
    return any(r[PATH] == path for r in records)
