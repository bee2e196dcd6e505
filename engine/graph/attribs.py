"""Work item attributes: PDG's typed arrays, their flags, and ``@attr`` expansion in parameters.

An attribute is stored as ``[type, [values...]]`` with type int, float, string, file, dict or
pyobject (a file value is ``[path, tag]``), so every attribute is an array as in PDG; a single value
is an array of one. ``typed(value)`` turns a Python value into that form; ``plain(attr)`` turns it
back. An attribute with flags (``attribFlag``: NoCopy, EnvExport, ReadOnly) carries them as a third
element, ``[type, [values], [flags]]``; an attribute without flags has no third element, so what
the log held before flags existed reads the same.

A pyobject value is any picklable Python object, stored as its pickle in base64 text: the store
holds it as data and nothing that reads the store unpickles it (``pdg show`` prints the text).
Only the engine, cooking with the graph's code loaded, turns it back into an object
(``load_pyobject``), because unpickling runs code named by the pickle.

Expansion follows seed 004: ``@name`` is the attribute's first value, ``@name.N`` its N-th
(``.x``, ``.y``, ``.z``, ``.w`` are 0..3), ``pdgattribvals(name)`` every value space-separated, and
the built-ins (``BUILTINS``): ``@pdg_index``, ``@pdg_name``, ``@pdg_id``, ``@pdg_node``,
``@pdg_frame``, ``@pdg_inputsize``, ``@pdg_outputsize``, ``@pdg_log`` (where a job's log goes, in a
command), ``@pdg_input`` and ``@pdg_output`` (every input or output file path, space-separated; the
N-th with ``.N``). ``$F`` is the frame as an integer, ``$F4`` zero-padded to 4 digits, ``$FF`` the
frame as a float. ``\\@`` is a literal ``@``.
"""

from __future__ import annotations

import base64
import os
import re
from typing import Any

import msgpack
from pdgstore.engine.errors import ExpansionError

COMPONENTS = {"x": 0, "y": 1, "z": 2, "w": 3}
_REF = re.compile(
    r"\\@|@([A-Za-z_][A-Za-z0-9_]*)(?:\.([0-9]+|[xyzw])\b)?"
    r"|pdgattribvals\(\s*[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?\s*\)"
    r"|\$F(F|[1-9])?(?![A-Za-z0-9_])"
)
#: the ``@pdg_*`` names expansion knows (besides the item's own attributes)
BUILTINS = (
    "pdg_id",
    "pdg_index",
    "pdg_name",
    "pdg_node",
    "pdg_frame",
    "pdg_input",
    "pdg_inputsize",
    "pdg_output",
    "pdg_outputsize",
    "pdg_log",
)


#: the attribute flags an attribute can carry (PDG's ``attribFlag`` names): ``NoCopy`` is not passed
#: to child items or merged into a partition; ``EnvExport`` is exported to a job's environment;
#: ``ReadOnly`` cannot be set again
FLAG_NAMES = ("NoCopy", "EnvExport", "ReadOnly")


def check_flags(flags) -> list[str]:
    """``flags`` (a name or a PDG ``attribFlag``, or a list of them) as the sorted list of names an
    attribute stores, or ValueError."""
    if isinstance(flags, str) or isinstance(flags, int):
        flags = [flags]
    names = []
    for flag in flags or ():
        if isinstance(flag, int):  # PDG's attribFlag (an IntFlag): its names
            names += [f for bit, f in ((1, "NoCopy"), (2, "EnvExport"), (4, "ReadOnly")) if flag & bit]
        else:
            names.append(flag)
    flags = sorted(set(names))
    unknown = [f for f in flags if f not in FLAG_NAMES]
    if unknown:
        raise ValueError(f"unknown attribute flag {unknown[0]!r} (known: {', '.join(FLAG_NAMES)})")
    return flags


def flags_of(attr: list) -> tuple:
    return tuple(attr[2]) if len(attr) > 2 else ()


def with_flags(attr: list, flags) -> list:
    """``attr`` with exactly ``flags`` (no third element when there are none)."""
    flags = check_flags(flags)
    return [attr[0], attr[1], flags] if flags else [attr[0], attr[1]]


def inherited(attrs: dict) -> dict:
    """The attributes a child item or a partition takes from ``attrs``: all but the NoCopy ones."""
    for attr in attrs.values():
        if len(attr) > 2 and "NoCopy" in attr[2]:
            return {k: v for k, v in attrs.items() if not (len(v) > 2 and "NoCopy" in v[2])}
    return dict(attrs)


