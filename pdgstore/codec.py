"""Event <-> row codec: the envelope goes to columns, the rest to a versioned msgpack map.

A row is ``(seq, time_ns, cook_id, graph, kind, subject, payload)``. The payload is a msgpack map of
the event's own fields plus ``"v"``, the payload's format version. Decoding reads old versions through
a chain of pure upcasters, ``UPCASTERS[(kind, v)]: dict -> dict`` turning version v into v + 1, so a
log written by any earlier release still replays. Golden bytes of every version live in tests/data/.

Decoding builds events without running ``__init__`` (a frozen dataclass's ``__init__`` pays for
``object.__setattr__`` per field): the payload dict becomes the event's ``__dict__``; replay is the
hot path.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

import msgpack

from pdgstore.errors import StoreRefused
from pdgstore.events import REGISTRY, Event

#: (kind, v) -> function turning a v payload into a v + 1 payload
UPCASTERS: dict[tuple[str, int], Callable[[dict], dict]] = {}


def _upcaster(kind: str, v: int):
    def wrap(fn):
        UPCASTERS[(kind, v)] = fn
        return fn

    return wrap


@_upcaster("WorkItemGenerated", 1)
def _generated_v1(payload: dict) -> dict:
    """v2 added ``signature``: items generated before incremental recooks have none."""
    payload["signature"] = ""
    return payload


@_upcaster("GraphLoaded", 1)
def _graph_loaded_v1(payload: dict) -> dict:
    """v2 added ``working_dirs``: graphs loaded before it declared none the log knew of."""
    payload["working_dirs"] = []
    return payload


@_upcaster("CookFinished", 1)
def _cook_finished_v1(payload: dict) -> dict:
    """v2 added ``consistent``: a cook of one node before it never vouched for the rest of the graph."""
    payload["consistent"] = False
    return payload


@_upcaster("CookFinished", 2)
def _cook_finished_v2(payload: dict) -> dict:
    """v3 added ``nodes``: a cook before it did not say which nodes' items it touched."""
    payload["nodes"] = None
    return payload


@_upcaster("WorkItemCooked", 1)
def _cooked_v1(payload: dict) -> dict:
    """v2 added ``signature`` and ``reason``: a v1 result matches no signature, so it reruns once."""
    payload["signature"] = ""
    payload["reason"] = {}
    return payload


@_upcaster("WorkItemRestatted", 1)
def _restatted_v1(payload: dict) -> dict:
    """v2 added ``attrs``: a restat before it refreshed output files only."""
    payload["attrs"] = {}
    return payload


@_upcaster("WorkItemGenerated", 2)
@_upcaster("WorkItemCooked", 2)
def _patched_v2(payload: dict) -> dict:
    """v3 added ``patched`` (``pdgstore.patches``): every list of an earlier event is written whole."""
    payload["patched"] = {}
    return payload


_packb = msgpack.Packer(use_bin_type=True).pack
_setattr = object.__setattr__
_new = object.__new__


unpack = msgpack.unpackb


def _unpackb(blob: bytes) -> dict:
    return unpack(blob, raw=False)


def encode_payload(event: Event) -> bytes:
    return _encode(type(event), vars(event))


def _encode(cls: type[Event], values: dict) -> bytes:
    """The payload of an event of ``cls`` whose fields are ``values``: its payload fields and "v"."""
    payload = {"v": cls.version}
    for name in cls.payload_fields:
        payload[name] = values[name]
    return _packb(payload)


def _row(cls: type[Event], values: dict) -> tuple:
    return (
        values["seq"],
        values["time_ns"],
        values["cook_id"],
        values["graph"],
        cls.kind,
        values[cls.subject_field],
        _encode(cls, values),
    )


def to_row(event: Event) -> tuple:
    return _row(type(event), vars(event))


def row_of(cls: type[Event], values: dict) -> tuple:
    """The row of an event of ``cls`` whose fields (envelope included) are ``values``: the
    recorder writes an event's long lists as a patch (``pdgstore.patches``) while the event it
    keeps holds them whole."""
    return _row(cls, values)


