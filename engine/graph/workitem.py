"""The work item a python processor's function is given: read attributes and inputs, set attributes,
report output files, expand parameters.

It is a private copy made for one run on a worker thread; what the function changes is handed back
to the engine's loop as a result, which records it as events. Paths are relative to the project root
(the graph file's directory), which is also the working directory while a cook runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import xxhash
from pdgstore.engine.errors import ExpansionError
from pdgstore.engine.files.records import HASH, PATH, SIZE, TAG, absolute
from pdgstore.engine.graph import attribs

_MISSING = object()


def item_identity(graph: str, node: str, parents: list, key) -> str:
    """A work item's stable id: a domain-tagged hash of its node and what generated it (a static
    plan computes the same ids before the items exist: ``engine.cook.static``)."""
    return identity_with(identity_head(graph, node, parents), key)


def identity_head(graph: str, node: str, parents: list) -> str:
    """What ``item_identity`` hashes but the key: the same for every child of one parent, so a
    generator of many (``engine.cook.bulk``) makes it once and ``identity_with`` each key."""
    # the text is repr(("WorkItem", graph, node, tuple(parents), key)), written out: no tuple made
    return f"{_identity_prefix(graph, node)}{tuple(parents)!r}, "


def _identity_prefix(graph: str, node: str) -> str:
    """The start of the text an item's identity hashes, before its parents (``identity_head``)."""
    return f"('WorkItem', {graph!r}, {node!r}, "


def identity_with(head: str, key) -> str:
    """The id of the item of ``key`` under ``head`` (``identity_head``)."""
    return xxhash.xxh3_64_hexdigest(f"{head}{key!r})".encode())


def work_item_order(item) -> tuple[int, int, str]:
    """Where ``item`` stands among its node's items in work item order, the order a partition lists
    its members in: PDG's, the order the items were created in, which for items made from parents
    is the parents' order, then each parent's children in turn. The walk numbers items so (the N of
    a name ``<node>_<N>``: a root's is its place, a child's its parent's or, when the parent made
    several, a block after it, a partition's its index: ``Walk._add_children``), and the name is
    recorded: a recook that keeps an item without reaching it (``engine.incremental.delta``) reads
    the N a cold cook gives it, not its parent's. Where parents made different numbers of children,
    each parent's block of N's is sized by its own count, so the N's follow the parents only
    roughly, and items of one N (a suffixed ``<node>_<N>_<k>``) follow by index, then id: still
    one order for every walk, each reading it from the names."""
    name, prefix = item.name, item.node + "_"
    number = item.index + 1  # (a name of another shape: what ``Walk`` numbers an unnumbered item)
    if name.startswith(prefix):
        digits = name[len(prefix) :].partition("_")[0]
        if digits.isascii() and digits.isdigit():
            number = int(digits)
    return (number, item.index, item.item_id)


def child_identities(graph: str, node: str, parent_ids: list[str], keys: list) -> list[str]:
    """``item_identity(graph, node, [parent_id], key)`` of each parent id and key, in one pass: a
    processor makes one child of each of thousands of parents (``engine.cook.bulk``)."""
    head = _identity_prefix(graph, node) + "("  # then the parent's id in its one-item tuple, as repr writes it
    digest = xxhash.xxh3_64_hexdigest
    return [digest(f"{head}{parent!r},), {key!r})".encode()) for parent, key in zip(parent_ids, keys, strict=True)]


class FileInfo:
    """A file a work item reads or wrote: ``relpath`` as the log stores it, ``abspath`` the absolute
    path as a string, ``path`` the same as a ``Path``.

    ``open(info)`` and ``os.path`` functions take it as it is (``__fspath__``). ``path`` is made on
    first use: a partition's item may list 10,000 inputs, and a ``Path`` costs more to make than
    the read that usually follows."""

    __slots__ = ("abspath", "relpath", "tag", "size", "hash", "_path")

    def __init__(self, abspath: str, relpath: str, tag: str, size: int, hash: str) -> None:
        self.abspath = abspath
        self.relpath = relpath
        self.tag = tag
        self.size = size
        self.hash = hash
        self._path: Path | None = None

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = Path(self.abspath)
        return self._path

    def __fspath__(self) -> str:
        return self.abspath

    def __eq__(self, other: object) -> bool:
        return type(other) is FileInfo and (self.abspath, self.relpath, self.tag, self.size, self.hash) == (
            other.abspath,
            other.relpath,
            other.tag,
            other.size,
            other.hash,
        )

    __hash__ = None  # type: ignore[assignment]  # equal by value, and mutable: not hashable

    def __repr__(self) -> str:
        return f"FileInfo({self.relpath!r}, tag={self.tag!r}, size={self.size}, hash={self.hash!r})"


