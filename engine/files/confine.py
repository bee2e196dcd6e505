"""Paths a cook is told about stay inside the project: resolved, symlinks included, before they are
recorded as a work item's outputs or deleted by ``pdg dirty --remove-outputs``.

A job (in-process or one that reports over the result server) can name any path: ``../../x``, an
absolute path, or a path through a symlink inside the project that leads out of it (``escape/passwd``
with ``escape -> /etc``). Recorded, such a file would be hashed, shown, and later deleted as if it
were ours. So a path is resolved (``os.path.realpath`` of its folder, then of the file itself when it
is a link) and refused unless it lands inside the project's real folder, or inside a folder a
scheduler declared as its working folder. ``PDG_ALLOW_OUTSIDE=1`` in the environment is the one
explicit switch that allows outside paths (recorded by their absolute path); it never lets ``pdg
dirty --remove-outputs`` delete a file outside.
"""

from __future__ import annotations

import os

from pdgstore.engine.errors import OutsideProject

#: the environment variable that allows outputs outside the project (documented in docs/reliability.md)
ALLOW_ENV = "PDG_ALLOW_OUTSIDE"


def outside_allowed() -> bool:
    return os.environ.get(ALLOW_ENV, "") == "1"


def working_dirs(schedulers, root: str) -> tuple[str, ...]:
    """The working folders ``schedulers`` declare (``working_dir``, as the cook's machine sees it),
    absolute (a relative one is relative to the project ``root``), each once: the folders besides
    the project where their jobs may write outputs."""
    found: dict[str, None] = {}
    for scheduler in schedulers:
        folder = getattr(scheduler, "working_dir", None)
        if isinstance(folder, (str, os.PathLike)) and os.fspath(folder):
            found[os.path.normpath(os.path.join(root, os.fspath(folder)))] = None
    return tuple(found)


class Confine:
    """The project's real folder (and any declared working folders), and the real folders seen so
    far: a cook resolves each output's folder once, not once per file."""

    def __init__(self, root: str, extra: tuple[str, ...] = ()) -> None:
        self.root = root
        self.allowed = tuple(os.path.realpath(p) for p in (root, *extra))
        self._under = tuple(a.rstrip("/") + "/" for a in self.allowed)  # what a path inside starts with
        self._real_dirs: dict[str, str] = {}
        #: a folder as a path names it (``out1``, ``/abs/out``) -> its real path and a "/", so a
        #: cook's 10,000th output into ``out1/`` costs a dict lookup and an ``lstat``, no path arithmetic
        self._named_dirs: dict[str, str] = {}

    def resolve(self, path: str) -> str:
        """The real path of ``path`` (relative paths are relative to the project)."""
        named, _, last = path.rpartition("/")
        plain = bool(named) and last not in ("", ".", "..")  # then ``named`` names the file's folder
        under = self._named_dirs.get(named) if plain else None
        if under is None:
            full = path if os.path.isabs(path) else os.path.join(self.root, path)
            folder, last = os.path.split(os.path.normpath(full))
            real_dir = self._real_dirs.get(folder)
            if real_dir is None:
                real_dir = self._real_dirs[folder] = os.path.realpath(folder)
            under = real_dir if real_dir.endswith("/") else real_dir + "/"
            if plain:
                self._named_dirs[named] = under
        real = under + last
        return os.path.realpath(real) if os.path.islink(real) else real

    def inside(self, real: str) -> bool:
        return real.startswith(self._under) or real in self.allowed

    def problem(self, path: str) -> str:
        """'' when ``path`` resolves inside; else why not, as the end of a sentence."""
        real = self.resolve(path)
        if self.inside(real):
            return ""
        through = "" if real == os.path.normpath(os.path.join(self.root, path)) else f", which resolves to {real},"
        return f"{path}{through} is outside the project {self.root}{self.besides()}"

    def besides(self) -> str:
        """'' or the declared working folders, as the end of a sentence naming the project."""
        extra = self.allowed[1:]
        if not extra:
            return ""
        return f" and the scheduler working folder{'s' if len(extra) > 1 else ''} {', '.join(extra)}"

    def check_output(self, path: str, who: str) -> None:
        """Refuse an output path outside the project (unless ``PDG_ALLOW_OUTSIDE=1``), or one
        whose name is not UTF-8 (the log records names as UTF-8)."""
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(path).decode("utf-8", "backslashreplace")
            raise ValueError(
                f"{who} reported output file {shown}, whose name is not valid UTF-8: the log records file "
                "names as UTF-8"
            ) from None
        problem = self.problem(path)
        if problem and not outside_allowed():
            raise OutsideProject(
                f"{who} reported output file {problem}; outputs must stay inside the project "
                f"(set {ALLOW_ENV}=1 to allow outside paths)"
            )
