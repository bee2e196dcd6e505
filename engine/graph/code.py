"""What a node records of the Python functions it is given: a fingerprint of their code (and of
the code they call in the graph's own modules) and the plain values they read, so that editing
either counts as changing the node (``engine.incremental``)."""

from __future__ import annotations

import hashlib
import inspect
import marshal
import os
import sys
import sysconfig
from collections.abc import Callable
from typing import Any

_PLAIN = (int, float, str, bool, type(None))


def _is_plain(value) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, (list, tuple)):
        return len(value) <= 64 and all(isinstance(v, _PLAIN) for v in value)
    return False


def _referenced(func: Callable) -> dict[str, Any]:
    """The names a function reads from its module and its closure, with their values."""
    code = getattr(func, "__code__", None)
    if code is None:
        return {}
    out = {}
    names = set(code.co_names)
    for const in code.co_consts:  # names read by nested functions and comprehensions
        if hasattr(const, "co_names"):
            names.update(const.co_names)
    module_globals = getattr(func, "__globals__", {})
    for name in sorted(names):
        if name in module_globals:
            out[name] = module_globals[name]
    for name, cell in zip(code.co_freevars, func.__closure__ or ()):
        try:
            out[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    return out


def code_fingerprint(func: Callable, _seen: set | None = None, _folders: tuple[str, ...] | None = None) -> str:
    """A hash of a function's source (or bytecode when the source cannot be read), of the
    functions of its own module and of the project's local modules that it calls, and of the
    source of a local module it uses by name (``import helper``; ``helper.scale(n)``), so editing
    a helper, here or in a module beside the graph file, counts as editing the code. Modules of
    Python itself, of installed packages and of pdgstore are not the project's: not followed.
    (``_folders``: those packages' folders, found once per fingerprint, not per module it meets:
    ``sys.path`` may change between two.)"""
    seen = _seen if _seen is not None else set()
    folders = _folders if _folders is not None else _not_local()
    seen.add(id(func))
    try:
        data = inspect.getsource(func).encode()
    except (OSError, TypeError):
        data = marshal.dumps(func.__code__) if hasattr(func, "__code__") else repr(func).encode()
    h = hashlib.sha256(data)
    module = getattr(func, "__module__", None)
    for name, value in _referenced(func).items():
        if id(value) in seen:
            continue
        if inspect.isfunction(value) and (
            value.__module__ == module or _local(sys.modules.get(value.__module__), folders)
        ):
            h.update(f"{name}:{code_fingerprint(value, seen, folders)}".encode())
        elif inspect.ismodule(value) and _local(value, folders):
            seen.add(id(value))
            h.update(f"{name}:{_source_hash(value)}".encode())
    return h.hexdigest()[:16]


def _local(module, folders: tuple[str, ...] | None = None) -> bool:
    """Whether ``module`` is one of the project's own (a ``.py`` file outside Python's and the
    installed packages' folders, ``folders`` when the caller found them, and not pdgstore's): its
    code is part of what a node runs."""
    path = getattr(module, "__file__", None)
    if not path or not path.endswith(".py") or module.__name__.split(".")[0] in _OURS:
        return False
    path = os.path.realpath(path)
    return not any(path.startswith(folder) for folder in (folders if folders is not None else _not_local()))


#: pdgstore's packages (and PDG's API modules it provides): never the project's code
_OURS = {"pdgstore", "pdg", "pdgd"}


def _not_local() -> tuple[str, ...]:
    """Python's own library and the folders packages are installed in (this environment's, the
    system's and the user's)."""
    paths = sysconfig.get_paths()
    folders = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    folders.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    return tuple(os.path.realpath(f).rstrip(os.sep) + os.sep for f in folders if f)


def _source_hash(module) -> str:
    try:
        with open(module.__file__, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()[:16]
    except OSError:
        return ""


def func_fingerprint(func: Callable | None) -> str:
    """What a library node records of a function it is given (a filter's, a sort key, a partition
    expression): its code and the plain values it reads (``plain_reads``), so that changing a graph
    parameter the function reads changes the node's definition, as editing its code does. Without
    that, the recook shortcuts (``engine.incremental.noop``) would keep what it decided before."""
    if func is None:
        return ""
    reads = plain_reads(func)
    code = code_fingerprint(func)
    if not reads:
        return code
    return code + ":" + hashlib.sha256(repr(sorted(reads.items())).encode()).hexdigest()[:16]


def plain_reads(func: Callable) -> dict[str, Any]:
    """The plain values (numbers, strings, short lists of them) a function reads from its module or
    closure, such as a graph parameter assigned at the top of the graph file: changing one is
    changing the function's behaviour, so it is part of the node's definition."""
    return {
        name: list(v) if isinstance(v, tuple) else v
        for name, v in _referenced(func).items()
        if _is_plain(v) and not name.startswith("__")
    }