def new_event(cls: type[Event], seq: int, time_ns: int, cook_id: int, graph: str, fields: dict) -> tuple[Event, tuple]:
    """``cls(seq=seq, time_ns=time_ns, cook_id=cook_id, graph=graph, **fields)`` and its ``to_row``,
    made from one dict (``fields`` may set ``cook_id`` and ``graph`` itself): the recorder makes
    50,000 events in a cold W(10,000) cook, and keyword arguments and attribute reads cost a third
    more.

    When ``fields`` holds payload fields only (the recorder's case), the payload is laid over the
    kind's template in one merge, packed as it is, and then becomes the event's ``__dict__`` (its
    "v" out, the envelope in): no step per field, and the same bytes as ``_encode``'s."""
    payload = {**cls._payload_template, **fields}
    if len(payload) == cls._width + 1 and "v" not in fields:
        for name, factory in cls._factories:
            if name not in fields:
                payload[name] = factory()
        blob = _packb(payload)
        del payload["v"]
        event = _dressed(cls, payload, seq, time_ns, cook_id, graph)
        return event, (seq, time_ns, cook_id, graph, cls.kind, payload[cls.subject_field], blob)
    return _new_event_slowly(cls, seq, time_ns, cook_id, graph, fields)


def _new_event_slowly(
    cls: type[Event], seq: int, time_ns: int, cook_id: int, graph: str, fields: dict
) -> tuple[Event, tuple]:
    """``new_event`` of ``fields`` that set envelope fields too, or a field the kind has not (refused)."""
    values = {**cls._defaults, "cook_id": cook_id, "graph": graph, **fields, "seq": seq, "time_ns": time_ns}
    if len(values) != len(cls.field_names) or not values.keys() <= cls._field_set:
        values = cls.filled(values)  # lists and dicts to make (or a field the kind has not: refused)
    event = _new(cls)
    _setattr(event, "__dict__", values)
    return event, _row(cls, values)


def new_events(cls: type[Event], seq: int, time_ns: int, cook_id: int, graph: str, many: list[dict]):
    """``new_event`` for each of ``many`` (``seq``, ``seq + 1``, ...), as (event, row) pairs: when
    every dict holds exactly the kind's payload fields in their order (a node's static items,
    ``engine.cook.bulk``), the payload is that dict with its version, made without a step per
    field; any other dict goes through ``new_event``."""
    fields_order = list(cls.payload_fields)
    version = cls.version
    kind, subject = cls.kind, cls.subject_field
    out = []
    for fields in many:
        if list(fields) != fields_order:
            out.append(new_event(cls, seq, time_ns, cook_id, graph, fields))
            seq += 1
            continue
        values = {"cook_id": cook_id, "graph": graph, **fields, "seq": seq, "time_ns": time_ns}
        event = _new(cls)
        _setattr(event, "__dict__", values)
        out.append((event, (seq, time_ns, cook_id, graph, kind, values[subject], _packb({"v": version, **fields}))))
        seq += 1
    return out


