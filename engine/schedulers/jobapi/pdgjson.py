"""PDG's high-level Job API (SideFX's ``pdgjson``): the job's work item with ``pdg.WorkItem``'s names.

``WorkItem.fromJobEnvironment()`` reads ``$PDG_TEMP/data/$PDG_ITEM_NAME.json`` (one file per item,
written by the scheduler before the job starts). Reading is local; every setter changes the local
copy and reports through ``pdgcmd`` (standalone, without a result server, it only prints). The
names, positional order and keywords are SideFX's (``docs/jobapi.md`` lists them with their status);
attribute objects (``work_item['x'].value()``, ``work_item.attrib('x')``), the enums
(``attribType``, ``attribFlag``, ``workItemState``, ``workItemType`` ...) and ``File`` included.
Standard library only: the scheduler copies this file into ``$PDG_TEMP/scripts`` next to the job.

Unlike SideFX's module, a report the engine refuses fails the job (``raise_exc`` is left on): the
engine never drops a job's report silently.
"""

from __future__ import annotations

import ast
import base64
import enum
import gzip
import json
import os
import sys
from collections.abc import Iterable

import pdgcmd
from pdgcmd import localizePath

# -- enums (SideFX's values) -------------------------------------------------------------------------


class attribType(enum.IntEnum):  # noqa: N801
    Undefined = -1
    Int = 0
    Float = 1
    String = 2
    File = 3
    PyObject = 4
    Geometry = 5
    Dict = 6


class attribFlag(enum.IntFlag):  # noqa: N801
    NoFlags = 0
    NoCopy = 0x0001
    EnvExport = 0x0002
    ReadOnly = 0x0004
    Internal = 0x0008
    Operator = 0x0010
    All = 0xFFFF


class fileType(enum.IntEnum):  # noqa: N801
    Generated = 0
    Expected = 1
    Runtime = 2
    RuntimeExpected = 3


class batchActivation(enum.IntEnum):  # noqa: N801
    First = 0
    Any = 1
    All = 2


class workItemState(enum.IntEnum):  # noqa: N801
    Undefined = 0
    Dirty = 1
    Uncooked = 2
    Waiting = 3
    Scheduled = 4
    Cooking = 5
    CookedSuccess = 6
    CookedCache = 7
    CookedFail = 8
    CookedCancel = 9


class workItemType(enum.IntEnum):  # noqa: N801
    Regular = 0
    Batch = 1
    Partition = 2


class workItemExecutionType(enum.IntEnum):  # noqa: N801
    Regular = 0
    LongRunning = 1
    Cleanup = 2


class workItemLogType(enum.IntEnum):  # noqa: N801
    Error = 0
    Warning = 1
    Message = 2
    Raw = 3


class workItemCookType(enum.IntEnum):  # noqa: N801
    Generate = 0
    InProcess = 1
    OutOfProcess = 2
    Service = 3
    Automatic = 4


#: the JSON's type names (the engine's) <-> attribType, and each one's wire kind for pdgcmd
TYPES = {"int": attribType.Int, "float": attribType.Float, "str": attribType.String, "file": attribType.File,
          "dict": attribType.Dict, "pyobject": attribType.PyObject}
KINDS = {v: k for k, v in TYPES.items()}
STATES = {"dirty": 1, "uncooked": 2, "waiting": 3, "scheduled": 4, "cooking": 5, "cooked_success": 6,
           "cooked_cache": 7, "cooked_fail": 8, "cooked_cancel": 9}


# -- module functions ------------------------------------------------------------------------------
def getTempDir():
    """$PDG_TEMP, or None (with an error line) when the job has none."""
    temp = os.environ.get("PDG_TEMP")
    if not temp:
        pdgcmd.printlog("ERROR: $PDG_TEMP must be in environment")
    return temp


def getWorkItemJsonPath(item_name):
    """Where the scheduler wrote the item's JSON (``.json.gz`` when that is there)."""
    temp = getTempDir()
    if not temp:
        return None
    root = os.path.expandvars(os.path.join(temp, "data", item_name))
    return root + ".json.gz" if os.path.exists(root + ".json.gz") else root + ".json"


