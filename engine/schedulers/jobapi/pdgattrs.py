"""The Job API's attribute calls (SideFX's ``pdgcmd.set*Attrib*``), offered by ``pdgcmd`` itself.

Part of the job-side modules, standard library only. An indexed setter keeps the job's view of the
whole array (from the item's JSON, then from what the job set) and sends the whole array: the
engine records an attribute as one event, never a patch.
"""

from __future__ import annotations

import json
import os

import pdgcmd
from pdgcmd import XMLRPC_INT_MAX, XMLRPC_INT_MIN, invoke, item_of, refused, say, status_of, wire_path, report_key

_DEFAULTS = {"int": 0, "float": 0.0, "str": "", "file": ["", "file"], "dict": {}, "pyobject": ""}
attrib_arrays = pdgcmd.attrib_arrays  # the job's view of each attribute set so far (pdgcmd.reset clears it)

def wire_value(kind: str, value):
    """``value`` as XML-RPC carries it: ints outside 32 bits travel as decimal text."""
    if kind == "int":
        value = int(value)
        return value if XMLRPC_INT_MIN <= value <= XMLRPC_INT_MAX else str(value)
    if kind == "float":
        return float(value)
    if kind == "file":
        if isinstance(value, (list, tuple)):
            path, tag = value[0], value[1] if len(value) > 1 else "file"
        else:
            path, tag = getattr(value, "path", value), getattr(value, "tag", "file")
        return [wire_path(path), str(tag or "file")]
    if kind == "dict":
        return _as_dict(value)
    return str(value)


def _as_dict(value) -> dict:
    """SideFX's jobs send a dict's ``str()``; a dict or its literal text are both taken."""
    if isinstance(value, dict):
        return dict(value)
    import ast

    parsed = ast.literal_eval(str(value))
    if not isinstance(parsed, dict):
        raise TypeError(f"pdgcmd: {value!r:.80} is not a dictionary")
    return parsed


def send_attrib(name: str, kind: str, values: list, workitem_id=None, subindex=-1, server_addr=None,
                raise_exc=True) -> None:
    """Set attribute ``name`` of the item to the whole array ``values`` (of ``kind``)."""
    item = item_of(workitem_id)
    try:
        wire = [wire_value(kind, v) for v in values]
    except (TypeError, ValueError, SyntaxError) as exc:
        return refused(f"pdgcmd: attribute {name!r} cannot be sent: {exc}", raise_exc, item)
    say(f"PDG_SET_ATTRIB: {status_of(item, subindex)};{name};{values!r:.200}")
    attrib_arrays[_cache_key(name, subindex)] = list(values)
    invoke("set_attrib", report_key(item, subindex), str(name), kind, wire, what=f"attribute {name!r}",
            server_addr=server_addr, raise_exc=raise_exc)


def _cache_key(name: str, subindex):
    """Where the job's view of an attribute is kept: a batch's sub-items each have their own."""
    return name if subindex is None or int(subindex) < 0 else (name, int(subindex))


def _job_attrib(name: str, kind: str, subindex=-1) -> list:
    """The attribute's values from this job's item file (a batch's sub-item's: its entry in
    ``subItems``), when it has one and the types agree."""
    data = _item_data_once() or {}
    subs = data.get("subItems") or []
    if subindex is not None and 0 <= int(subindex) < len(subs):
        data = subs[int(subindex)]
    attr = data.get("attributes", {}).get(name)
    return attr["values"] if attr and attr["type"] == kind else []


