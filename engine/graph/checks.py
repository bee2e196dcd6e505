"""The type checks of a node's parameters, made where a graph file declares the node.

A parameter of the wrong type (``graph.range_generate("x", "ten")``) is refused as the node is
declared, in one sentence that names the node, the parameter and what it takes; the loader adds the
graph file and the line (``m.py:4: range generator x: count is a whole number, not 'ten'``). Never
a ``ValueError`` from ``int()`` mid-way, nor a ``TypeError`` when the cook first compares it.

``what`` is how the node is named in the sentence: its kind and name (``"range generator x"``).
Each check returns the value (a list, for ``texts``) so a constructor can check and keep in one line.
"""

from __future__ import annotations

import inspect
import os
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

from pdgstore.engine.errors import GraphError


def whole(what: str, parm: str, value: Any, *, least: int | None = None, none: bool = False) -> Any:
    """``value``, a whole number (at least ``least`` when given; None too when ``none``)."""
    if value is None and none:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or (least is not None and value < least):
        takes = "a whole number" + (f" >= {least}" if least is not None else "") + (" or None" if none else "")
        raise GraphError(f"{what}: {parm} is {takes}, not {value!r}")
    return value


def number(what: str, parm: str, value: Any, *, none: bool = False) -> Any:
    """``value``, an int or a float (None too when ``none``)."""
    if value is None and none:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GraphError(f"{what}: {parm} is a number{' or None' if none else ''}, not {value!r}")
    return value


def text(what: str, parm: str, value: Any, *, none: bool = False) -> Any:
    """``value``, a string (None too when ``none``)."""
    return _one(what, parm, value, str, none)


def texts(what: str, parm: str, value: Any) -> list[str]:
    """``value`` as a list of strings: one string (or path), or any iterable of them (not a mapping)."""
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    if isinstance(value, Iterable) and not isinstance(value, (dict, bytes)):
        values = list(value)
        if all(isinstance(v, (str, os.PathLike)) for v in values):
            return [v if isinstance(v, str) else os.fspath(v) for v in values]
    raise GraphError(f"{what}: {parm} is a string or a list of strings, not {value!r}")


def mapping(what: str, parm: str, value: Any, *, none: bool = False) -> Any:
    """``value``, a dict (None too when ``none``)."""
    return _one(what, parm, value, dict, none)


def _one(what: str, parm: str, value: Any, kind: type, none: bool) -> Any:
    if (value is None and none) or isinstance(value, kind):
        return value
    raise GraphError(f"{what}: {parm} is {_WORDS[kind]}{' or None' if none else ''}, not {value!r}")


#: the plain types a parameter's annotation may allow, and how a sentence says each
_WORDS = {
    bool: "True or False",
    int: "a whole number",
    float: "a number",
    str: "a string",
    dict: "a dict",
    list: "a list",
    type(None): "None",
}


def annotated(what: str, func: Callable, given: dict) -> None:
    """Refuse a name in ``given`` (keyword arguments for ``func``) that ``func`` does not take, and
    a value of a type ``func``'s annotation does not allow, for annotations made of plain types
    only (``int | None``, ``float``, ``str``, ``dict``...): a scheduler's parameters, checked where
    the graph file declares the scheduler. An annotation this cannot read is left to ``func``."""
    try:
        parms = inspect.signature(func).parameters
        hints = typing.get_type_hints(func)
    except Exception:  # noqa: BLE001  (a user's class may annotate with names it never imports)
        return
    named = [p.name for p in parms.values() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not any(p.kind is p.VAR_KEYWORD for p in parms.values()):
        for parm in given:
            if parm not in named:
                known = ", ".join(n for n in named if n not in ("self", "name"))
                raise GraphError(f"{what} has no parameter {parm} (its parameters: {known})")
    for parm, value in given.items():
        allowed = _plain(hints.get(parm))
        if allowed and not _fits(value, allowed):
            takes = " or ".join(_WORDS[t] for t in _WORDS if t in allowed and not (t is int and float in allowed))
            raise GraphError(f"{what}: {parm} is {takes}, not {value!r}")


def _plain(hint: Any) -> set | None:
    """The plain types ``hint`` allows, or None when it is anything else (Any, a class, Callable)."""
    if hint is None:
        return None
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    allowed = {typing.get_origin(a) or a for a in args}
    return allowed if allowed <= set(_WORDS) else None


def _fits(value: Any, allowed: set) -> bool:
    if isinstance(value, bool):
        return bool in allowed
    if isinstance(value, int):
        return int in allowed or float in allowed
    if isinstance(value, os.PathLike):  # a path where a string is taken (working_dir=Path(...))
        return str in allowed
    return any(isinstance(value, t) for t in allowed if t is not bool and t is not int)