def getPyAttribLoader():
    return os.environ.get("PDG_PYATTRIB_LOADER", "")


def getWorkItemDataSource():
    """0: the item comes from its JSON file; 1: from the result server (``getWorkItemJSON``)."""
    try:
        return int(os.environ.get("PDG_ITEM_DATA_SOURCE", 0))
    except ValueError:
        return 0


def getMemoryUsage():
    """This process's peak resident memory in bytes (0 where it cannot be read).

    On Linux, ``VmHWM`` of ``/proc/self/status``: the peak since this program started. A job is
    started by a cook or a worker of hundreds of MB, and ``ru_maxrss`` counts the pages the job
    shared with it until its exec, so a job of 10 MB said 300 MB. Elsewhere ``ru_maxrss`` (KiB, and
    bytes on macOS)."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (ImportError, OSError):
        return 0
    return peak if sys.platform == "darwin" else peak * 1024


def isIterable(obj):
    return isinstance(obj, Iterable) and not isinstance(obj, (str, bytes, bytearray, dict))


class AttribError(Exception):
    pass


class CookError(Exception):
    pass


class File:
    """``pdg.File``: ``path`` (absolute), ``local_path`` (path-mapped), ``tag``, ``hash``, ``owned``."""

    def __init__(self, path="", tag="", modtime=0, owned=False):
        self.path = path
        self.local_path = localizePath(path) if path else path
        self.tag = tag
        self.hash = modtime
        self.owned = owned
        self.size = 0
        self.type = fileType.Runtime

    @property
    def own(self):
        return self.owned

    def asTuple(self):
        return (self.path, self.tag, self.hash, self.owned)

    def asJSONValue(self):
        return {"data": self.path, "tag": self.tag, "hash": self.hash, "size": self.size, "own": self.owned,
                "type": int(self.type)}

    def __fspath__(self):
        return self.local_path

    def __eq__(self, other):
        return isinstance(other, File) and (self.path, self.tag) == (other.path, other.tag)

    def __hash__(self):
        return hash((self.path, self.tag))

    def __repr__(self):
        return f"<{self.path} tag='{self.tag}', owned={self.owned} at 0x{id(self):x}>"


# -- attributes ------------------------------------------------------------------------------------
class Attribute:
    """One attribute of a work item (PDG's ``AttributeArray``): ``value(i)``, ``values``, ``size``;
    ``setValue``/``setValues`` report the change."""

    _cast = {attribType.Int: int, attribType.Float: float, attribType.String: str, attribType.Dict: dict}

    def __init__(self, attrib_type, name, owner, values=()):
        self._attrib_type = attribType(attrib_type)
        self._name = name
        self._owner = owner
        self._data = list(values)
        self._attrib_flags = 0
        self._changed = False

    name = property(lambda self: self._name)
    type = property(lambda self: self._attrib_type)
    owner = property(lambda self: self._owner)
    flags = property(lambda self: self._attrib_flags)
    changed = property(lambda self: self._changed)
    builtin = property(lambda self: self._name.startswith("__pdg"))

    @property
    def size(self):
        return len(self)

    def __len__(self):
        return 1 if self._attrib_type == attribType.PyObject else len(self._data)

    def __getitem__(self, index):
        return self._data[index]

    def __setitem__(self, index, value):
        self.setValue(value, index)

    def __iter__(self):
        return iter(self._data)

    def hasFlag(self, flag):
        return bool(self._attrib_flags & int(flag))

    def hasFlags(self, flags):
        return (self._attrib_flags & int(flags)) == int(flags)

    def hasAnyFlags(self):
        return self._attrib_flags != 0

    def setFlag(self, flag):
        self._attrib_flags |= int(flag)

    def setFlags(self, flags):
        self._attrib_flags = int(flags)

    @property
    def values(self):
        if self._attrib_type == attribType.PyObject:
            return self.object
        return list(self._data)

    @property
    def object(self):
        """A Python object attribute's object (its repr read back as a literal; None if it is not one)."""
        if not self._data:
            return None
        try:
            return ast.literal_eval(self._data[0])
        except (ValueError, SyntaxError):
            return None

    def value(self, index=0):
        if self._attrib_type == attribType.PyObject:
            return self.object
        return self._data[index]

    def asNumber(self, index=0):
        v = self._data[index] if self._data else 0
        return v if isinstance(v, (int, float)) else 0

    def asString(self, index=0):
        v = self._data[index] if self._data else ""
        return v.path if isinstance(v, File) else str(v)

    def _check(self, value):
        if self._attrib_type == attribType.File:
            if not isinstance(value, File):
                raise AttribError("File attributes must be set to pdg.File values")
            return value
        if self._attrib_type == attribType.PyObject:
            return repr(value)
        return self._cast[self._attrib_type](value)

    def setValue(self, value, index=0):
        value = self._check(value)
        if self._attrib_type == attribType.PyObject:
            index = 0
        if index < 0:
            index += len(self._data) + 1
        default = File() if self._attrib_type == attribType.File else self._cast.get(self._attrib_type, str)()
        self._data.extend([default] * (index + 1 - len(self._data)))
        self._data[index] = value
        self._changed = True
        self._owner._report(self)

    def setValues(self, values):
        self._data = [self._check(v) for v in values]
        self._changed = True
        self._owner._report(self)

    def truncate(self, length):
        self._data = self._data[:length]
        self._changed = True
        self._owner._report(self)

    def asJSONValue(self):
        return [v.asJSONValue() for v in self._data] if self._attrib_type == attribType.File else list(self._data)

    def __repr__(self):
        return f"<Attribute {self._name} {self._attrib_type.name} {self._data!r}>"


class AttributeOwner:
    """Attribute access shared by a work item and its graph."""

    def __init__(self, expand_strings=False):
        self._expandStrings = expand_strings
        self._attributes = {}

    @property
    def shouldReportChanges(self):
        return False

    def _report(self, attrib):
        """An attribute changed: send it (work items do; the graph's stay local)."""

    def __getitem__(self, key):
        return self._attributes[key]

    def attrib(self, key, attrib_type=attribType.Undefined, initialized=True):
        attrib = self._attributes.get(key)
        if attrib is None or (attrib_type != attribType.Undefined and attrib.type != attrib_type):
            return None
        return attrib

    def attribNames(self, attrib_type=attribType.Undefined):
        return [n for n, a in self._attributes.items() if attrib_type in (attribType.Undefined, a.type)]

    def attribValues(self, attrib_type=attribType.Undefined):
        return {n: self._attributes[n].values for n in self.attribNames(attrib_type)}

    def attribHash(self, include_internal=True):
        h = 0
        for name, attrib in self._attributes.items():
            if include_internal or not attrib.hasFlag(attribFlag.Internal):
                h ^= hash(name) ^ hash(repr(attrib.values)) ^ hash(attrib.flags)
        return h

    def addAttrib(self, key, attrib_type, initialized=True):
        attrib = self._attributes.get(key)
        if attrib is None:
            if int(attrib_type) not in (0, 1, 2, 3, 4, 6):
                raise AttribError("Unsupported attribute type")
            attrib = self._attributes[key] = Attribute(attrib_type, key, self)
        elif attrib.type != attrib_type:
            # the engine's in-process items and its result server refuse with the same sentence
            # (pdgstore.engine.pdgapi.setters.different_type), naming the item where there is one
            old, new = attrib.type.name.lower(), attribType(attrib_type).name.lower()
            clause = f"an attribute with the name {key!r} already exists with a different type ({old}, not {new})"
            owner = self._owner_name()
            raise AttribError(f"work item {owner}: {clause}" if owner else clause[0].upper() + clause[1:])
        return attrib

    def _owner_name(self):
        """The work item whose attributes these are, for a refusal's sentence ('' for the graph's)."""
        return ""

    def hasAttrib(self, key):
        return key in self._attributes

    def attribType(self, name):
        attrib = self.attrib(name)
        return attribType.Undefined if attrib is None else attrib.type

    def _value(self, name, index, attrib_type):
        attrib = self.attrib(name, attrib_type)
        if attrib is None:
            return None
        if attrib.type == attribType.PyObject:
            return attrib.object
        if not -len(attrib._data) <= index < len(attrib._data):
            return None
        return attrib._data[index]

    def _values(self, name, attrib_type):
        attrib = self.attrib(name, attrib_type)
        return None if attrib is None else attrib.values

    def attribValue(self, name, index=0):
        return self._value(name, index, attribType.Undefined)

    def intAttribValue(self, name, index=0):
        return self._value(name, index, attribType.Int)

    def floatAttribValue(self, name, index=0):
        return self._value(name, index, attribType.Float)

    def stringAttribValue(self, name, index=0):
        return self._value(name, index, attribType.String)

    def fileAttribValue(self, name, index=0):
        return self._value(name, index, attribType.File)

    def dictAttribValue(self, name, index=0):
        return self._value(name, index, attribType.Dict)

    def pyObjectAttribValue(self, name):
        return self._value(name, 0, attribType.PyObject)

    def attribArray(self, name):
        return self._values(name, attribType.Undefined)

    def intAttribArray(self, name):
        return self._values(name, attribType.Int)

    def floatAttribArray(self, name):
        return self._values(name, attribType.Float)

    def stringAttribArray(self, name):
        return self._values(name, attribType.String)

    def fileAttribArray(self, name):
        return self._values(name, attribType.File)

    def dictAttribArray(self, name):
        return self._values(name, attribType.Dict)

    def _set(self, name, value, index, attrib_type):
        attrib = self.addAttrib(name, attrib_type)
        if isIterable(value) and attrib_type != attribType.PyObject:
            attrib.setValues(list(value))
        else:
            attrib.setValue(value, index)
        return True

    def setIntAttrib(self, name, value, index=0):
        return self._set(name, value, index, attribType.Int)

    def setFloatAttrib(self, name, value, index=0):
        return self._set(name, value, index, attribType.Float)

    def setStringAttrib(self, name, value, index=0):
        return self._set(name, value, index, attribType.String)

    def setFileAttrib(self, name, value, index=0):
        if isinstance(value, (str, os.PathLike)) and not isinstance(value, File):
            value = File(os.fspath(value), "file")  # the engine's extension: a path is a File tagged "file"
        return self._set(name, value, index, attribType.File)

    def setDictAttrib(self, name, value, index=0):
        return self._set(name, value, index, attribType.Dict)

    def setPyObjectAttrib(self, name, value, index=0):
        return self._set(name, value, 0, attribType.PyObject)

    # the engine's earlier names (pdg.WorkItem's setters take a list for the whole array)
    def setIntAttribArray(self, name, values):
        return self._set(name, list(values), 0, attribType.Int)

    def setFloatAttribArray(self, name, values):
        return self._set(name, list(values), 0, attribType.Float)

    def setStringAttribArray(self, name, values):
        return self._set(name, list(values), 0, attribType.String)

    def setFileAttribArray(self, name, values):
        return self._set(name, [v if isinstance(v, File) else File(os.fspath(v), "file") for v in values], 0,
                         attribType.File)

    def _load_attributes(self, attributes):
        for name, attr in attributes.items():
            kind = TYPES.get(attr["type"])
            if kind is None:
                continue
            values = attr["values"]
            if kind == attribType.File:
                values = [file_of(v) for v in values]
            elif kind == attribType.String and self._expandStrings:
                values = [localizePath(v) for v in values]
            self._attributes[name] = Attribute(kind, name, self, values)


def file_of(v):
    """A file value of the JSON: [path, tag] or a record {path, tag, size, hash}."""
    if isinstance(v, dict):
        f = File(v["path"], v.get("tag", "file"), v.get("hash", ""), v.get("own", False))
        f.size = v.get("size", 0)
        return f
    return File(v[0], v[1] if len(v) > 1 else "file")


class Graph(AttributeOwner):
    """The graph's attributes (the engine sends none yet: an empty owner)."""


from pdgitem import WorkItem, applyEnvironment, applyWedges, printHoudiniInfo  # noqa: E402,F401
from pdgitem import (  # noqa: E402,F401
    floatData,
    floatDataArray,
    hasFloatData,
    hasIntData,
    hasStrData,
    intData,
    intDataArray,
    strData,
    strDataArray,
)

__all__ = ["File", "WorkItem", "attribFlag", "attribType", "workItemState", "workItemType", "base64", "gzip",
           "json", "sys"]
