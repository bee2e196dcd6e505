"""``pdg.WorkItem``: PDG's camelCase work item API over the engine's own work item (never a copy).

Handlers (stat, cache, transfer), scheduler callbacks and event handlers are written against PDG's
``pdg.WorkItem``: ``work_item.attribValue('x')``, ``work_item['x'].value()``, ``work_item.node.name``,
``work_item.inputFiles``. ``WorkItemAPI`` gives those names to anything that holds an engine work item
in ``self.item`` (the read-only ``engine.graph.workitem.WorkItem`` view, or the store's record) and the
item's node in ``self.node``; ``ScheduledItem`` mixes it in, and ``WorkItem`` here wraps a bare item
for handlers. The engine's snake_case names (``attrib_value``, ``input_files`` ...) stay reachable
through the same object. Writes go where the holder says (``_write_attrib``); a handler's item is
read-only, as PDG's pages say it must be treated.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

from pdgstore.engine.graph import attribs
from pdgstore.engine.graph.attribs import File
from pdgstore.engine.pdgapi.enums import (
    attribFlag,
    attribType,
    fileType,
    workItemCookType,
    workItemState,
    workItemType,
)
from pdgstore.engine.pdgapi.setters import DEFAULTS, one_value, typed_set

#: node name -> its type name, filled as graphs add nodes: a handler given only an item can still
#: answer ``work_item.node.type.typeName`` (the log and the cache checker know node names only)
NODE_TYPES: dict[str, str] = {}
_UNDEFINED = attribType.Undefined


#: the engine's node types whose PDG type name is not the engine's without its underscores
_PDG_TYPE_NAMES = {"python_script_inprocess": "pythonscript"}  # one Python Script TOP, in or out of process


class NodeType:
    """``node.type``: ``typeName`` is PDG's spelling of the node's type (``file_pattern`` -> ``filepattern``)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def typeName(self) -> str:  # noqa: N802
        return _PDG_TYPE_NAMES.get(self.name) or self.name.replace("_", "")

    type_name = property(lambda self: self.name)

    def __repr__(self) -> str:
        return f"<NodeType {self.typeName}>"


class NodeRef:
    """``work_item.node``: the item's node (``name``, ``type.typeName``); the engine's node object
    itself when the caller has it (``engine``), so its own attributes stay reachable."""

    __slots__ = ("name", "engine")

    def __init__(self, name: str, engine: Any = None) -> None:
        self.name = name
        self.engine = engine

    @property
    def type(self) -> NodeType:
        type_name = getattr(self.engine, "type_name", None) or NODE_TYPES.get(self.name, "")
        return NodeType(type_name)

    def __getattr__(self, name: str) -> Any:
        if self.engine is None:
            raise AttributeError(f"node {self.name} has no attribute {name!r} here")
        return getattr(self.engine, name)

    def __eq__(self, other: object) -> bool:
        return other == self.name if isinstance(other, str) else isinstance(other, NodeRef) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Node {self.name}>"


class AttributeOwner(Protocol):
    """What holds an ``Attribute``: a ``WorkItemAPI``, or a python processor's own work item."""

    @property
    def name(self) -> str: ...

    def _attrs(self) -> dict: ...

    def _write_attrib(self, name: str, values: list, kind: str | None = None) -> None: ...


