"""PDG's typed attribute setters (``setIntAttrib(name, value, index)`` ...), one rule for every
in-process holder of a work item: a python processor's own item, ``pdg.WorkItem`` over it and
``work_item`` in ``python_script(code=)``, a scheduler's ``onSchedule`` item, an attribute object's
``setValue``. The rule is PDG's and the job-side ``pdgjson``'s (which a job imports on its own and so
keeps its own copy): a list sets the whole array, an index past the end pads with the type's
default, and an attribute of another type is refused, not retyped; the result server refuses a
job's ``pdgcmd`` set of another type with the same sentence (``engine.cook.intake``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from pdgstore.engine.graph import attribs
from pdgstore.engine.graph.attribs import File


class AttribError(TypeError):
    """PDG's ``AttribError``: a typed set (``setStringAttrib`` ...) of an attribute that already has
    another type. PDG's ``addAttrib`` refuses it rather than retype the attribute; so do a job's
    ``pdgjson`` and the result server, with the same sentence (``different_type``)."""


def different_type(item: str | None, name: str, old: str, new: str) -> str:
    """The one sentence a set of ``name`` as ``new`` is refused with when it is ``old`` (the
    engine's type words: int, float, string, file, dict, pyobject), wherever the set was made;
    ``item`` None: the clause without the item (for an error that names it already)."""
    clause = f"an attribute with the name {name!r} already exists with a different type ({old}, not {new})"
    return clause if item is None else f"work item {item}: {clause}"


#: each type PDG's typed setters set, and what an index past an array's end pads it with (PDG's
#: and pdgjson's: the type's own default, so ``setIntAttrib('a', 9, 2)`` on no ``a`` gives [0, 0, 9])
DEFAULTS: dict[str, Any] = {"int": 0, "float": 0.0, "string": "", "file": File(""), "dict": {}}


def one_value(kind: str, value) -> Any:
    """``value`` as an attribute of ``kind`` holds it (PDG's setters convert as ``int()`` ... do)."""
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "string":
        return str(value)
    if kind == "file":
        return value if isinstance(value, File) else File(os.fspath(value))
    if not isinstance(value, dict):
        raise TypeError(f"a dict attribute's value is a dict, not {type(value).__name__}")
    return dict(value)


def whole_array(value) -> bool:
    """Whether a setter's ``value`` is the whole array (pdgjson's ``isIterable``): any iterable but
    text and a dict."""
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes, bytearray, dict))


def typed_set(item: str, attr: list | None, name: str, kind: str, value, index: int = 0) -> list:
    """PDG's ``set<Type>Attrib(name, value, index)`` on work item ``item`` whose attribute ``name``
    is ``attr`` (None: it has none): the attribute's whole new array of ``kind`` (a ``DEFAULTS``
    key). A list (any iterable but text or a dict) is the whole array; one value sets ``index``, an
    index past the end padding with the type's default. One rule for every in-process item (a python
    processor's, ``python_script(code=)``'s, a scheduler's) as in a job's ``pdgjson``: an attribute
    of another type is refused (``AttribError``), not retyped, and a value that is not of ``kind``
    fails with a sentence naming the item and the attribute."""
    if attr is not None and attr[0] != kind:
        raise AttribError(different_type(item, name, attr[0], kind))
    try:
        if whole_array(value):
            return [one_value(kind, v) for v in value]
        value = one_value(kind, value)
    except (TypeError, ValueError) as exc:
        kind_of = TypeError if isinstance(exc, TypeError) else ValueError
        raise kind_of(f"work item {item}, attribute {name!r}: {exc}") from None
    if index < 0:
        raise IndexError(f"work item {item}, attribute {name!r}: index {index} is negative")
    values = attribs.array_of(attr) if attr is not None else []
    values.extend([DEFAULTS[kind]] * (index + 1 - len(values)))
    values[index] = value
    return values
