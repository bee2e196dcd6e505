"""File tags and the handlers registered for them: PDG's type registry.

Tags form a hierarchy by path: ``file/image/png`` is under ``file/image``, which is under ``file``.
Handlers are registered for a tag and apply to files of that tag and every tag beneath it; the most
specific matching registration runs first (``handlers_for``).

- **extension tags** choose a file's tag from its extension when whoever adds it names none;
- **stat handlers** ``fn(local_path, file, work_item) -> hash | (hash, size)`` replace the content
  hash of files of their tag; exactly 0 falls through to the next handler and then to the built-in
  stat cascade (``engine.files.records``);
- **cache handlers** ``fn(local_path, file, work_item) -> CacheResult`` decide whether an expected
  file satisfies a work item (Hit, Miss, or Skip to let the next one decide; ``engine.files.cache``);
- **transfer handlers** ``fn(src, dst, file, work_item, scheduler, cache_id) -> TransferPair`` copy
  files to a scheduler's working directory (``engine.files.transfer``).

Types plugins are Python files defining ``register_types(registry)`` (or PDG's ``registerTypes``),
loaded from ``pdg/types/`` folders on ``PDG_PATH`` and beside the graph file, and from installed
packages through the ``pdgstore.types`` entry-point group. A plugin that fails to load is a warning
naming it, never a crash. The registry offers PDG's camelCase names too, so PDG plugins load as
they are.
"""

from __future__ import annotations

import enum
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pdgstore.engine.errors import error_line

ENTRY_POINT_GROUP = "pdgstore.types"
#: the global a types plugin's module holds its file's name in (``load_plugin_file``)
PLUGIN_FILE = "__pdg_plugin_file__"

#: extension -> tag (PDG's built-in extension tags, most specific tags last)
DEFAULT_EXTENSION_TAGS = {
    ".txt": "file/text",
    ".md": "file/text",
    ".csv": "file/text/csv",
    ".json": "file/text/json",
    ".xml": "file/text/xml",
    ".py": "file/text/python",
    ".png": "file/image/png",
    ".jpg": "file/image/jpeg",
    ".jpeg": "file/image/jpeg",
    ".exr": "file/image/exr",
    ".tif": "file/image/tiff",
    ".tiff": "file/image/tiff",
    ".bgeo": "file/geo/bgeo",
    ".obj": "file/geo/obj",
    ".abc": "file/geo/alembic",
    ".usd": "file/usd",
    ".usda": "file/usd",
    ".usdc": "file/usd",
    ".wav": "file/audio/wav",
    ".mp4": "file/video/mp4",
}


class CacheResult(enum.Enum):
    """What a cache handler says about one expected file."""

    Hit = "hit"
    Miss = "miss"
    Skip = "skip"


@dataclass(frozen=True)
class TransferPair:
    """What a transfer handler did: ``status`` success, cached, skip or failure, and the cache id to
    hand it next time (success only)."""

    status: str
    cache_id: int = 0

    @classmethod
    def success(cls, cache_id: int = 0) -> TransferPair:
        return cls("success", int(cache_id))

    @classmethod
    def cached(cls) -> TransferPair:
        return cls("cached")

    @classmethod
    def skip(cls) -> TransferPair:
        return cls("skip")

    @classmethod
    def failure(cls) -> TransferPair:
        return cls("failure")


def handler_name(fn) -> str:
    """How a message names a user's handler: a types plugin's as ``pdg/types/t.py:name`` (the
    plugin's module name is internal), another's by its module and qualified name."""
    name = getattr(fn, "__qualname__", None) or repr(fn)
    plugin = getattr(fn, "__globals__", {}).get(PLUGIN_FILE)
    if isinstance(plugin, str):
        return f"{plugin}:{name}"
    return f"{getattr(fn, '__module__', '?')}.{name}"


def tag_chain(tag: str) -> list[str]:
    """``file/image/png`` -> [file/image/png, file/image, file]: the most specific first."""
    parts = tag.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


