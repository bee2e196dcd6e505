"""What the data layer says to a visualizer: a snapshot of an object, or a delta of one property.

PDG's data layer (seed 001) sends four kinds of message: a snapshot holding every property of an
object, and three deltas of one property (values appended, removed, or all of them replaced).
Properties are always collections; over the wire they are lists. Every message carries the log
``seq`` it reflects, so a client that reconnects can say where it stopped (``docs/datalayer.md``).

On the wire a message is a plain map (JSON for WebSocket clients, msgpack for TCP clients)::

    {"t": 0, "seq": 123, "props": {"name": ["upper"], ...}}              snapshot
    {"t": 1|2|3, "seq": 123, "prop": "work_items", "values": [...]}      append / remove / set
"""

from __future__ import annotations

import enum
import json
from collections import Counter
from collections.abc import Sequence
from typing import cast

from pdgstore.engine.datalayer.packedids import IdList, as_id_list, is_packed, unpack


class MessageType(enum.IntEnum):
    """PDG's message types (``pdgd.Message.MessageType``), with their wire numbers."""

    eMessageTypeObjectSnapshot = 0
    eMessageTypeAppendValues = 1
    eMessageTypeRemoveValues = 2
    eMessageTypeSetValues = 3


SNAPSHOT = MessageType.eMessageTypeObjectSnapshot
APPEND = MessageType.eMessageTypeAppendValues
REMOVE = MessageType.eMessageTypeRemoveValues
SET = MessageType.eMessageTypeSetValues
#: the enum by a name that ``Message.MessageType`` (PDG's spelling, inside the class) does not shadow
_Type = MessageType


class ObjectSnapshot:
    """The full state of one object: property name -> list of values (``getObjectSnapshot()``)."""

    __slots__ = ("properties",)

    def __init__(self, properties: dict[str, list]) -> None:
        self.properties = properties

    def propertyNames(self) -> list[str]:
        return list(self.properties)

    def getProperty(self, name: str) -> list:
        return self.properties.get(name, [])

    def toPython(self) -> dict[str, list]:
        return {name: list(values) for name, values in self.properties.items()}

    property_names = propertyNames
    get_property = getProperty
    to_python = toPython