def load_item_data(item_name: str | None = None) -> dict | None:
    """The job's serialized work item (``$PDG_TEMP/data/<name>.json``), or None when there is none."""
    name = item_name or os.environ.get("PDG_ITEM_NAME")
    temp = os.environ.get("PDG_TEMP")
    if not name or not temp:
        return None
    try:
        with open(os.path.join(temp, "data", f"{name}.json"), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _item_data_once() -> dict | None:
    """``load_item_data()`` read once per job: the file is written before the job starts, and from
    the first value an indexed setter sends, the job's view of that attribute is ``attrib_arrays``.
    (Read for every new attribute, its open and parse were a good part of a report's cost.)"""
    files = pdgcmd.item_files
    if "job" not in files:  # one job, one item file: kept as ``attrib_arrays`` is, until ``pdgcmd.reset``
        files["job"] = load_item_data()
    return files["job"]


def _set_at(name, kind, value, index, workitem_id, subindex, server_addr, raise_exc) -> None:
    if isinstance(value, (list, tuple)) and kind != "file":  # PDG takes a list as the whole array
        return send_attrib(name, kind, list(value), workitem_id, subindex, server_addr, raise_exc)
    index = int(index)
    if index < 0:
        raise IndexError(f"pdgcmd: attribute {name!r}: index {index} is negative")
    cached = _cache_key(name, subindex)
    if cached not in attrib_arrays:
        attrib_arrays[cached] = list(_job_attrib(name, kind, subindex))
    values = list(attrib_arrays[cached])
    values.extend([_DEFAULTS[kind]] * (index + 1 - len(values)))
    values[index] = value
    send_attrib(name, kind, values, workitem_id, subindex, server_addr, raise_exc)


def setStringAttrib(attr_name, attr_value, attr_index=0, workitem_id=None, subindex=-1, server_addr=None,
                    raise_exc=True):
    """Sets the string attribute's value at ``attr_index`` (a list sets the whole array)."""
    _set_at(attr_name, "str", attr_value if isinstance(attr_value, (list, tuple)) else str(attr_value),
            attr_index, workitem_id, subindex, server_addr, raise_exc)


def setIntAttrib(attr_name, attr_value, attr_index=0, workitem_id=None, subindex=-1, server_addr=None,
                 raise_exc=True):
    _set_at(attr_name, "int", attr_value, attr_index, workitem_id, subindex, server_addr, raise_exc)


def setFloatAttrib(attr_name, attr_value, attr_index=0, workitem_id=None, subindex=-1, server_addr=None,
                   raise_exc=True):
    _set_at(attr_name, "float", attr_value, attr_index, workitem_id, subindex, server_addr, raise_exc)


def setFileAttrib(attr_name, attr_value, attr_index=0, workitem_id=None, subindex=-1, server_addr=None,
                  raise_exc=True):
    """``attr_value``: a path, a ``pdgjson.File`` or its ``asTuple()`` (path, tag, hash, owned)."""
    _set_at(attr_name, "file", attr_value, attr_index, workitem_id, subindex, server_addr, raise_exc)


def setDictAttrib(attr_name, attr_value, attr_index=0, workitem_id=None, subindex=-1, server_addr=None,
                  raise_exc=True):
    """``attr_value``: a dict, or its ``str()`` as SideFX's jobs send it."""
    _set_at(attr_name, "dict", attr_value, attr_index, workitem_id, subindex, server_addr, raise_exc)


def setStringAttribArray(attr_name, attr_value, workitem_id=None, subindex=-1, server_addr=None, raise_exc=True):
    send_attrib(attr_name, "str", [str(v) for v in attr_value], workitem_id, subindex, server_addr, raise_exc)


def setIntAttribArray(attr_name, attr_value, workitem_id=None, subindex=-1, server_addr=None, raise_exc=True):
    send_attrib(attr_name, "int", [int(v) for v in attr_value], workitem_id, subindex, server_addr, raise_exc)


def setFloatAttribArray(attr_name, attr_value, workitem_id=None, subindex=-1, server_addr=None, raise_exc=True):
    send_attrib(attr_name, "float", [float(v) for v in attr_value], workitem_id, subindex, server_addr, raise_exc)


def setFileAttribArray(attr_name, attr_value, workitem_id=None, subindex=-1, server_addr=None, raise_exc=True):
    send_attrib(attr_name, "file", list(attr_value), workitem_id, subindex, server_addr, raise_exc)


def setDictAttribArray(attr_name, attr_value, workitem_id=None, subindex=-1, server_addr=None, raise_exc=True):
    send_attrib(attr_name, "dict", list(attr_value), workitem_id, subindex, server_addr, raise_exc)


def setPyObjectAttrib(attr_name, attr_value, workitem_id=None, subindex=-1, server_addr=None, raise_exc=True):
    """``attr_value``: the ``repr()`` of a Python object (literals: read back with ``ast.literal_eval``)."""
    send_attrib(attr_name, "pyobject", [str(attr_value)], workitem_id, subindex, server_addr, raise_exc)


def writeAttribute(attr_name, attr_value, item_name=None, server_addr=None, raise_exc=True):
    """[Deprecated] Sets an attribute from a value or a list of str, int or float."""
    pdgcmd.printlog("writeAttribute is deprecated, please use the set*Attrib functions")
    values = list(attr_value) if isinstance(attr_value, (list, tuple)) else [attr_value]
    if not values:
        raise TypeError("attr_value is invalid")
    kind = "str" if isinstance(values[0], str) else "float" if isinstance(values[0], float) else "int"
    send_attrib(attr_name, kind, values, item_name, -1, server_addr, raise_exc)
