"""Cache modes and cache handlers: may a work item's expected files stand in for running it?

Cache modes per node, as PDG's:

- ``automatic`` (the default): reuse an item whose inputs, parameters and code are unchanged and
  whose files pass the cache check; a new item whose declared expected outputs all pass is cooked
  from cache;
- ``automatic_ignore``: like automatic, but upstream changes do not invalidate: an item whose files
  pass is cooked from cache whatever changed above it;
- ``always_read``: always take the files; a missing one fails the item with a clear message;
- ``always_write``: always run (the item is dirty_always).

The cache check of one file asks the cache handlers registered for its tag, most specific first
(Hit or Miss decides, Skip passes on), then the built-in check: the file exists and, when a hash is
recorded, still has it (the stat cascade). ``PDG_CACHE_DEBUG=1`` prints every decision to stderr:
each file's check, and each item a recook reuses because it and its files are as recorded, which it
tells from their stat without a check (``reused``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from pdgstore.engine.errors import HandlerError, error_line
from pdgstore.engine.files import records as files
from pdgstore.engine.files.filetypes import CacheResult, TypeRegistry
from pdgstore.engine.graph.attribs import File
from pdgstore.engine.pdgapi.items import wrap

from pdgstore import reasons
from pdgstore.events import PATH, TAG

CACHE_MODES = ("automatic", "automatic_ignore", "always_read", "always_write")


def check_mode(mode: str, node: str) -> str:
    mode = mode.replace("-", "_")
    if mode not in CACHE_MODES:
        raise ValueError(f"node {node}: cache mode {mode!r} is not one of {', '.join(CACHE_MODES)}")
    return mode


def debug_enabled() -> bool:
    return os.environ.get("PDG_CACHE_DEBUG", "") not in ("", "0")


@dataclass
class CacheCheck:
    """The verdict on an item's expected files: ``hit`` when every one passed; else ``reason`` says
    which file failed and how. ``records`` are the files as they are now (for a hit), ``touched``
    whether any only changed its mtime."""

    hit: bool
    records: list = field(default_factory=list)
    reason: dict | None = None
    touched: bool = False


class CacheChecker:
    def __init__(self, types: TypeRegistry, root: str, stats: dict | None = None, debug: bool | None = None) -> None:
        self.types = types
        self.root = root
        self.stats = stats or {}
        self.debug = debug_enabled() if debug is None else debug

    def _say(self, item, path: str, handler: str, result: str) -> None:
        if self.debug:
            print(f"pdg cache: {item.name} {path}: {handler} -> {result}", file=sys.stderr, flush=True)

    def reused(self, name: str) -> None:
        """Item ``name`` is reused without a cache check: it and its files are as recorded, by their
        stat (``decide.clean``, ``born_as_recorded``): a cache decision, said as the checks are."""
        if self.debug:
            print(
                f"pdg cache: {name}: reused: it and its files are as recorded (by their stat)",
                file=sys.stderr,
                flush=True,
            )

    def check(self, expected: list[list], item) -> CacheCheck:
        """Check ``expected`` file records (full records, or ``[path, tag]`` when nothing is recorded)
        for the read-only work item view ``item``."""
        records = []
        touched = False
        for rec in expected:
            rel, tag = rec[PATH], rec[TAG] or self.types.tag_for(rec[PATH])
            full = files.absolute(rel, self.root)
            decided = None
            for handler_tag, handler in self.types.handlers_for(self.types.cache_handlers, tag):
                name = files.handler_name(handler)
                try:  # PDG's arguments: the local path, the raw pdg.File, the pdg.WorkItem owning it
                    result = handler(full, File.from_record([rel, tag, *rec[2:]]), wrap(item))
                except Exception as exc:  # noqa: BLE001
                    raise HandlerError(
                        f"cache handler {name} for tag {handler_tag} raised on {rel}: {error_line(exc)}"
                    ) from None
                result = _as_result(result, name, handler_tag)
                self._say(item, rel, name, result.value)
                if result is CacheResult.Skip:
                    continue
                decided = (result, name)
                break
            if decided is not None:
                result, name = decided
                if result is CacheResult.Miss:
                    return CacheCheck(
                        False,
                        reason=reasons.cache_miss(rel, name),
                    )
                records.append(self._current(rec, full))
                continue
            verdict, current = self._builtin(rec, item)
            self._say(item, rel, "built-in", verdict)
            if verdict == files.MISSING:
                return CacheCheck(False, reason=reasons.output_missing(rel))
            assert current is not None  # only a missing file has no current record
            if verdict == files.MODIFIED:
                return CacheCheck(False, reason=reasons.output_modified(rel, rec, current))
            touched = touched or verdict == files.TOUCHED
            records.append(current)
        return CacheCheck(True, records, touched=touched)

    def _builtin(self, rec: list, item) -> tuple[str, list | None]:
        full = files.absolute(rec[PATH], self.root)
        st = self.stats.get(full, False)
        if len(rec) < 5:  # only expected, never recorded: it passes when it exists
            try:
                return files.SAME, files.record(rec[PATH], self.root, rec[TAG] or None, types=self.types, item=item)
            except (FileNotFoundError, NotADirectoryError):
                return files.MISSING, None
        return files.check(rec, self.root, types=self.types, item=item, st=st)

    def _current(self, rec: list, full: str) -> list:
        """A handler said Hit: keep the record, refreshed from disk when the file is there."""
        if len(rec) >= 5:
            return rec
        try:
            return files.record(rec[PATH], self.root, rec[TAG] or None, types=self.types)
        except (FileNotFoundError, NotADirectoryError):
            return [rec[PATH], rec[TAG] or self.types.tag_for(rec[PATH]), 0, 0, ""]


def _as_result(result, name: str, tag: str) -> CacheResult:
    if isinstance(result, CacheResult):
        return result
    if isinstance(result, str) and result.lower() in ("hit", "miss", "skip"):
        return CacheResult(result.lower())
    raise HandlerError(f"cache handler {name} for tag {tag} returned {result!r}, not Hit, Miss or Skip")
