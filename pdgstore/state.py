"""The projected state: what the log says is true now, as plain Python objects.

State is only ever changed by ``pdgstore.projection.apply``. ``to_plain`` gives a msgpack-native
picture of it (used by snapshots and by ``pdg check`` to compare a replay with the live state), and
``from_plain`` rebuilds it, derived indexes included.

Attributes are PDG-typed arrays: ``attrs[name] = [type, [values...]]`` where type is one of int,
float, string, file, dict (a file value is ``[path, tag]``). Files are ``[path, tag, size, mtime_ns,
hash]`` with POSIX paths relative to the graph's project root.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import attrgetter

from pdgstore.events import DONE_STATES, FINISHED_STATES, STATES

#: an item a cook took up and left in one of these did not finish: when that cook died, the next
#: records it cancelled (dirty is not among them: it waits for a cook, none took it up)
UNFINISHED_STATES = frozenset(STATES) - FINISHED_STATES - {"dirty"}

ATTRIB_TYPES = ("int", "float", "string", "file", "dict")

#: An item's signature after ``pdg accept``: the next cook takes the inputs it finds as up to date.
ACCEPTED = "accepted"


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building state.

    Building state allocates many containers that all survive; every collection on the way scans the
    growing heap for nothing, and replay and snapshot loading would spend most of their time there.
    Afterwards they are frozen (``gc.freeze``): otherwise the first collection after the pause walks
    every one of them once more, and each older-generation collection again, in proportion to the
    items. Frozen objects are still freed by reference counting when the state lets go of them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


class _EmptyMap(dict):
    """An empty dict that refuses to change (``EMPTY_MAP``)."""

    __slots__ = ()

    def _refuse(self, *args, **kwargs):
        raise TypeError("EMPTY_MAP is shared by every item that has none: give the item a dict of its own")

    __setitem__ = __delitem__ = __ior__ = update = setdefault = pop = popitem = clear = _refuse


class _EmptyList(list):
    """An empty list that refuses to change (``EMPTY_LIST``)."""

    __slots__ = ()

    def _refuse(self, *args, **kwargs):
        raise TypeError("EMPTY_LIST is shared by every item that has none: give the item a list of its own")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse


#: The one empty ``reason`` (and the attributes of an item made with none) that items share, and
#: the one empty ``outputs`` of items made to run: a cook holds every item it made to run until it
#: runs, and an empty dict or list of each one's own was 120 bytes of the ~1 KB an item costs it
#: (``benchmarks/README.md``, stop 43). Both refuse changes, so code that would change one in place
#: fails at once instead of changing every item: the fold replaces them (``projection``).
EMPTY_MAP: dict = _EmptyMap()
EMPTY_LIST: list = _EmptyList()


def _no_reason() -> dict:
    return EMPTY_MAP


def holds_files(attrs: dict) -> bool:
    """Whether ``attrs`` (an item's) holds an attribute of type file."""
    try:
        for attr in attrs.values():
            if attr[0] == "file":
                return True
    except (TypeError, IndexError, KeyError):  # not ``[type, values]``
        return False
    return False


def own_dict(values: dict) -> dict:
    """``values`` itself, or a new dict in place of the shared ``EMPTY_MAP``: what the fold sets
    an attribute in."""
    return {} if type(values) is _EmptyMap else values


@dataclass(slots=True)
class Item:
    """One work item as the log last described it."""

    item_id: str
    graph: str
    node: str
    name: str
    index: int
    parents: list
    attrs: dict
    inputs: list
    outputs: list
    state: str
    cook_id: int = 0
    started_ns: int = 0
    duration_ns: int = 0
    error: str = ""
    traceback: str = ""
    #: hash of what the current results were made from ('' none; ACCEPTED: take the next one)
    signature: str = ""
    #: the last decision to rerun it (``WorkItemDirtied.reason``), {} when none
    reason: dict = field(default_factory=_no_reason)

    PLAIN = (
        "item_id graph node name index parents attrs inputs outputs state cook_id "
        "started_ns duration_ns error traceback signature reason"
    ).split()


@dataclass(slots=True)
class CookRecord:
    """One cook: who ran it, when, and how it ended (``status`` is running until it ends)."""

    cook_id: int
    graph: str
    node: str
    jobs: int
    pid: int
    overrides: dict
    started_ns: int
    ended_ns: int = 0
    status: str = "running"
    message: str = ""
    counts: dict = field(default_factory=dict)
    warnings: int = 0
    #: what started it when no one typed ``pdg cook`` (``CookTriggered``): {by, files, ...}; {} when typed
    trigger: dict = field(default_factory=dict)
    #: a static cook's plan (``CookStaticPlanned``): {items, dependencies, ready, dynamic_nodes}; {} when dynamic
    static: dict = field(default_factory=dict)
    #: a cook of one node that left the whole graph consistent (``CookFinished.consistent``)
    consistent: bool = False
    #: the nodes of whose items it wrote an event (``CookFinished.nodes``); None: not counted
    nodes: list | None = None

    PLAIN = (
        "cook_id graph node jobs pid overrides started_ns ended_ns status message counts warnings trigger static"
        " consistent nodes"
    ).split()


@dataclass(slots=True)
class GraphInfo:
    """The last definition of a graph that a cook loaded."""

    name: str
    path: str
    root: str
    nodes: list
    parms: dict
    loaded_seq: int
    working_dirs: list = field(default_factory=list)  # absent from stores written before it

    PLAIN = "name path root nodes parms loaded_seq working_dirs".split()


_GETTERS: dict[tuple, attrgetter] = {}


def _plain(obj, names, named):
    if named:
        return {n: getattr(obj, n) for n in names}
    getter = _GETTERS.get(tuple(names))
    if getter is None:
        getter = _GETTERS[tuple(names)] = attrgetter(*names)
    return getter(obj)  # a tuple: msgpack writes it as an array


class State:
    """Graphs, work items and cooks, as of log position ``seq``."""

    __slots__ = ("seq", "graphs", "items", "cooks", "node_items", "transfers", "watches", "schedules", "jobs")

    def __init__(self) -> None:
        self.seq = 0
        self.graphs: dict[str, GraphInfo] = {}
        self.items: dict[str, Item] = {}
        self.cooks: dict[int, CookRecord] = {}
        #: derived index (graph, node) -> {item_id: None}, in generation order
        self.node_items: dict[tuple[str, str], dict[str, None]] = {}
        #: scheduler -> {path: cache id} reported by transfer handlers
        self.transfers: dict[str, dict[str, int]] = {}
        #: watch session id (its WatchStarted seq) -> plain dict (see ``projection``)
        self.watches: dict[int, dict] = {}
        #: schedule id -> plain dict of the schedules not removed (see ``projection``)
        self.schedules: dict[str, dict] = {}
        #: item id -> its last job: [scheduler, attempt, pid, log_uri, exit_code or None while it runs]
        self.jobs: dict[str, list] = {}

    # -- reading ---------------------------------------------------------------------------------
    def running_cook(self) -> CookRecord | None:
        """The cook that started and has not ended, if any (at most one: one writer at a time)."""
        for cook in reversed(self.cooks.values()):
            return cook if cook.status == "running" else None
        return None

    def unfinished_ids(self, cook_id: int) -> list[str]:
        """The items cook ``cook_id`` left unfinished (``UNFINISHED_STATES``): what the next cook
        records cancelled when that one died."""
        return [i.item_id for i in dict.values(self.items) if i.cook_id == cook_id and i.state in UNFINISHED_STATES]

    def items_of(self, graph: str, node: str, state: str | None = None, *, summary: bool = False) -> list[Item]:
        ids = self.node_items.get((graph, node), {})
        found = [self.items[i] for i in ids]
        return found if state is None else [i for i in found if i.state == state]

    def iter_items_of(
        self, graph: str, node: str, state: str | None = None, *, summary: bool = False
    ) -> Iterator[Item]:
        return iter(self.items_of(graph, node, state, summary=summary))

    # The read side shared with ``pdgstore.readmodel.TableState`` (which answers from the tables):
    # read commands ask these, so they work on a replayed state (``--at``) and on the tables alike.
    def item(self, item_id: str, *, summary: bool = False) -> Item | None:
        return self.items.get(item_id)

    def item_sizes(self, item_id: str) -> tuple[int, int]:
        item = self.items.get(item_id)
        return (len(item.parents), len(item.inputs)) if item else (0, 0)

    def items_many(self, ids) -> dict[str, Item]:
        return {i: self.items[i] for i in ids if i in self.items}

    def labels(self, ids: Iterable[str]) -> Iterator[tuple[str, str, str]]:
        for item_id in ids:
            item = self.items.get(item_id)
            if item is not None:
                yield item_id, item.node, item.name

    def members(self, graph: str, nodes: list[str], ids: list[str]) -> list:
        """The items of ``ids`` (of ``nodes``), in that order, as a partition's merge reads them:
        each has ``item_id``, ``attrs`` and ``outputs`` (``pdgstore.cookstate`` reads the ones it
        has not read without making whole items)."""
        items = self.items
        return [items[i] for i in ids]

    def items_named(self, name: str, limit: int = 2, *, summary: bool = False) -> list[Item]:
        return [i for i in self.items.values() if i.name == name][:limit]

    def items_with_prefix(self, prefix: str, limit: int = 2, *, summary: bool = False) -> list[Item]:
        return [i for i in self.items.values() if i.item_id.startswith(prefix)][:limit]

    def node_keys(self) -> list[tuple[str, str]]:
        return list(self.node_items)

    def item_count(self, graph: str, node: str) -> int:
        """How many items the node holds now."""
        return len(self.node_items.get((graph, node), ()))

    def ids_in_node(self, graph: str, node: str, ids: Iterable[str]) -> list[str]:
        """Those of ``ids`` that are items of the node now, in the node's order."""
        wanted = set(ids)
        return [i for i in self.node_items.get((graph, node), {}) if i in wanted]

    def node_counts(self, graph: str, node: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.items_of(graph, node):
            counts[item.state] = counts.get(item.state, 0) + 1
        return counts

    def outputs_of(self, graph: str, node: str) -> Iterator[list]:
        """The outputs of each item of the node, in generation order, as the caller goes."""
        items = self.items
        return (items[i].outputs for i in self.node_items.get((graph, node), ()))

    def attrs_with_files(self, graph: str, node: str) -> Iterator[dict]:
        """The attributes of each item of the node that holds a file attribute, whose values carry
        their files' records (the engine's ``attrfiles``): what the no-op manifest lists of them."""
        items = self.items
        for i in self.node_items.get((graph, node), ()):
            attrs = items[i].attrs
            if holds_files(attrs):
                yield attrs

    def finished_outputs(self, graph: str, node: str) -> dict[str, list]:
        """item id -> outputs, of the node's items in a finished state (``DONE_STATES``)."""
        return {i.item_id: i.outputs for i in self.items_of(graph, node) if i.state in DONE_STATES}

    def item_ids_of(self, graph: str, node: str) -> list[str]:
        return list(self.node_items.get((graph, node), {}))

    def job(self, item_id: str) -> list | None:
        return self.jobs.get(item_id)

    def children(self, item_id: str) -> list[str]:
        return [i.item_id for i in self.items.values() if item_id in i.parents]

    def last_cook_id(self) -> int:
        return next(reversed(self.cooks), 0)

    # -- plain form --------------------------------------------------------------------------------
    def to_plain(self, named: bool = False, items: bool = True) -> dict:
        """The state as msgpack-native data: compact lists, or dicts keyed by field name when
        ``named`` (for messages that must say which field differs). ``items=False`` leaves the
        work items out (``pack`` streams them)."""
        plain = {
            "seq": self.seq,
            "graphs": {k: _plain(g, GraphInfo.PLAIN, named) for k, g in self.graphs.items()},
            "cooks": [_plain(c, CookRecord.PLAIN, named) for c in self.cooks.values()],
            "transfers": self.transfers,
            "watches": self.watches,
            "schedules": self.schedules,
            "jobs": self.jobs if type(self.jobs) is dict else dict(self.jobs.items()),  # (a cook's: ``LazyJobs``)
        }
        if items:
            plain["items"] = {k: _plain(i, Item.PLAIN, named) for k, i in self.items.items()}
        return plain

    def pack(self, packer) -> None:
        """Pack ``to_plain()`` into a msgpack ``Packer`` (``autoreset=False``), one work item at a
        time: a snapshot never holds a plain copy of every item besides the state and its bytes."""
        plain = self.to_plain(items=False)
        packer.pack_map_header(len(plain) + 1)
        for key, value in plain.items():
            packer.pack(key)
            packer.pack(value)
        packer.pack("items")
        packer.pack_map_header(len(self.items))
        getter = _GETTERS.get(tuple(Item.PLAIN)) or _GETTERS.setdefault(tuple(Item.PLAIN), attrgetter(*Item.PLAIN))
        pack = packer.pack
        for item_id, item in self.items.items():
            pack(item_id)
            pack(getter(item))

    @classmethod
    def from_plain(cls, plain: dict) -> State:
        state = cls()
        state.seq = plain["seq"]
        state.graphs = {k: GraphInfo(*v) for k, v in plain["graphs"].items()}
        for item_id, values in plain["items"].items():
            item = Item(*values)
            state.items[item_id] = item
            state.node_items.setdefault((item.graph, item.node), {})[item_id] = None
        for values in plain["cooks"]:
            cook = CookRecord(*values)
            state.cooks[cook.cook_id] = cook
        state.transfers = plain.get("transfers", {})
        state.watches = plain.get("watches", {})
        state.schedules = plain.get("schedules", {})
        state.jobs = plain.get("jobs", {})
        return state


_PLAIN_TYPE: dict[type, type] = {_EmptyMap: dict, _EmptyList: list}


def first_difference(a, b, path: str = "state") -> str | None:
    """Where two plain states first differ, as ``path: a != b``; None when they are equal (the
    shared ``EMPTY_MAP`` and ``EMPTY_LIST`` are a dict and a list, as their msgpack is)."""
    if _PLAIN_TYPE.get(type(a), type(a)) is not _PLAIN_TYPE.get(type(b), type(b)):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        for key in a:
            if key not in b:
                return f"{path}[{key!r}] is missing from the second"
            diff = first_difference(a[key], b[key], f"{path}[{key!r}]")
            if diff:
                return diff
        for key in b:
            if key not in a:
                return f"{path}[{key!r}] is missing from the first"
        return None
    if isinstance(a, (list, tuple)):
        for i, (x, y) in enumerate(zip(a, b)):
            diff = first_difference(x, y, f"{path}[{i}]")
            if diff:
                return diff
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        return None
    if a != a and b != b:  # NaN: the same value in both (NaN != NaN would fail pdg check for ever)
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"
