"""PDG's high-level Job API: the job's work item, read from ``$PDG_TEMP/data/<item name>.json``,
with ``pdg.WorkItem``'s names; setters change the local copy and report through ``pdgcmd``.

Standard library only: the scheduler copies this file into ``$PDG_TEMP/scripts`` next to the job.
One file per item (PDG names a single ``workitem.json``) so parallel jobs never share one.
"""

from __future__ import annotations

import json
import os

import pdgcmd


class File:
    """An input/output file or a file attribute value, as ``pdg.File``: ``path`` is absolute."""

    __slots__ = ("path", "local_path", "tag", "hash", "size", "own")

    def __init__(self, path: str, tag: str = "file", hash: str = "", size: int = 0, own: bool = False) -> None:
        self.path = path
        self.local_path = pdgcmd.localizePath(path)
        self.tag = tag
        self.hash = hash
        self.size = size
        self.own = own

    def __repr__(self) -> str:
        return f"File({self.path!r}, {self.tag!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, File) and (self.path, self.tag) == (other.path, other.tag)

    def __fspath__(self) -> str:
        return self.local_path


class WorkItem:
    """A job's view of its work item: attributes, input and output files, name, index and frame."""

    def __init__(self, data: dict) -> None:
        self._data = data
        self.id = data["id"]
        self.name = data["name"]
        self.index = data["index"]
        self.node = data.get("node", "")
        self._attrs = {k: [v["type"], list(v["values"])] for k, v in data.get("attributes", {}).items()}
        self._inputs = [self._file(f) for f in data.get("inputFiles", [])]
        self._outputs = [self._file(f) for f in data.get("outputFiles", [])]

    @classmethod
    def fromJobEnvironment(cls, item_name: str | None = None) -> "WorkItem":
        """The item this job cooks, from ``$PDG_TEMP/data/$PDG_ITEM_NAME.json``."""
        name = item_name or os.environ.get("PDG_ITEM_NAME")
        if not name or not os.environ.get("PDG_TEMP"):
            raise RuntimeError("pdgjson: PDG_ITEM_NAME and PDG_TEMP must be set: was this job started by PDG?")
        data = pdgcmd.load_item_data(name)
        if data is None:
            path = os.path.join(os.environ["PDG_TEMP"], "data", f"{name}.json")
            raise FileNotFoundError(f"pdgjson: work item file {path} does not exist")
        return cls(data)

    @classmethod
    def fromFile(cls, path: str) -> "WorkItem":
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f))

    @staticmethod
    def _file(rec: dict) -> File:
        return File(rec["path"], rec.get("tag", "file"), rec.get("hash", ""), rec.get("size", 0))

    def __repr__(self) -> str:
        return f"<WorkItem {self.name} ({self.id})>"

    # -- reading ---------------------------------------------------------------------------------
    @property
    def frame(self) -> float:
        """The item's frame: its ``frame`` attribute, 0.0 when it has none (as PDG)."""
        attr = self._attrs.get("frame")
        return float(attr[1][0]) if attr and attr[0] in ("int", "float") and attr[1] else 0.0

    @property
    def hasFrame(self) -> bool:
        return "frame" in self._attrs

    @property
    def inputFiles(self) -> list[File]:
        return list(self._inputs)

    @property
    def outputFiles(self) -> list[File]:
        return list(self._outputs)

    @property
    def attribNames(self) -> list[str]:
        return sorted(self._attrs)

    def hasAttrib(self, name: str) -> bool:
        return name in self._attrs

    def attribType(self, name: str) -> str | None:
        attr = self._attrs.get(name)
        return attr[0] if attr else None

    def attribArray(self, name: str) -> list | None:
        """All values of the attribute (``File`` objects for a file attribute), None if absent."""
        attr = self._attrs.get(name)
        if attr is None:
            return None
        kind, values = attr
        return [File(v[0], v[1]) for v in values] if kind == "file" else list(values)

    def attribValue(self, name: str, index: int = 0):
        """The value at ``index``, None when the item has no such attribute or index (as PDG)."""
        values = self.attribArray(name)
        if values is None or not 0 <= index < len(values):
            return None
        return values[index]

    def _typed(self, name: str, index: int, kind: str):
        attr = self._attrs.get(name)
        if attr is None or attr[0] != kind:
            return None
        return self.attribValue(name, index)

    def stringAttribValue(self, name: str, index: int = 0) -> str | None:
        return self._typed(name, index, "str")

    def intAttribValue(self, name: str, index: int = 0) -> int | None:
        return self._typed(name, index, "int")

    def floatAttribValue(self, name: str, index: int = 0) -> float | None:
        return self._typed(name, index, "float")

    def fileAttribValue(self, name: str, index: int = 0) -> File | None:
        return self._typed(name, index, "file")

    def dictAttribValue(self, name: str, index: int = 0) -> dict | None:
        return self._typed(name, index, "dict")

    def __getitem__(self, name: str):
        return self.attribValue(name)

    # -- writing (reported to the engine) --------------------------------------------------------
    @staticmethod
    def batch():
        """``with work_item.batch():`` sends the reports made inside in one round trip (see pdgcmd.batch)."""
        return pdgcmd.batch()

    def _set_at(self, name: str, kind: str, value, index: int) -> None:
        if index < 0:
            raise IndexError(f"pdgjson: attribute {name!r}: index {index} is negative")
        attr = self._attrs.get(name)
        values = list(attr[1]) if attr and attr[0] == kind else []
        values.extend([pdgcmd.ATTRIB_DEFAULTS[kind]] * (index + 1 - len(values)))
        values[index] = value
        self._set_array(name, kind, values)

    def _set_array(self, name: str, kind: str, values: list) -> None:
        pdgcmd.send_attrib(name, kind, values, self.id)
        self._attrs[name] = [kind, values]

    def setStringAttrib(self, name: str, value, index: int = 0) -> None:
        self._set_at(name, "str", str(value), index)

    def setIntAttrib(self, name: str, value, index: int = 0) -> None:
        self._set_at(name, "int", int(value), index)

    def setFloatAttrib(self, name: str, value, index: int = 0) -> None:
        self._set_at(name, "float", float(value), index)

    def setFileAttrib(self, name: str, path, index: int = 0, tag: str = "file") -> None:
        self._set_at(name, "file", [pdgcmd.localize_abs(path), getattr(path, "tag", tag)], index)

    def setDictAttrib(self, name: str, value: dict, index: int = 0) -> None:
        self._set_at(name, "dict", dict(value), index)

    def setStringAttribArray(self, name: str, values) -> None:
        self._set_array(name, "str", [str(v) for v in values])

    def setIntAttribArray(self, name: str, values) -> None:
        self._set_array(name, "int", [int(v) for v in values])

    def setFloatAttribArray(self, name: str, values) -> None:
        self._set_array(name, "float", [float(v) for v in values])

    def setFileAttribArray(self, name: str, paths, tag: str = "file") -> None:
        self._set_array(name, "file", [[pdgcmd.localize_abs(p), getattr(p, "tag", tag)] for p in paths])

    def addOutputFile(self, path, tag: str = "", hash_code="", own: bool = False) -> None:
        self.addOutputFiles([path], tag, [hash_code], own)

    def addOutputFiles(self, paths, tags="", hash_codes=None, own: bool = False) -> None:
        paths = [pdgcmd.localize_abs(p) for p in paths]
        pdgcmd.addOutputFiles(paths, tags, hash_codes, self.id)
        tags = [tags] * len(paths) if isinstance(tags, str) else list(tags)
        hashes = list(hash_codes) if hash_codes is not None else [""] * len(paths)
        self._outputs.extend(File(p, t or "file", "" if h in (None, 0) else str(h), own=own)
                             for p, t, h in zip(paths, tags, hashes))
