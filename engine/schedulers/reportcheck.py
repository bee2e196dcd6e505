"""What a job may report, checked before anything is recorded: names, types, sizes and paths.

Nothing a job sends over the result server is trusted. Every value is checked here against what the
log can hold (64-bit ints, strings under a size limit, plain dicts, paths inside the project) and a
refusal is a ``Refused`` carrying the fault code and one sentence the job prints. Kept apart from
the transport (``rpchttp``) and the calls (``jobcalls``) so the rules read in one place.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from pdgstore.engine.files.confine import Confine

KINDS = ("int", "float", "str", "file", "dict", "pyobject")

# Fault codes a job may see (pdgcmd prints the fault's text).
FAULT_AUTH = 401
FAULT_TOO_LARGE = 413
FAULT_ENCODING = 415
FAULT_NOT_COOKING = 404
FAULT_INVALID = 422
FAULT_REFUSED = 409  # the sink refused the effect (ValueError)
FAULT_STOPPED = 410

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}\Z")
_INT_TEXT = re.compile(r"-?[0-9]{1,19}\Z")
_INT64 = (-(1 << 63), (1 << 63) - 1)
SHORT = 1024  # tags, hashes, report numbers: anything longer is not one


class Refused(Exception):
    """A call refused before it changed anything: the job gets a Fault of ``code`` with ``message``,
    and the cook a warning (about ``item_id`` when the call named a cooking item)."""

    def __init__(self, code: int, message: str, item_id: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.item_id = code, message, item_id


class ReportChecker:
    """The checks of one cook's result server: its project, string limit and path rules."""

    def __init__(
        self,
        project_dir: str,
        *,
        allow_outside: bool,
        max_string: int,
        path_map: Callable[[str], str] | None = None,
        working_dirs: tuple[str, ...] = (),
    ) -> None:
        self.project_dir = project_dir
        self._project_real = os.path.realpath(project_dir)
        #: the project, and the working folders its schedulers declared: where outputs may be
        self._confine = Confine(project_dir, tuple(working_dirs))
        self.allow_outside = allow_outside
        self.max_string = max_string
        #: rewrites a path a job reports (as its machine sees it) into the cook's (a dask path map)
        self.path_map = path_map

    def value(self, item_id: str, name: str, kind: str, v: object) -> object:
        """One value of attribute ``name`` of type ``kind``, as the log will hold it."""
        bad = Refused(
            FAULT_INVALID, f"result server: attribute {name} is {kind}, but a value is {describe(v)}", item_id
        )
        if kind == "int":
            if isinstance(v, str) and _INT_TEXT.match(v):
                v = int(v)  # pdgcmd sends ints beyond XML-RPC's 32 bits as text
            if not isinstance(v, int) or isinstance(v, bool):
                raise bad
            if not _INT64[0] <= v <= _INT64[1]:
                raise Refused(FAULT_INVALID, f"result server: attribute {name}: {v} does not fit in 64 bits", item_id)
            return v
        if kind == "float":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise bad
            return float(v)
        if kind == "str":
            if not isinstance(v, str):
                raise bad
            return self.string(item_id, f"attribute {name}", v)
        if kind == "file":
            if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)):
                raise Refused(
                    FAULT_INVALID,
                    f"result server: attribute {name}: a file value is [path, tag], not {describe(v)}",
                    item_id,
                )
            return [self.path(item_id, v[0]), self.short(item_id, f"attribute {name}: tag", v[1])]
        if kind == "pyobject":  # a Python object's repr (pdgcmd.setPyObjectAttrib), kept as text
            if not isinstance(v, str):
                raise bad
            return self.string(item_id, f"attribute {name}", v)
        if not isinstance(v, dict) or not plain(v):
            raise Refused(
                FAULT_INVALID,
                f"result server: attribute {name} is dict, but a value is {describe(v)}"
                " (dicts hold strings, numbers, booleans, nil, arrays and dicts)",
                item_id,
            )
        return v

    def string(self, item_id: str, what: str, v: str) -> str:
        size = len(v.encode("utf-8", "surrogatepass"))
        if size > self.max_string:
            raise Refused(
                FAULT_TOO_LARGE,
                f"result server: {what}: a string of {size} bytes is refused (the limit is {self.max_string})",
                item_id,
            )
        return v

    def short(self, item_id: str, what: str, v: object) -> str:
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str) or len(v) > SHORT:
            raise Refused(
                FAULT_INVALID,
                f"result server: {what} must be a string of at most {SHORT} characters, not {describe(v)}",
                item_id,
            )
        return v

    def path(self, item_id: str, path: str) -> str:
        """``path`` relative to the project (absolute when outside and allowed), or refused."""
        if not path or "\0" in path or len(path) > 4096:
            raise Refused(FAULT_INVALID, f"result server: {path!r:.200} is not a file path", item_id)
        if path.startswith("__PDG_DIR__"):  # pdgcmd.delocalizePath: the project folder, wherever the job ran
            path = self.project_dir + path[len("__PDG_DIR__") :]
        elif self.path_map is not None:
            path = self.path_map(path)
        full = os.path.normpath(os.path.join(self.project_dir, path))
        for base in (self.project_dir, self._project_real):
            rel = os.path.relpath(full, base)
            if rel == ".":
                raise Refused(FAULT_INVALID, f"result server: {path} is the project folder, not a file", item_id)
            if rel != os.pardir and not rel.startswith(os.pardir + os.sep):
                # inside by its name; resolved (symlinks included), it must stay inside too
                problem = self._confine.problem(full)
                if not problem or self.allow_outside:
                    return rel.replace(os.sep, "/")
                raise Refused(FAULT_INVALID, f"result server: {problem[:400]}", item_id)
        if self.allow_outside or self._confine.inside(self._confine.resolve(full)):
            return full  # outside the project, allowed or inside a declared working folder: absolute
        raise Refused(
            FAULT_INVALID,
            f"result server: {path[:300]} is outside the project {self.project_dir}{self._confine.besides()}"[:700],
            item_id,
        )


def describe(v: object) -> str:
    """A value as a refusal names it: its type and the start of its repr."""
    text = repr(v)
    return f"{type(v).__name__} {text[:80]}{'...' if len(text) > 80 else ''}"


def plain(v: object, depth: int = 0) -> bool:
    """Only what the log can hold (XML-RPC can also carry dates and binary blobs)."""
    if depth > 32:
        return False
    if isinstance(v, dict):
        return all(isinstance(k, str) and plain(x, depth + 1) for k, x in v.items())
    if isinstance(v, list):
        return all(plain(x, depth + 1) for x in v)
    return v is None or isinstance(v, (str, int, float, bool))
