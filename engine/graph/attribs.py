"""Work item attributes: PDG's typed arrays, and ``@attr`` expansion in string parameters.

An attribute is stored as ``[type, [values...]]`` with type int, float, string, file or dict
(a file value is ``[path, tag]``), so every attribute is an array as in PDG; a single value is an
array of one. ``typed(value)`` turns a Python value into that form; ``plain(attr)`` turns it back.

Expansion follows seed 004: ``@name`` is the attribute's first value, ``@name.N`` its N-th
(``.x``, ``.y``, ``.z``, ``.w`` are 0..3), and the built-ins ``@pdg_index``, ``@pdg_name``,
``@pdg_id``, ``@pdg_node``, ``@pdg_input`` and ``@pdg_output`` (first input or output file path, or
the N-th with ``.N``). ``\\@`` is a literal ``@``.
"""

from __future__ import annotations

import os
import re
from typing import Any

import msgpack
from pdgstore.engine.errors import ExpansionError

COMPONENTS = {"x": 0, "y": 1, "z": 2, "w": 3}
_REF = re.compile(r"\\@|@([A-Za-z_][A-Za-z0-9_]*)(?:\.([0-9]+|[xyzw])\b)?")


class File:
    """A file: a path (relative to the project root, or absolute) and its tag; the one file object
    of the engine and of ``pdg.File`` (PDG's names: ``path``, ``tag``, ``hash``, ``size``, ``owned``,
    ``local_path``). ``hash`` and ``size`` are what the log recorded (0 when nothing was), and are
    not part of a file attribute's value: two Files are equal when path and tag are."""

    __slots__ = ("path", "tag", "hash", "size", "owned", "mtime_ns")

    def __init__(self, path: str | os.PathLike = "", tag: str = "file", hash=0, owned: bool = False, size: int = 0):
        self.path = os.fspath(path)
        self.tag = tag
        self.hash = hash
        self.owned = bool(owned)
        self.size = size
        self.mtime_ns = 0

    @classmethod
    def from_record(cls, rec) -> File:
        """A file record of the log ``[path, tag, size, mtime_ns, hash]`` (or ``[path, tag]``)."""
        f = cls(rec[0], rec[1] if len(rec) > 1 and rec[1] else "file")
        if len(rec) >= 5:
            f.size, f.mtime_ns, f.hash = rec[2], rec[3], rec[4]
        return f

    @property
    def local_path(self) -> str:
        """The path on this machine (PDG's ``local_path``): the path map and ``__PDG_*__`` tokens applied."""
        from pdgstore.engine.schedulers.pathmap import localize

        return localize(self.path)

    @property
    def own(self) -> bool:
        return self.owned

    def asTuple(self) -> tuple:
        return (self.path, self.tag, self.hash, self.owned)

    def __fspath__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return f"File({self.path!r}, {self.tag!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, File) and (self.path, self.tag) == (other.path, other.tag)

    def __hash__(self) -> int:
        return hash((self.path, self.tag))


def _type_of(value: Any) -> str:
    if isinstance(value, bool) or isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, File):
        return "file"
    if isinstance(value, dict):
        return "dict"
    raise TypeError(
        f"attribute values are int, float, str, File or dict (or lists of them), not {type(value).__name__}"
    )


def recordable(value: Any, what: str = "value") -> Any:
    """``value`` as the log will give it back (tuples become lists), or TypeError when the log
    cannot hold it (a set, an object, a dict with non-string keys, ...)."""
    try:
        return msgpack.unpackb(msgpack.packb(value, use_bin_type=True), raw=False, strict_map_key=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(
            f"{what} {value!r} cannot be recorded: use str-keyed dicts, lists, str, int, float, bool and None ({exc})"
        ) from None


#: the ints the log can hold (msgpack's range): an attribute outside it is refused when set
INT_MIN, INT_MAX = -(1 << 63), (1 << 64) - 1


def _native(value: Any, kind: str) -> Any:
    if kind == "int":
        value = int(value)
        if not INT_MIN <= value <= INT_MAX:
            raise ValueError(f"int attribute value {value} is outside what the log can hold (-2**63 to 2**64-1)")
        return value
    if kind == "string":
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"string attribute value {value.encode('utf-8', 'backslashreplace').decode()!r} is not valid "
                "UTF-8 (a file name's undecodable bytes?): the log holds UTF-8 text only"
            ) from None
        return value
    if kind == "float":
        return float(value)
    if kind == "file":
        return [value.path, value.tag]
    if kind == "dict":
        return recordable(value, "a dict attribute")
    return value


def typed(value: Any) -> list:
    """A Python value (or list/tuple of values) as a stored attribute ``[type, [values]]``."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    kinds = {_type_of(v) for v in values} or {"string"}
    if kinds == {"int", "float"}:
        kinds = {"float"}
    if len(kinds) > 1:
        raise TypeError(f"an attribute array holds one type, not {sorted(kinds)}")
    (kind,) = kinds
    return [kind, [_native(v, kind) for v in values]]


def value_of(attr: list, index: int = 0) -> Any:
    kind, values = attr
    v = values[index]
    return File(v[0], v[1]) if kind == "file" else v


def array_of(attr: list) -> list:
    kind, values = attr
    return [File(v[0], v[1]) for v in values] if kind == "file" else list(values)


def plain(attr: list) -> Any:
    """The attribute as a person reads it: a single value for an array of one, else a list."""
    values = array_of(attr)
    return values[0] if len(values) == 1 else values


def as_text(value: Any) -> str:
    if isinstance(value, File):
        return value.path
    if isinstance(value, float):
        return repr(value)
    return str(value)


def expand(text: str, *, item, node: str, parm: str, outputs: list | None = None) -> str:
    """Expand ``@attr`` references in ``text`` against ``item`` (anything with ``name``, ``index``,
    ``item_id``, ``attrs``, ``inputs`` and ``outputs``; ``outputs`` overrides the item's own list);
    unknown names raise ExpansionError."""
    if "@" not in text:
        return text

    def one(match: re.Match) -> str:
        if match.group(0) == "\\@":
            return "@"
        name, comp = match.group(1), match.group(2)
        index = 0 if comp is None else COMPONENTS.get(comp, None)
        if index is None:
            index = int(comp)
        if name in ("pdg_input", "pdg_output"):
            files = item.inputs if name == "pdg_input" else (item.outputs if outputs is None else outputs)
            if index >= len(files):
                raise ExpansionError(
                    f"node {node}, item {item.name}, parameter {parm}: @{name}"
                    f"{'.' + comp if comp else ''} refers to file {index} but the item has {len(files)}"
                )
            return files[index][0]
        if name == "pdg_index":
            return str(item.index)
        if name == "pdg_name":
            return item.name
        if name == "pdg_id":
            return item.item_id
        if name == "pdg_node":
            return node
        attr = item.attrs.get(name)
        if attr is None:
            raise ExpansionError(
                f"node {node}, item {item.name}, parameter {parm}: no attribute {name!r}"
                f" (the item has {', '.join(sorted(item.attrs)) or 'none'})"
            )
        if index >= len(attr[1]):
            raise ExpansionError(
                f"node {node}, item {item.name}, parameter {parm}: @{name}.{comp} is out of range"
                f" ({name} has {len(attr[1])} values)"
            )
        return as_text(value_of(attr, index))

    return _REF.sub(one, text)