@dataclass
class TypeRegistry:
    """Tags, their viewers, and the stat, cache and transfer handlers registered per tag."""

    tags: set = field(default_factory=lambda: set())
    extension_tags: dict = field(default_factory=lambda: dict(DEFAULT_EXTENSION_TAGS))
    viewers: dict = field(default_factory=dict)
    stat_handlers: dict = field(default_factory=dict)
    cache_handlers: dict = field(default_factory=dict)
    transfer_handlers: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    loaded: list = field(default_factory=list)
    #: (plugin, why) of each plugin that failed to load: what it would have registered is missing
    failed: list = field(default_factory=list)
    #: tags named by ``add_tag`` itself: files get them by name, as no extension maps to them
    declared: set = field(default_factory=set)

    def __post_init__(self) -> None:
        for tag in self.extension_tags.values():
            self._know(tag)

    @classmethod
    def of_project(cls, project_dir: str) -> TypeRegistry:
        """The registry a project's types plugins make (``PDG_PATH``, its ``pdg/types/``, installed
        entry points), without running its graph file: what commands that read the store need."""
        registry = cls()
        registry.load_plugins(project_dir=project_dir)
        return registry

    # -- tags ------------------------------------------------------------------------------------
    def add_tag(self, tag: str) -> None:
        """Add ``tag`` (and the tags above it) to the known tags: files get it by name."""
        self.declared.add(self._know(tag))

    def _know(self, tag: str) -> str:
        tag = _check_tag(tag)
        self.tags.update(tag_chain(tag))
        return tag

    def add_extension_tag(self, extension: str, tag: str) -> None:
        """Files ending in ``extension`` (".py", or several: ".usd, .usda") get ``tag`` by default."""
        for ext in str(extension).split(","):
            ext = ext.strip().lower()
            if not ext:
                continue
            self.extension_tags[ext if ext.startswith(".") else "." + ext] = _check_tag(tag)
        self._know(tag)

    def add_tag_viewer(self, tag: str, viewer: str) -> None:
        """Open files of ``tag`` (and the tags beneath it) with ``viewer``."""
        self._know(tag)
        self.viewers[tag] = viewer

    def tag_for(self, path: str) -> str:
        """The tag a file gets from its extension ('file' when none is known)."""
        return self.extension_tags.get(os.path.splitext(path)[1].lower(), "file")

    def viewer_for(self, tag: str) -> str | None:
        """The viewer registered for ``tag`` or the nearest tag above it (None: none is)."""
        return next((self.viewers[t] for t in tag_chain(tag or "file") if t in self.viewers), None)

    # -- handlers --------------------------------------------------------------------------------
    def register_stat_handler(self, tag: str, handler: Callable) -> None:
        self._register(self.stat_handlers, tag, handler)

    def register_cache_handler(self, tag: str, handler: Callable) -> None:
        self._register(self.cache_handlers, tag, handler)

    def register_transfer_handler(self, tag: str, handler: Callable, use_mod_time: bool = False) -> None:
        """``use_mod_time``: the engine skips the handler while the file's mtime is not newer than at
        its last transfer, and stores the mtime as the cache id."""
        self._register(self.transfer_handlers, tag, (handler, bool(use_mod_time)))

    def _register(self, table: dict, tag: str, handler) -> None:
        fn = handler[0] if isinstance(handler, tuple) else handler
        if not callable(fn):
            raise TypeError(f"the handler for tag {tag} must be callable, not {type(fn).__name__}")
        self._know(tag)
        table.setdefault(tag, []).append(handler)

    def handlers_for(self, table: dict, tag: str) -> list[tuple[str, Any]]:
        """(tag, handler) pairs that apply to ``tag``: most specific tag first, and within a tag the
        last registered first (a plugin overrides what came before it)."""
        if not table:  # the common case, asked per file a cook records
            return []
        out: list[tuple[str, Any]] = []
        for t in tag_chain(tag or "file"):
            for handler in reversed(table.get(t, ())):
                out.append((t, handler))
        return out

    def unreached_handlers(self, named: set | frozenset = frozenset()) -> list[str]:
        """A sentence for each handler registered for a tag no file gets unless it is given by name:
        no extension maps to it or beneath it, ``add_tag`` did not name it, nor does any of ``named``
        (the tags a graph gives its files). A page's ``registerStatHandler("file/txt", ...)`` is one:
        .txt files are tagged file/text, and the handler would never run, without a word."""
        reached = set(self.extension_tags.values()) | self.declared | set(named)
        out = []
        for kind, table in (
            ("stat", self.stat_handlers),
            ("cache", self.cache_handlers),
            ("transfer", self.transfer_handlers),
        ):
            for tag, handlers in table.items():
                if any(t == tag or t.startswith(tag + "/") for t in reached):
                    continue
                hint = self.extension_tags.get("." + tag.rsplit("/", 1)[-1])
                why = f" (.{tag.rsplit('/', 1)[-1]} files are tagged {hint})" if hint else ""
                for handler in handlers:
                    fn = handler[0] if isinstance(handler, tuple) else handler
                    out.append(
                        f"{kind} handler {handler_name(fn)} is registered for tag {tag}, which no file extension "
                        f"maps to{why}: it runs only for files added with that tag by name"
                    )
        return out

    # PDG's names, so PDG types plugins run unchanged
    addTag = add_tag
    addExtensionTag = add_extension_tag
    addTagViewer = add_tag_viewer
    registerStatHandler = register_stat_handler
    registerCacheHandler = register_cache_handler
    registerTransferHandler = register_transfer_handler

    def register_scheduler_type(self, cls, type_name: str | None = None, label: str = "", **kwargs):
        """A types plugin may bring scheduler classes too (see ``engine.schedulers.contract``);
        PDG's ``registerScheduler(cls, label=...)`` is the same call (``label`` is only shown)."""
        from pdgstore.engine.schedulers.contract import register_type

        return register_type(cls, type_name)

    registerScheduler = register_scheduler_type

    # -- plugins ---------------------------------------------------------------------------------
    def load_plugin_file(self, path: Path, shown: str | None = None) -> None:
        """Run one types plugin; a failure is a warning naming the file. ``shown``: how messages
        name the file (``pdg/types/t.py``, relative to the project), ``path`` when None."""
        from pdgstore.engine.pdgapi import ensure_pdg_module

        ensure_pdg_module()  # the plugin's `import pdg` must not find the project's pdg/types/ folder
        try:
            spec = importlib.util.spec_from_file_location(f"pdg_types_{abs(hash(str(path)))}", path)
            if spec is None or spec.loader is None:
                raise ImportError("it is not a Python file")
            module = importlib.util.module_from_spec(spec)
            # the module's name is internal (a plugin is no importable module): its functions are
            # named by this file (``handler_name``), found through their globals
            setattr(module, PLUGIN_FILE, shown or str(path))
            spec.loader.exec_module(module)
            register = getattr(module, "register_types", None) or getattr(module, "registerTypes", None)
            if register is None:
                raise AttributeError("it defines no register_types(registry) function")
            register(self)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the cook
            self._failed(shown or str(path), exc)
            return
        self.loaded.append(str(path))

    def _failed(self, plugin: str, exc: Exception) -> None:
        self.failed.append((plugin, error_line(exc)))
        self.warnings.append(f"types plugin {plugin} failed to load: {error_line(exc)}")

    def failures(self) -> str:
        """The plugins that failed to load and why, as one clause ('' when all loaded): what a
        message about something missing (a scheduler type, a tag) names as the likely cause."""
        return "; ".join(f"types plugin {plugin} failed to load: {why}" for plugin, why in self.failed)

    def load_plugins(
        self, project_dir: str | None = None, search_path: str | None = None, use_entry_points: bool = True
    ) -> None:
        """Load every types plugin: ``pdg/types/*.py`` under each folder of ``search_path``
        (``PDG_PATH`` when None) and under ``project_dir``, then the installed entry points."""
        search_path = os.environ.get("PDG_PATH", "") if search_path is None else search_path
        folders = [Path(p) for p in search_path.split(os.pathsep) if p]
        if project_dir:
            folders.append(Path(project_dir))
        seen = set()
        for folder in folders:
            types_dir = folder / "pdg" / "types"
            if not types_dir.is_dir():
                continue
            for path in sorted(types_dir.glob("*.py")):
                real = path.resolve()
                if real not in seen:
                    seen.add(real)
                    shown = path.relative_to(folder).as_posix() if project_dir and folder == Path(project_dir) else None
                    self.load_plugin_file(path, shown)
        if use_entry_points and may_declare_plugins():
            from importlib.metadata import entry_points

            for ep in entry_points(group=ENTRY_POINT_GROUP):
                try:
                    register = ep.load()
                    register(self)
                except Exception as exc:  # noqa: BLE001
                    self._failed(f"{ep.name} ({ep.value})", exc)
                    continue
                self.loaded.append(f"entry point {ep.name}")