class Message:
    """One message to a visualizer. ``pdgd.Message``: ``getType()``, ``getObjectSnapshot()``,
    ``getPropertyName()``, ``getPropertyArray()``, ``toPython()``, ``toJson()``; ``seq`` is the
    log position the message reflects (0 for objects that are not in the store)."""

    MessageType = MessageType
    __slots__ = ("type", "seq", "prop", "values", "snapshot")

    def __init__(
        self,
        type: _Type | int,
        seq: int = 0,
        prop: str = "",
        values: list | None = None,
        snapshot: dict[str, list] | None = None,
    ) -> None:
        self.type = type if type.__class__ is MessageType else MessageType(type)
        self.seq = seq
        self.prop = prop
        self.values = values if values is not None else []
        self.snapshot = snapshot

    # -- PDG's names -------------------------------------------------------------------------------
    def getType(self) -> _Type:
        return self.type

    def getSeq(self) -> int:
        return self.seq

    def getObjectSnapshot(self) -> ObjectSnapshot | None:
        return ObjectSnapshot(self.snapshot) if self.snapshot is not None else None

    def getPropertyName(self) -> str:
        return self.prop

    def getPropertyArray(self) -> list:
        return _copy(self.values)

    def toPython(self) -> dict:
        """The message as Python data: its type's name, seq, and the snapshot or the delta."""
        out = {"type": self.type.name, "seq": self.seq}
        if self.type == SNAPSHOT:
            out["properties"] = {name: list(values) for name, values in (self.snapshot or {}).items()}
        else:
            out["property"] = self.prop
            out["values"] = list(self.values)
        return out

    def toJson(self) -> str:
        return json.dumps(self.toPython(), default=_jsonable)

    get_type = getType
    get_seq = getSeq
    get_object_snapshot = getObjectSnapshot
    get_property_name = getPropertyName
    get_property_array = getPropertyArray
    to_python = toPython
    to_json = toJson

    # -- the wire --------------------------------------------------------------------------------
    def to_wire(self) -> dict:
        if self.type == SNAPSHOT:
            snapshot = self.snapshot or {}
            return {"t": int(self.type), "seq": self.seq, "props": {k: list(v) for k, v in snapshot.items()}}
        return {"t": int(self.type), "seq": self.seq, "prop": self.prop, "values": list(self.values)}

    @classmethod
    def from_wire(cls, data: dict) -> Message:
        """A message from a server's map; raises ValueError for anything that is not one."""
        try:
            kind = MessageType(data["t"])
            seq = int(data.get("seq", 0))
            if kind == SNAPSHOT:
                props = data["props"]
                if not isinstance(props, dict):
                    raise TypeError("props")
                return cls(
                    kind, seq, snapshot={str(k): unpack(v) if is_packed(v) else list(v) for k, v in props.items()}
                )
            return cls(kind, seq, str(data["prop"]), unpack(data) if "ids" in data else _copy(data["values"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a data layer message: {exc}") from None

    def __repr__(self) -> str:
        body = f"{len(self.snapshot or {})} properties" if self.type == SNAPSHOT else f"{self.prop}={self.values!r}"
        return f"<Message {self.type.name} seq={self.seq} {body}>"


def snapshot(properties: dict[str, list], seq: int = 0) -> Message:
    return Message(SNAPSHOT, seq, snapshot=properties)


def _jsonable(value):
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)  # an IdList
    return str(value)


class PropertyNames:
    """The names of the properties of the store's objects (``pdgd.PropertyNames``), so scripts do
    not spell the strings themselves.

    ``pdg``: GraphList. ``pdg/{graph}``: Name, NodeList, WorkItems, CookId, CookStatus.
    ``pdg/{graph}/node_{name}``: Name, Id, Graph, WorkItems, NumWorkItems, StateCounts, CookState.
    ``pdg/{graph}/work_item_{id}``: Name, Id, Node, Graph, Index, State, CookId, CookStart, CookTime,
    Parents, Attributes (attribute names; each one's values are ``attribute/NAME``), InputFiles,
    OutputFiles (``[path, tag, size]`` each), Error. Queries: Results.
    """

    GraphList = "graph_list"
    Name = "name"
    Id = "id"
    Graph = "graph"
    NodeList = "node_list"
    WorkItems = "work_items"
    CookId = "cook_id"
    CookStatus = "cook_status"
    NumWorkItems = "num_work_items"
    #: a node's work items per state: ``[state, count]`` pairs, states with none left out
    StateCounts = "state_counts"
    #: a node's cook state: ``uncooked``, ``cooking``, ``cooked``, ``failed`` or ``dirty``
    CookState = "cook_state"
    Node = "node"
    Index = "index"
    State = "state"
    CookStart = "cook_start"
    CookTime = "cook_time"
    Parents = "parents"
    Attributes = "attributes"
    AttributePrefix = "attribute/"
    InputFiles = "input_files"
    OutputFiles = "output_files"
    Error = "error"
    Children = "children"
    Results = "results"


def apply_message(properties: dict[str, list], message: Message) -> dict[str, list]:
    """Fold ``message`` into an object's properties (a snapshot replaces them all); returns the
    properties (the same dict, or a new one after a snapshot)."""
    if message.type == SNAPSHOT:
        return {name: _copy(values) for name, values in (message.snapshot or {}).items()}
    if message.type == APPEND:
        current, values = properties.get(message.prop), message.values
        if type(current) is IdList or type(values) is IdList:
            properties[message.prop] = _appended(current, values)
        else:
            properties.setdefault(message.prop, []).extend(values)
    elif message.type == REMOVE:
        properties[message.prop] = without(properties.get(message.prop, []), message.values)
    else:
        properties[message.prop] = _copy(message.values)
    return properties


def _copy(values) -> list:
    """A list of ``values`` the receiver may keep: an ``IdList`` itself (it never changes, and
    copying would make every id's string), any other values as a new list."""
    return cast(list, values) if type(values) is IdList else list(values)


def _appended(current, values) -> list:
    """``current`` followed by ``values`` where either is an ``IdList`` (``packedids``): still one
    while both are of one width, else a plain list."""
    if not current:
        return _copy(values)
    if type(current) is not IdList:
        current.extend(values)  # a plain list grows in place, as without packed lists
        return current
    if type(values) is not IdList:
        values = as_id_list(values, current.width) or values  # a short list sent plain
    if type(values) is IdList and current.width == values.width:
        return cast(list, current.extended(values))
    return [*current, *values]


def without(current: list, values: list) -> list:
    """``current`` less the first occurrence of each of ``values`` (what ``list.remove`` of each
    does), in one pass: a node that loses its 10,000 work items is one message of 10,000 values,
    and removing them one by one from a list of 10,000 was fifty million comparisons."""
    try:
        drop = Counter(values)
        kept = []
        for value in current:
            if drop.get(value):
                drop[value] -= 1
            else:
                kept.append(value)
        return kept
    except TypeError:  # unhashable values (a file is [path, tag, size]): one by one
        kept = list(current)
        for value in values:
            if value in kept:
                kept.remove(value)
        return kept