class PyObject:
    """A pyobject attribute's value as the store holds it: the pickle as base64 text. ``load()``
    unpickles it (only the engine does, with the graph's code loaded)."""

    __slots__ = ("data",)

    def __init__(self, data: str) -> None:
        self.data = data

    @classmethod
    def of(cls, obj: Any) -> PyObject:
        import pickle  # here: every cook imports this module, and most graphs hold no pyobject

        try:
            blob = pickle.dumps(obj, protocol=4)
        except Exception as exc:  # noqa: BLE001 - whatever pickling raises, the sentence is the same
            raise TypeError(f"a pyobject attribute must be picklable: {type(obj).__name__} is not ({exc})") from None
        return cls(base64.b64encode(blob).decode("ascii"))

    def load(self) -> Any:
        import pickle

        return pickle.loads(base64.b64decode(self.data))

    def __repr__(self) -> str:
        return f"PyObject(<{len(self.data) * 3 // 4} bytes pickled>)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PyObject) and self.data == other.data


class File:
    """A file: a path (relative to the project root, or absolute) and its tag; the one file object
    of the engine and of ``pdg.File`` (PDG's names: ``path``, ``tag``, ``hash``, ``size``, ``owned``,
    ``local_path``). ``hash``, ``size`` and ``mtime_ns`` are what the log recorded of the file (0
    when nothing was): a file attribute's value keeps them once the engine recorded its file
    (``[path, tag, size, mtime_ns, hash]``, ``engine.files.attrfiles``), so a File read from one and
    set again keeps its record; a signature hashes path, tag and hash, never the mtime. Two Files
    are equal when path and tag are."""

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
    if isinstance(value, PyObject):
        return "pyobject"
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


def unrecordable_part(value: Any, where: str = "") -> tuple[str, Any]:
    """Where in ``value`` (a dict of parameters, as ``recordable`` refused it) the part the log
    cannot hold is, written as the graph would reach it (``parms['x']``, ``env[0]``), and that part."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    for key, part in items:
        if not isinstance(key, (str, int)) or (isinstance(value, dict) and not isinstance(key, str)):
            return where or "a key", key
        here = f"{where}[{key!r}]" if where else str(key)
        try:
            recordable(part)
        except TypeError:
            return unrecordable_part(part, here)
    return where, value


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
    if kind == "file":  # with its record when it has one (a File read from a recorded value)
        if value.mtime_ns:
            return [value.path, value.tag, value.size, value.mtime_ns, value.hash]
        return [value.path, value.tag]
    if kind == "dict":
        return recordable(value, "a dict attribute")
    if kind == "pyobject":
        return value.data
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


def pyobject(obj: Any) -> list:
    """Any picklable object as a stored pyobject attribute (PDG's ``setPyObjectAttrib``)."""
    return ["pyobject", [PyObject.of(obj).data]]


def _file_of(value: list) -> File:
    """A file attribute's value as a ``File``, with its record when it has one."""
    f = File(value[0], value[1])
    if len(value) >= 5:
        f.size, f.mtime_ns, f.hash = value[2], value[3], value[4]
    return f


def value_of(attr: list, index: int = 0) -> Any:
    kind, v = attr[0], attr[1][index]
    if kind == "file":
        return _file_of(v)
    return PyObject(v) if kind == "pyobject" else v


def array_of(attr: list) -> list:
    kind, values = attr[0], attr[1]
    if kind == "file":
        return [_file_of(v) for v in values]
    return [PyObject(v) for v in values] if kind == "pyobject" else list(values)


def load_pyobject(value: Any) -> Any:
    """A value from ``value_of``/``array_of`` with a pyobject unpickled (the engine's side only)."""
    return value.load() if isinstance(value, PyObject) else value


def plain(attr: list) -> Any:
    """The attribute as a person reads it: a single value for an array of one, else a list."""
    values = array_of(attr)
    return values[0] if len(values) == 1 else values


def as_text(value: Any) -> str:
    if isinstance(value, File):
        return value.path
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, PyObject):
        return str(value.load())
    return str(value)


def frame_of(item) -> float | None:
    """The item's frame (its ``frame`` attribute, as PDG's job API reads it), None without one."""
    attr = item.attrs.get("frame")
    if attr is None or attr[0] not in ("int", "float") or not attr[1]:
        return None
    return attr[1][0]