class Attribute:
    """``work_item['x']``: one attribute, read through its owner (PDG's ``AttributeArray``)."""

    __slots__ = ("_owner", "name")

    def __init__(self, owner: AttributeOwner, name: str) -> None:
        self._owner = owner
        self.name = name

    @property
    def _attr(self) -> list:
        attr = self._owner._attrs().get(self.name)
        if attr is None:
            raise KeyError(f"work item {self._owner.name} has no attribute {self.name!r}")
        return attr

    @property
    def type(self) -> attribType:
        return attribType.from_engine(self._attr[0])

    @property
    def flags(self) -> attribFlag:
        """The attribute's flags (stored by name: ``engine.graph.attribs``) as PDG's ``attribFlag``."""
        flags = attribFlag.NoFlags
        for name in attribs.flags_of(self._attr):
            flags |= attribFlag[name]
        return flags

    def hasFlag(self, flag) -> bool:  # noqa: N802
        return bool(self.flags & attribFlag(flag))

    @property
    def values(self) -> list:
        return attribs.array_of(self._attr)

    @property
    def size(self) -> int:
        return len(self._attr[1])

    def __len__(self) -> int:
        return self.size

    def value(self, index: int = 0) -> Any:
        values = self.values
        return values[index]

    def __getitem__(self, index: int) -> Any:
        return self.value(index)

    def __iter__(self):
        return iter(self.values)

    def asNumber(self, index: int = 0):  # noqa: N802
        v = self.value(index)
        return v if isinstance(v, (int, float)) else 0

    def asString(self, index: int = 0) -> str:  # noqa: N802
        return attribs.as_text(self.value(index))

    def setValue(self, value, index: int = 0) -> None:  # noqa: N802
        """Set the value at ``index`` as the attribute's own type (``typed_set``: past the end pads)."""
        attr = self._attr
        if attr[0] in DEFAULTS:
            values = typed_set(self._owner.name, attr, self.name, attr[0], value, index)
            return self._owner._write_attrib(self.name, values, attr[0])
        values = self.values  # a pyobject's
        values.extend([type(value)()] * (index + 1 - len(values)))
        values[index] = value
        self._owner._write_attrib(self.name, values)

    def setValues(self, values) -> None:  # noqa: N802
        attr = self._attr
        if attr[0] in DEFAULTS:
            values = typed_set(self._owner.name, attr, self.name, attr[0], list(values))
            return self._owner._write_attrib(self.name, values, attr[0])
        self._owner._write_attrib(self.name, list(values))

    def __repr__(self) -> str:
        return f"<Attribute {self.name}={self.values!r}>"


def typed_as(values: list, kind: str | None) -> list:
    """``values`` as a stored attribute of ``kind`` (PDG's typed setters), or of the type they have."""
    if kind in DEFAULTS:
        values = [one_value(kind, v) for v in values]
    attr = attribs.typed(values)
    if kind is not None and not values:
        attr[0] = kind
    return attr


def _file(rec) -> File:
    return rec if isinstance(rec, File) else File.from_record(rec)


class BatchParent:
    """``work_item.batchParent``: the batch work item whose job cooked a sub-item (its id, name and
    node; the batch is a job, not a recorded item, so it holds no attributes of its own)."""

    __slots__ = ("id", "name", "node")
    isBatch = True

    def __init__(self, batch_id: str, name: str, node: Any) -> None:
        self.id, self.name, self.node = batch_id, name, node

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BatchParent) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<BatchParent {self.name} ({self.id})>"