def may_declare_plugins() -> bool:
    """Whether an installed distribution may declare ``pdgstore.types`` entry points.

    ``importlib.metadata`` is a heavy import (it brings the ``email`` package), paid on every graph
    load, a visible part of a no-op ``pdg cook``. So this looks first, for the group's header in the
    ``entry_points.txt`` of each ``*.dist-info``/``*.egg-info`` folder on ``sys.path``; only a find
    (or a place it cannot look into: a zip or egg on the path, an import hook that finds
    distributions) lets ``importlib.metadata`` read them, as the one parser of entry points."""
    from importlib.machinery import PathFinder

    if any(hasattr(finder, "find_distributions") and finder is not PathFinder for finder in sys.meta_path):
        return True
    header = f"[{ENTRY_POINT_GROUP}]"
    for entry in sys.path:
        base = entry or "."
        try:
            with os.scandir(base) as entries:
                names = [e.name for e in entries if e.name.endswith((".dist-info", ".egg-info"))]
        except NotADirectoryError:
            return True  # a zip or an egg
        except OSError:
            continue
        for name in names:
            try:
                with open(os.path.join(base, name, "entry_points.txt"), encoding="utf-8", errors="replace") as f:
                    if header in f.read():
                        return True
            except OSError:
                continue
    return False


def _check_tag(tag: str) -> str:
    if not isinstance(tag, str) or not tag or tag != tag.strip() or "//" in tag or tag.endswith("/"):
        raise ValueError(f"{tag!r} is not a file tag (like file/image/png)")
    return tag