def whole_word(word: str) -> str | None:
    """The attribute (or ``pdg_input``/``pdg_output``) a command word names whole, when it is only
    ``@name`` or ``pdgattribvals(name)``: such a word becomes one argument per value."""
    match = _REF.fullmatch(word)
    if match is None or match.group(0) == "\\@" or match.group(2) is not None or match.group(4) is not None:
        return None
    if match.group(0).startswith("$F"):
        return None
    if match.group(1) is not None and match.group(1) not in ("pdg_input", "pdg_output"):
        return None
    return match.group(1) or match.group(3)


def expand(text: str, *, item, node: str, parm: str, outputs: list | None = None, log: str | None = None) -> str:
    """Expand ``@attr`` references in ``text`` against ``item`` (anything with ``name``, ``index``,
    ``item_id``, ``attrs``, ``inputs`` and ``outputs``; ``outputs`` overrides the item's own list;
    ``log`` is what ``@pdg_log`` names); unknown names raise ExpansionError."""
    if "@" not in text and "$F" not in text and "pdgattribvals" not in text:
        return text
    return _REF.sub(lambda match: " ".join(_values(match, item, node, parm, outputs, log)), text)


def expand_words(text: str, *, item, node: str, parm: str, outputs=None, log=None) -> list[str]:
    """A command word expanded to its arguments: one per value when the word is only ``@pdg_input``,
    ``@pdg_output`` or ``pdgattribvals(name)`` (``wc -c @pdg_input`` counts every input file),
    else the one expanded word."""
    match = _REF.fullmatch(text)
    if match is not None and whole_word(text) is not None:
        return _values(match, item, node, parm, outputs, log)
    return [expand(text, item=item, node=node, parm=parm, outputs=outputs, log=log)]


def _values(match: re.Match, item, node: str, parm: str, outputs, log) -> list[str]:
    """What one reference stands for, as a list of words (a whole array, or one value)."""
    whole = match.group(0)
    if whole == "\\@":
        return ["@"]
    where = f"node {node}, item {item.name}, parameter {parm}"
    if whole.startswith("$F"):
        frame = frame_of(item)
        if frame is None:
            raise ExpansionError(f"{where}: {whole} needs a frame, and the item has no frame attribute")
        pad = match.group(4)
        if pad == "F":
            return [repr(float(frame))]
        return [str(int(round(frame))).zfill(int(pad) if pad else 0)]
    name, comp = match.group(1), match.group(2)
    if name is None:  # pdgattribvals(name)
        name = match.group(3)
        attr = item.attrs.get(name)
        if attr is None:
            raise ExpansionError(f"{where}: pdgattribvals({name}): no attribute {name!r}{_has(item)}")
        return [as_text(v) for v in array_of(attr)]
    index = 0 if comp is None else COMPONENTS.get(comp, None)
    if index is None:
        index = int(comp)
    if name in ("pdg_input", "pdg_output"):
        files = item.inputs if name == "pdg_input" else (item.outputs if outputs is None else outputs)
        if comp is None and files:
            return [f[0] for f in files]
        if index >= len(files):
            raise ExpansionError(
                f"{where}: @{name}{'.' + comp if comp else ''} refers to file {index} but the item has {len(files)}"
            )
        return [files[index][0]]
    if name.startswith("pdg_") and name in BUILTINS:
        return [_builtin(name, item, node, where, outputs, log)]
    attr = item.attrs.get(name)
    if attr is None:
        raise ExpansionError(f"{where}: no attribute {name!r}{_has(item)}")
    if index >= len(attr[1]):
        raise ExpansionError(f"{where}: @{name}.{comp} is out of range ({name} has {len(attr[1])} values)")
    return [as_text(value_of(attr, index))]


def _has(item) -> str:
    return f" (its attributes: {', '.join(sorted(item.attrs)) or 'none'})"


def _builtin(name: str, item, node: str, where: str, outputs, log) -> str:
    if name == "pdg_index":
        return str(item.index)
    if name == "pdg_name":
        return item.name
    if name == "pdg_id":
        return item.item_id
    if name == "pdg_node":
        return node
    if name == "pdg_inputsize":
        return str(len(item.inputs))
    if name == "pdg_outputsize":
        return str(len(item.outputs if outputs is None else outputs))
    if name == "pdg_frame":
        frame = frame_of(item)
        if frame is None:
            raise ExpansionError(f"{where}: @pdg_frame: the item has no frame attribute")
        return as_text(frame)
    if log is None:  # pdg_log
        raise ExpansionError(f"{where}: @pdg_log names a job's log, and only a command's job has one")
    return log