class WorkItem:
    #: a batch's sub-items, on the view the dispatch makes of a batch only (``getattr`` it elsewhere)
    batch_subs: list[WorkItem]

    def __init__(
        self, *, item_id, name, index, node, attrs, inputs, outputs, root, node_parms=None, read_only: bool = False
    ) -> None:
        self.id = self.item_id = item_id
        self.name = name
        self.index = index
        self.node = node
        self.attrs = dict(attrs)
        self.inputs = inputs
        self.outputs = list(outputs)
        self.root = root
        self._node_parms = node_parms or {}
        self.changed: dict[str, list] = {}
        self.new_outputs: list[tuple[str, str | None]] = []
        self.read_only = read_only

    @classmethod
    def of(cls, item, root: str, node_parms=None, *, read_only: bool = False) -> WorkItem:
        """A recorded item as user code sees it, ``root`` its project folder: a private copy its
        run changes (its changes are the run's result), or ``read_only`` a view for code that
        must not change it (handlers, expressions, the checks after a job)."""
        return cls(
            item_id=item.item_id,
            name=item.name,
            index=item.index,
            node=item.node,
            attrs=item.attrs,
            inputs=item.inputs,
            outputs=item.outputs,
            root=root,
            node_parms=node_parms,
            read_only=read_only,
        )

    @classmethod
    def view_of(cls, item, root: str, node_parms=None) -> WorkItem:
        """A read-only view of a recorded item, for handlers that must not change it."""
        return cls.of(item, root, node_parms, read_only=True)

    def _writable(self, what: str) -> None:
        if self.read_only:
            raise PermissionError(f"work item {self.name} is read-only here: a handler cannot {what}")

    def __repr__(self) -> str:
        return f"<WorkItem {self.name} ({self.id})>"

    # -- attributes ------------------------------------------------------------------------------
    def attrib_names(self) -> list[str]:
        return sorted(self.attrs)

    def has_attrib(self, name: str) -> bool:
        return name in self.attrs

    def attrib_value(self, name: str, index: int = 0, default: Any = _MISSING) -> Any:
        """The attribute's value at ``index`` (its first by default), as PDG's attribValue."""
        attr = self.attrs.get(name)
        if attr is None or index >= len(attr[1]):
            if default is not _MISSING:
                return default
            if attr is None:
                raise KeyError(f"work item {self.name} has no attribute {name!r}")
            raise IndexError(f"attribute {name!r} of work item {self.name} has {len(attr[1])} values, not {index + 1}")
        return attribs.load_pyobject(attribs.value_of(attr, index))

    def attrib_array(self, name: str) -> list:
        attr = self.attrs.get(name)
        if attr is None:
            raise KeyError(f"work item {self.name} has no attribute {name!r}")
        return [attribs.load_pyobject(v) for v in attribs.array_of(attr)]

    def attrib_flags(self, name: str) -> tuple:
        """The attribute's flags (``attribFlag`` names: NoCopy, EnvExport, ReadOnly)."""
        attr = self.attrs.get(name)
        if attr is None:
            raise KeyError(f"work item {self.name} has no attribute {name!r}")
        return attribs.flags_of(attr)

    def __getitem__(self, name: str) -> Any:
        """The attribute's value itself (its first), the engine's spelling; PDG's attribute object,
        ``work_item['x']`` in a handler, is ``attrib(name)`` here."""
        return self.attrib_value(name)

    def attrib(self, name: str):
        """PDG's attribute object (``pdg.AttributeArray``: ``.value(i)``, ``.values``, ``setValue``),
        None when the item has no such attribute: what ``work_item['x']`` is in PDG's pages, so their
        ``work_item['x'].value()`` reads ``item.attrib('x').value()`` in a python processor."""
        from pdgstore.engine.pdgapi.items import Attribute  # (that module builds on this one)

        return Attribute(self, name) if name in self.attrs else None

    def _attrs(self) -> dict:
        """The attributes as ``pdgapi.items.Attribute`` reads them."""
        return self.attrs

    def _write_attrib(self, name: str, values: list, kind: str | None = None) -> None:
        """``Attribute.setValue`` and ``setValues``: set the whole array, as ``set_attrib`` does."""
        from pdgstore.engine.pdgapi.items import typed_as

        self._writable(f"set attribute {name!r}")
        self._store(name, typed_as(values, kind), None)

    def get(self, name: str, default: Any = None) -> Any:
        return self.attrib_value(name, default=default)

    def set_attrib(self, name: str, value: Any, flags=None) -> None:
        """Set an attribute: an int, float, str, File or dict, or a list of one of those. ``flags``
        (``attribFlag`` names) replace the attribute's flags; without them it keeps the ones it
        has. A ReadOnly attribute cannot be set again."""
        self._writable(f"set attribute {name!r}")
        self._store(name, attribs.typed(value), flags)

    def _store(self, name: str, attr: list, flags) -> None:
        old = self.attrs.get(name)
        if old is not None and "ReadOnly" in attribs.flags_of(old):
            raise PermissionError(f"attribute {name!r} of work item {self.name} is read-only (flag ReadOnly)")
        try:
            kept = attribs.flags_of(old) if flags is None and old is not None else flags
            attr = attribs.with_flags(attr, kept)
        except ValueError as exc:
            raise ValueError(f"work item {self.name}, attribute {name!r}: {exc}") from None
        self.attrs[name] = attr
        self.changed[name] = attr

    def set_file_attrib(self, name: str, path: str | os.PathLike, tag: str = "file") -> None:
        self.set_attrib(name, attribs.File(path, tag))

    def set_pyobject_attrib(self, name: str, obj: Any, flags=None) -> None:
        """Set a pyobject attribute: any picklable object (kept as its pickle; see ``attribs``)."""
        self._writable(f"set attribute {name!r}")
        self._store(name, attribs.pyobject(obj), flags)

    def set_attrib_flags(self, name: str, *flags: str) -> None:
        """Give an existing attribute these flags (``attribFlag`` names), replacing its own."""
        self._writable(f"set the flags of attribute {name!r}")
        attr = self.attrs.get(name)
        if attr is None:
            raise KeyError(f"work item {self.name} has no attribute {name!r}")
        try:
            attr = attribs.with_flags(attr, flags)
        except ValueError as exc:
            raise ValueError(f"work item {self.name}, attribute {name!r}: {exc}") from None
        self.attrs[name] = attr
        self.changed[name] = attr

    # PDG's spelling (pdg.WorkItem), beside the snake_case above
    def attribValue(self, name: str, index: int = 0) -> Any:  # noqa: N802
        """The value at ``index``, None when the item has no such attribute or index (as PDG)."""
        return self.attrib_value(name, index, None)

    def attribArray(self, name: str) -> list | None:  # noqa: N802
        return self.attrib_array(name) if name in self.attrs else None

    def hasAttrib(self, name: str) -> bool:  # noqa: N802
        return name in self.attrs

    def attribNames(self, attrib_type=None) -> list[str]:  # noqa: N802
        """The attribute names (of ``attrib_type``, a ``pdg.attribType``, when given), sorted."""
        if attrib_type is None or attrib_type == -1:  # (attribType.Undefined)
            return sorted(self.attrs)
        return sorted(n for n in self.attrs if self.attribType(n) == attrib_type)

    def attribType(self, name: str):  # noqa: N802
        """The attribute's ``pdg.attribType`` (``attribType.Undefined`` when the item has none)."""
        from pdgstore.engine.pdgapi.enums import attribType

        attr = self.attrs.get(name)
        return attribType.Undefined if attr is None else attribType.from_engine(attr[0])

    @property
    def frame(self) -> float:
        """The item's frame (its ``frame`` attribute), 0.0 without one, as PDG's ``frame``."""
        frame = attribs.frame_of(self)
        return 0.0 if frame is None else float(frame)

    # PDG's typed setters: a list sets the whole array; an index past the end pads with the type's
    # default; an attribute of another type is refused (``pdgapi.setters``). ``set_attrib`` replaces.
    def setIntAttrib(self, name: str, value, index: int = 0) -> None:  # noqa: N802
        self._set_component(name, "int", value, index)

    def setFloatAttrib(self, name: str, value, index: int = 0) -> None:  # noqa: N802
        self._set_component(name, "float", value, index)

    def setStringAttrib(self, name: str, value, index: int = 0) -> None:  # noqa: N802
        self._set_component(name, "string", value, index)

    def setFileAttrib(self, name: str, path, tag: str = "file", index: int = 0) -> None:  # noqa: N802
        """PDG's ``setFileAttrib(name, value, index)``; a path (not a ``File``) takes ``tag``."""
        if isinstance(tag, int) and not isinstance(tag, bool):  # PDG's positional index
            tag, index = "file", tag
        value = path if isinstance(path, (attribs.File, list, tuple)) else attribs.File(path, tag)
        self._set_component(name, "file", value, index)

    def setDictAttrib(self, name: str, value: dict, index: int = 0) -> None:  # noqa: N802
        self._set_component(name, "dict", value, index)

    def setPyObjectAttrib(self, name: str, obj: Any) -> None:  # noqa: N802
        old = self.attrs.get(name)
        if old is not None and old[0] != "pyobject":
            from pdgstore.engine.pdgapi.setters import AttribError, different_type

            raise AttribError(different_type(self.name, name, old[0], "pyobject"))
        self.set_pyobject_attrib(name, obj)

    def setAttribFlag(self, name: str, flag: str) -> None:  # noqa: N802
        """Add ``flag`` to the attribute's flags (PDG: ``setAttribFlag``)."""
        self.set_attrib_flags(name, *self.attrib_flags(name), flag)

    def addOutputFile(self, path, tag: str | None = None) -> None:  # noqa: N802
        self.add_output_file(path, tag)

    def _set_component(self, name: str, kind: str, value: Any, index: int) -> None:
        """PDG's ``set<Type>Attrib(name, value, index)`` (``pdgapi.setters.typed_set``)."""
        from pdgstore.engine.pdgapi.setters import typed_set

        self._writable(f"set attribute {name!r}")
        self._write_attrib(name, typed_set(self.name, self.attrs.get(name), name, kind, value, index), kind)

    # -- files -----------------------------------------------------------------------------------
    def _info(self, rec: list) -> FileInfo:
        rel = rec[PATH]
        return FileInfo(absolute(rel, self.root), rel, rec[TAG], rec[SIZE], rec[HASH])

    @property
    def input_files(self) -> list[FileInfo]:
        return [self._info(r) for r in self.inputs]

    @property
    def input_path(self) -> Path:
        """The first input file (``@pdg_input``)."""
        if not self.inputs:
            raise ValueError(f"work item {self.name} has no input files")
        return self._info(self.inputs[0]).path

    @property
    def output_files(self) -> list[FileInfo]:
        return [self._info(r) for r in self.outputs]

    def add_output_file(self, path: str | os.PathLike, tag: str | None = None) -> None:
        """Report a file this item wrote; it is stat-ed and hashed when the function returns. (As
        PDG's ``addOutputFile``, it returns nothing: a ``Path`` made for every output is paid by every
        cook and used by almost none; ``path(...)`` gives one when it is wanted.)"""
        path = os.fspath(path)
        self._writable(f"add output file {path}")
        self.new_outputs.append((path, tag))

    def path(self, relative: str | os.PathLike) -> Path:
        """A path relative to the project root, made absolute."""
        return Path(self.root, relative)

    # -- parameters ------------------------------------------------------------------------------
    def expand(self, text: str, parm: str = "expression") -> str:
        """Expand ``@attr`` references; ``@pdg_output`` sees outputs reported so far too."""
        outputs = self.outputs + [[path] for path, _ in self.new_outputs]
        return attribs.expand(text, item=self, node=self.node, parm=parm, outputs=outputs)

    def parm(self, name: str) -> Any:
        """A node parameter, with ``@attr`` references expanded against this item."""
        if name not in self._node_parms:
            raise ExpansionError(f"node {self.node} has no parameter {name!r}")
        value = self._node_parms[name]
        return self.expand(value, parm=name) if isinstance(value, str) else value