def payload_field(blob: bytes, name: str, default: Any = None) -> Any:
    """One top-level field of a stored payload, the others skipped unread (a generated item's
    ``state`` without its attributes, inputs and parents); ``default`` when it has none. Only for
    a field no upcaster changes (the same at every version)."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=len(blob) + 1)
    unpacker.feed(blob)
    for _ in range(unpacker.read_map_header()):
        if unpacker.unpack() == name:
            return unpacker.unpack()
        unpacker.skip()
    return default


def decode_payload(kind: str, blob, *, lazy: bool = False) -> tuple[type[Event], dict]:
    """The event class of ``kind`` and its payload fields, upcast to the current version.
    ``lazy``: a long payload of ``LAZY_KINDS`` (or one left in the store, ``StoredPayload``) of
    the current version keeps its list fields packed, for a caller that reads only its other
    fields (a partition's cook event holds a million files at W(1,000,000): 55 MB to decode)."""
    cls = REGISTRY.get(kind)
    if cls is None:
        raise StoreRefused(f"the log holds an event of unknown kind {kind!r}: it was written by a newer pdgstore")
    if lazy and kind in LAZY_KINDS and (type(blob) is StoredPayload or len(blob) >= LAZY_FROM):
        payload = _unpack_lazy(blob)
        if payload.pop("v", 1) == cls.version:
            return cls, payload
        blob = blob.read() if type(blob) is StoredPayload else blob  # an older version: upcast from the whole
    payload = _unpackb(blob)
    v = payload.pop("v", 1)
    if v != cls.version:
        if v > cls.version:
            raise StoreRefused(
                f"the log holds a {kind} event of version {v}, newer than this pdgstore reads ({cls.version})"
            )
        while v < cls.version:
            payload = UPCASTERS[(kind, v)](payload)
            v += 1
    return cls, payload


def build(kind: str, seq: int, time_ns: int, cook_id: int, graph: str, blob: bytes) -> Event:
    """The event a row's columns and payload describe.

    The decoded payload dict, with the envelope added, becomes the event's ``__dict__`` in one call
    (events have no slots for this reason): no per-field ``setattr``. The common case (a current
    payload with every field) takes no other step; older versions go through the upcasters and
    fields missing from a payload get their defaults.
    """
    cls = REGISTRY.get(kind)
    payload = unpack(blob, raw=False) if cls is not None else None
    if cls is None or payload is None or payload.pop("v", 1) != cls.version or len(payload) != cls._width:
        cls, payload = decode_payload(kind, blob)
        _fill_defaults(cls, payload)
    return _dressed(cls, payload, seq, time_ns, cook_id, graph)


def _dressed(cls: type[Event], payload: dict, seq: int, time_ns: int, cook_id: int, graph: str) -> Event:
    """The event of kind ``cls`` whose ``__dict__`` is ``payload`` (every payload field, no "v")
    with the envelope added: one dict becomes the event, no per-field ``setattr``."""
    payload["seq"] = seq
    payload["time_ns"] = time_ns
    payload["cook_id"] = cook_id
    payload["graph"] = graph
    event = _new(cls)
    _setattr(event, "__dict__", payload)
    return event


def _fill_defaults(cls: type[Event], payload: dict) -> None:
    factories = dict(cls._factories)
    for name in cls.payload_fields:
        if name not in payload:
            payload[name] = factories[name]() if name in factories else cls._defaults[name]


def from_row(row: tuple) -> Event:
    seq, time_ns, cook_id, graph, kind, _subject, blob = row
    return build(kind, seq, time_ns, cook_id, graph, blob)


class LazyList:
    """A read-only list made only when something reads it (``decode``, iterating, indexing):
    ``len`` is known without it. Subclasses say how it is made (``_make``)."""

    __slots__ = ("count", "_values")

    def __init__(self, count: int) -> None:
        self.count = count
        self._values: list | None = None

    def _make(self) -> list:
        raise NotImplementedError

    def decode(self) -> list:
        if self._values is None:
            self._values = self._make()
        return self._values

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        return iter(self.decode())

    def __getitem__(self, index):
        return self.decode()[index]

    def __eq__(self, other) -> bool:
        return self.decode() == (other.decode() if isinstance(other, LazyList) else other)

    __hash__ = None  # type: ignore[assignment]  # a list's: unhashable


class PackedList(LazyList):
    """A list field of an event's payload left as its msgpack bytes (``from_rows(lazy=True)``).

    Why: the events of a partition or a gather carry a list with an entry per member (55 MB at
    W(1,000,000)); a reader that wants the item's state or messages at some point (``pdg show``'s
    history, ``--at``'s fold of the items touched since) need not decode them."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes | memoryview, count: int) -> None:
        super().__init__(count)
        self.raw = raw

    def _make(self) -> list:
        return unpack(self.raw, raw=False)


#: the payload fields that may hold an entry per member of a partition or gather (an item's lists,
#: in the order ``tables.lists_of`` gives them), and the kinds whose payloads hold them
LIST_FIELDS = ("parents", "inputs", "outputs")
LAZY_KINDS = frozenset({"WorkItemGenerated", "WorkItemCooked", "WorkItemRestatted"})
#: payloads at least this long are read with their list fields left packed, when asked
LAZY_FROM = 4096
#: how much of such a payload its unpacker holds at a time (a field it decodes may need more)
LAZY_READ = 1 << 16
#: the columns of an ``events`` row's payload for a reader that leaves a long one in the store: the
#: payload, NULL where it is a long one of ``LAZY_KINDS`` (read through ``StoredPayload`` instead),
#: and its length
PAYLOAD_OR_STORED = (
    "CASE WHEN kind IN ({}) AND length(payload) >= {} THEN NULL ELSE payload END, length(payload)".format(
        ", ".join(f"'{k}'" for k in sorted(LAZY_KINDS)), LAZY_FROM
    )
)


class StoredPayload:
    """A long payload still in the store: row ``seq`` of ``events``, ``size`` bytes, read a piece at
    a time through SQLite's blob I/O (``LogReader.events(lazy=True)`` of one subject). Reading the
    row's column instead puts the whole payload in memory twice (SQLite's copy and Python's): 110 MB
    for one event of a gather of a million files, to show a line of its history."""

    __slots__ = ("conn", "seq", "size")

    def __init__(self, conn, seq: int, size: int) -> None:
        self.conn, self.seq, self.size = conn, seq, size

    def __len__(self) -> int:
        return self.size

    def open(self):
        return self.conn.blobopen("events", "payload", self.seq, readonly=True)

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        with self.open() as blob:
            blob.seek(start)
            return blob.read(-1 if end is None else end - start)


class StoredList(LazyList):
    """A list field of a ``StoredPayload``: bytes ``start``-``end`` of it, read when decoded."""

    __slots__ = ("payload", "start", "end")

    def __init__(self, payload: StoredPayload, start: int, end: int, count: int) -> None:
        super().__init__(count)
        self.payload, self.start, self.end = payload, start, end

    def _make(self) -> list:
        return unpack(self.payload.read(self.start, self.end), raw=False)


def _unpack_lazy(blob: bytes | StoredPayload) -> dict:
    """A payload map with its ``LIST_FIELDS`` arrays left as ``PackedList`` (slices of ``blob``) or,
    for a payload still in the store, ``StoredList``. The unpacker reads the payload a chunk at a
    time rather than being fed it: ``feed`` copies what it is given."""
    piece: Callable[[int, int], bytes | memoryview]  # bytes start-end of the payload
    keep: Callable[[int, int, int], LazyList]  # the list at bytes start-end, of count entries, left unread
    if isinstance(blob, StoredPayload):
        stored = blob
        source, piece = stored.open(), stored.read
        keep = lambda start, end, count: StoredList(stored, start, end, count)  # noqa: E731
    else:
        view = memoryview(blob)  # the lists are slices of the row's payload, not copies
        source, piece = io.BytesIO(blob), lambda start, end: view[start:end]
        keep = lambda start, end, count: PackedList(view[start:end], count)  # noqa: E731
    with source:
        limit = len(blob) + 1
        unpacker = msgpack.Unpacker(source, raw=False, max_buffer_size=limit, read_size=min(LAZY_READ, limit))
        payload: dict = {}
        for _ in range(unpacker.read_map_header()):
            key = unpacker.unpack()
            if key not in LIST_FIELDS:
                payload[key] = unpacker.unpack()
                continue
            start = unpacker.tell()
            unpacker.skip()
            end = unpacker.tell()
            count = _array_length(piece(start, min(end, start + 5)))
            payload[key] = keep(start, end, count) if count is not None else unpack(piece(start, end), raw=False)
    return payload


def _array_length(raw: bytes | memoryview) -> int | None:
    """The length a msgpack array's header gives (fixarray, array 16, array 32); None: not an array."""
    first = raw[0]
    if 0x90 <= first <= 0x9F:
        return first & 0x0F
    if first == 0xDC:
        return int.from_bytes(raw[1:3], "big")
    if first == 0xDD:
        return int.from_bytes(raw[1:5], "big")
    return None


def from_rows(rows: Iterable[tuple], *, lazy: bool = False) -> Iterable[Event]:
    """Events from the log's rows ``(seq, time_ns, cook_id, graph, kind, subject, payload)``, the
    common row (a known kind at its current version, every field present) decoded inline as ``build``
    would: streams of events (``EventLog.events``, replays into handlers) run at this loop's speed.
    ``lazy``: the lists of an item's long payload stay packed (``PackedList``), or in the store
    for a payload the row left there (``StoredPayload``)."""
    fast = {kind: (cls, cls.version, cls._width) for kind, cls in REGISTRY.items()}
    new = _new
    set_dict = _setattr
    for seq, time_ns, cook_id, graph, kind, _subject, blob in rows:
        known = fast.get(kind)
        if known is not None:
            cls, version, width = known
            if lazy and len(blob) >= LAZY_FROM and kind in LAZY_KINDS:
                payload = _unpack_lazy(blob)
            else:
                payload = unpack(blob, raw=False)
            if payload.pop("v", 1) == version and len(payload) == width:
                payload["seq"] = seq
                payload["time_ns"] = time_ns
                payload["cook_id"] = cook_id
                payload["graph"] = graph
                event = new(cls)
                set_dict(event, "__dict__", payload)
                yield event
                continue
        if type(blob) is StoredPayload:  # an older version's: upcast from the whole payload
            blob = blob.read()
        yield build(kind, seq, time_ns, cook_id, graph, blob)