class WorkItemAPI:
    """PDG's ``pdg.WorkItem`` names for a holder of ``item`` (an engine work item) and ``node``."""

    item: Any
    node: Any

    # -- what the holder provides ------------------------------------------------------------------
    def _attrs(self) -> dict:
        pending = getattr(self, "changed", None)
        if pending:
            return {**self.item.attrs, **pending}
        return self.item.attrs

    def _write_attrib(self, name: str, values: list, kind: str | None = None) -> None:
        raise PermissionError(
            f"work item {self.name} is read-only here: a handler must not set attribute {name!r} (as PDG's pages say)"
        )

    def _write_output(self, path: str, tag: str) -> None:
        raise PermissionError(f"work item {self.name} is read-only here: a handler must not add output file {path}")

    def _write_log(self, level: str, text: str) -> None:
        raise PermissionError(f"work item {self.name} is read-only here: it cannot log {text!r}")

    # -- identity ----------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.item.item_id

    @property
    def name(self) -> str:
        return self.item.name

    @property
    def index(self) -> int:
        return self.item.index

    def _node_object(self):
        return self.node

    @property
    def pdg_node(self) -> NodeRef:
        node = self._node_object()
        if isinstance(node, NodeRef):
            return node
        if node is None or isinstance(node, str):
            return NodeRef(node or self.item.node)
        return NodeRef(node.name, node)

    @property
    def state(self) -> workItemState:
        return workItemState.from_engine(getattr(self.item, "state", "") or "cooking")

    @property
    def type(self) -> workItemType:
        engine_node = self.pdg_node.engine
        return workItemType.Partition if getattr(engine_node, "is_partitioner", False) else workItemType.Regular

    @property
    def isPartition(self) -> bool:  # noqa: N802
        return self.type == workItemType.Partition

    # A sub-item of a batch (``engine.cook.batches``) carries the attribute ``__pdg_batch``:
    # [batch id, batch name, its sub index] (NoCopy: children do not inherit it).
    isBatch = False  # noqa: N815 - the batch itself is a job, not a recorded item: items are never one
    batchItems: list = []  # noqa: N815, RUF012

    def _batch(self) -> list | None:
        attr = self._attrs().get("__pdg_batch")
        return attr[1] if attr and len(attr[1]) >= 3 else None

    @property
    def batchParent(self) -> BatchParent | None:  # noqa: N802
        """The batch that cooked this item (seed 003: "You can get the batch parent by looking at
        work_item.batchParent"), or None."""
        found = self._batch()
        return BatchParent(found[0], found[1], self.node) if found else None

    @property
    def batchIndex(self) -> int:  # noqa: N802
        found = self._batch()
        return int(found[2]) if found else -1

    priority = 0

    @property
    def cookType(self) -> workItemCookType:  # noqa: N802
        out = getattr(self.pdg_node.engine, "out_of_process", None)
        if out is None:
            return workItemCookType.Automatic
        return workItemCookType.OutOfProcess if out else workItemCookType.InProcess

    @property
    def isInProcess(self) -> bool:  # noqa: N802
        return self.cookType == workItemCookType.InProcess

    @property
    def isOutOfProcess(self) -> bool:  # noqa: N802
        return self.cookType == workItemCookType.OutOfProcess

    @property
    def frame(self) -> float:
        attr = self._attrs().get("frame")
        return float(attr[1][0]) if attr and attr[0] in ("int", "float") and attr[1] else 0.0

    @property
    def hasFrame(self) -> bool:  # noqa: N802
        return "frame" in self._attrs()

    @property
    def label(self) -> str:
        return self.stringAttribValue("__pdg_label") or self.name

    @property
    def customState(self) -> str:  # noqa: N802
        return self.stringAttribValue("__pdg_state") or ""

    @property
    def cookPercent(self) -> float:  # noqa: N802
        value = self.attribValue("__pdg_cookpercent")
        return float(value) if isinstance(value, (int, float)) else -1.0

    # -- attributes --------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Attribute:
        if name not in self._attrs():
            raise KeyError(f"work item {self.name} has no attribute {name!r}")
        return Attribute(self, name)

    def attrib(self, name: str, attrib_type=_UNDEFINED) -> Attribute | None:
        attr = self._attrs().get(name)
        if attr is None or (attrib_type != attribType.Undefined and attribType.from_engine(attr[0]) != attrib_type):
            return None
        return Attribute(self, name)

    def attribNames(self, attrib_type=_UNDEFINED) -> list[str]:  # noqa: N802
        attrs = self._attrs()
        if attrib_type == attribType.Undefined:
            return sorted(attrs)
        return sorted(n for n, a in attrs.items() if attribType.from_engine(a[0]) == attrib_type)

    def attribValues(self, attrib_type=_UNDEFINED) -> dict:  # noqa: N802
        return {n: attribs.array_of(self._attrs()[n]) for n in self.attribNames(attrib_type)}

    def hasAttrib(self, name: str) -> bool:  # noqa: N802
        return name in self._attrs()

    def attribType(self, name: str) -> attribType:  # noqa: N802
        attr = self._attrs().get(name)
        return attribType.Undefined if attr is None else attribType.from_engine(attr[0])

    def attribArray(self, name: str, attrib_type=_UNDEFINED) -> list | None:  # noqa: N802
        a = self.attrib(name, attrib_type)
        return None if a is None else a.values

    def attribValue(self, name: str, index: int = 0, attrib_type=_UNDEFINED):  # noqa: N802
        """The value at ``index``; None when there is no such attribute or index (as PDG)."""
        values = self.attribArray(name, attrib_type)
        if values is None or not -len(values) <= index < len(values):
            return None
        return values[index]

    def intAttribValue(self, name: str, index: int = 0):  # noqa: N802
        return self.attribValue(name, index, attribType.Int)

    def floatAttribValue(self, name: str, index: int = 0):  # noqa: N802
        return self.attribValue(name, index, attribType.Float)

    def stringAttribValue(self, name: str, index: int = 0):  # noqa: N802
        return self.attribValue(name, index, attribType.String)

    def fileAttribValue(self, name: str, index: int = 0):  # noqa: N802
        return self.attribValue(name, index, attribType.File)

    def dictAttribValue(self, name: str, index: int = 0):  # noqa: N802
        return self.attribValue(name, index, attribType.Dict)

    def intAttribArray(self, name: str):  # noqa: N802
        return self.attribArray(name, attribType.Int)

    def floatAttribArray(self, name: str):  # noqa: N802
        return self.attribArray(name, attribType.Float)

    def stringAttribArray(self, name: str):  # noqa: N802
        return self.attribArray(name, attribType.String)

    def fileAttribArray(self, name: str):  # noqa: N802
        return self.attribArray(name, attribType.File)

    def dictAttribArray(self, name: str):  # noqa: N802
        return self.attribArray(name, attribType.Dict)

    @property
    def environment(self) -> dict:
        return {}

    # -- files -------------------------------------------------------------------------------------
    @property
    def inputFiles(self) -> list[File]:  # noqa: N802
        return [_file(r) for r in self.item.inputs]

    @property
    def outputFiles(self) -> list[File]:  # noqa: N802
        pending = [File(p, t or "file") for p, t in getattr(self, "new_outputs", ())]
        return [_file(r) for r in self.item.outputs] + pending

    def inputFilesForTag(self, tag: str) -> list[File]:  # noqa: N802
        return [f for f in self.inputFiles if f.tag.startswith(tag)]

    def outputFilesForTag(self, tag: str) -> list[File]:  # noqa: N802
        return [f for f in self.outputFiles if f.tag.startswith(tag)]

    inputResultData = inputFiles  # noqa: N815 - PDG's older names
    resultData = outputFiles  # noqa: N815

    def localizePath(self, path: str) -> str:  # noqa: N802
        from pdgstore.engine.schedulers.pathmap import localize

        return localize(path)

    # -- writes (where the holder allows them) -----------------------------------------------------
    def _set(self, name: str, kind: str, value, index: int) -> None:
        self._write_attrib(name, typed_set(self.name, self._attrs().get(name), name, kind, value, index), kind)

    def setIntAttrib(self, name: str, value, index: int = 0) -> None:  # noqa: N802
        self._set(name, "int", value, index)

    def setFloatAttrib(self, name: str, value, index: int = 0) -> None:  # noqa: N802
        self._set(name, "float", value, index)

    def setStringAttrib(self, name: str, value, index: int = 0) -> None:  # noqa: N802
        self._set(name, "string", value, index)

    def setFileAttrib(self, name: str, value, index: int = 0) -> None:  # noqa: N802
        self._set(name, "file", value, index)

    def setDictAttrib(self, name: str, value, index: int = 0) -> None:  # noqa: N802
        self._set(name, "dict", value, index)

    def addOutputFile(self, path, tag: str = "", hash_code=0, own: bool = False) -> None:  # noqa: N802
        self._write_output(str(getattr(path, "path", path)), tag)

    def addOutputFiles(self, paths, tag="", hash_codes=(), own: bool = False) -> None:  # noqa: N802
        tags = [tag] * len(paths) if isinstance(tag, str) else list(tag)
        for path, t in zip(paths, tags):
            self.addOutputFile(path, t)

    def addMessage(self, message: str, *args, **kwargs) -> None:  # noqa: N802
        self._write_log("info", str(message))

    def addWarning(self, message: str, *args, **kwargs) -> None:  # noqa: N802
        self._write_log("warning", str(message))

    def addError(self, message: str, fail_task: bool = False, *args, **kwargs) -> None:  # noqa: N802
        self._write_log("error", str(message))

    def setCustomState(self, custom_state: str) -> None:  # noqa: N802
        self._write_attrib("__pdg_state", [str(custom_state)], "string")

    def setCookPercent(self, cook_percent: float) -> None:  # noqa: N802
        self._write_attrib("__pdg_cookpercent", [float(cook_percent)], "float")

    # -- identity: a work item is its id (maps keyed by items answer to ids too) -----------------
    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other == self.id
        return isinstance(other, WorkItemAPI) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def lockAttributes(self):  # noqa: N802
        """``with work_item.lockAttributes():`` (PDG's guard for writes outside onSchedule): the
        engine's loop is the one writer, so there is nothing to lock."""
        import contextlib

        return contextlib.nullcontext(self)


class WorkItem(WorkItemAPI):
    """``pdg.WorkItem``: PDG's view of one engine work item. A handler's or event handler's item is
    read-only; over a python processor's own item (``work_item = pdg.WorkItem(item)``, and the
    ``work_item`` of ``python_script(code=)``) its setters and ``addOutputFile`` are that item's.

    Every other attribute (the engine's snake_case API: ``attrib_value``, ``input_files`` ...) is
    the wrapped item's own."""

    __slots__ = ("item", "_node")

    def __init__(self, item, node=None) -> None:
        self.item = item
        self._node = node

    def _node_object(self):
        return self._node

    @property
    def node(self) -> NodeRef:
        """PDG's ``work_item.node``: the node object (``name``, ``type.typeName``), never its name."""
        return self.pdg_node

    # -- writes: a handler's item is read-only; a python processor's own item takes them -----------
    def _own(self):
        """The engine item writes go to (a run's private copy: recorded when the run ends), or None."""
        return None if getattr(self.item, "read_only", True) else self.item

    def _write_attrib(self, name: str, values: list, kind: str | None = None) -> None:
        own = self._own()
        if own is None:
            return super()._write_attrib(name, values, kind)
        own._write_attrib(name, values, kind)

    def _write_output(self, path: str, tag: str) -> None:
        own = self._own()
        if own is None:
            return super()._write_output(path, tag)
        own.add_output_file(path, tag or None)

    def _write_log(self, level: str, text: str) -> None:
        """In-process, a log line is the run's output (``addMessage`` on stdout, the rest on stderr)."""
        if self._own() is None:
            return super()._write_log(level, text)
        print(text, file=sys.stdout if level == "info" else sys.stderr)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.item, name)

    def __repr__(self) -> str:
        return f"<pdg.WorkItem {self.name} ({self.id})>"


def wrap(item, node=None) -> WorkItemAPI | None:
    """A handler's ``pdg.WorkItem`` for an engine item (None stays None; a wrapped one is kept)."""
    if item is None or isinstance(item, WorkItemAPI):
        return item
    return WorkItem(item, node)


__all__ = ["Attribute", "NodeRef", "NodeType", "WorkItem", "WorkItemAPI", "fileType", "wrap"]
