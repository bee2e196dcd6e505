"""Moving a work item's files to where its scheduler runs it: transfer handlers and their cache ids.

PDG assumes a shared file system, but a scheduler may run jobs in a working directory of its own
(a local scratch disk, a mounted farm share). Before such a job starts, each of the item's input
files is transferred there, as seed 003 describes:

- the transfer handlers registered for the file's tag are asked, most specific tag first; a handler
  ``fn(src_path, dst_path, file, work_item, scheduler, cache_id) -> TransferPair`` returns
  ``success(cache_id)``, ``cached()``, ``skip()`` (the next handler decides) or ``failure()``;
- ``cache_id`` is the id that handler reported the last time it transferred this file for this
  scheduler (0 the first time). The engine keeps those ids, per scheduler and file, in the log
  (``FileTransferred`` events), so they survive restarts and a handler needs no global state;
- a handler registered with ``use_mod_time=True`` is not even called while the file's mtime is not
  newer than the id recorded at its last transfer (the mtime is the id);
- when no handler decides, the default handler copies the file into the scheduler's working
  directory (keeping its path relative to the project) unless it is already there with the same
  size and the recorded id (its mtime in nanoseconds).

A scheduler whose working directory is the project directory needs no transfer at all. A handler
that raises is an error naming the handler, the tag and the file; a failure() is an error naming the
handler and the file. Both fail the work item, never the engine.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from pdgstore.engine.errors import HandlerError, error_line
from pdgstore.engine.files import records as files
from pdgstore.engine.files.filetypes import TransferPair, TypeRegistry
from pdgstore.engine.graph.attribs import File
from pdgstore.engine.pdgapi.items import wrap

from pdgstore import events as ev
from pdgstore.state import State


@dataclass(frozen=True)
class Transfer:
    """One file's transfer: where it went and what decided it (``handler``: its name, or built-in)."""

    path: str
    dst: str
    status: str
    handler: str


def destination(rel: str, working_dir: str) -> str:
    """Where a project file lands in a working directory: the same relative path (an absolute path
    or one outside the project lands under ``_external/`` by its absolute path)."""
    if os.path.isabs(rel) or rel.startswith(".."):
        return os.path.join(working_dir, "_external", os.path.abspath(rel).lstrip(os.sep))
    return os.path.join(working_dir, rel)


def default_copy(src: str, dst: str, file, work_item, scheduler, cache_id: int) -> TransferPair:
    """The built-in handler: copy into the working directory unless the copy there is current."""
    if os.path.exists(dst) and os.path.samefile(src, dst):
        return TransferPair.skip()
    if os.path.isdir(src):
        shutil.copytree(src, dst, dirs_exist_ok=True)
        return TransferPair.success()
    st = os.stat(src)
    if cache_id and cache_id == st.st_mtime_ns and os.path.exists(dst) and os.path.getsize(dst) == st.st_size:
        return TransferPair.cached()
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    tmp = dst + ".pdg-transfer"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    return TransferPair.success(st.st_mtime_ns)


class Transfers:
    """Transfers files for the schedulers of one cook, recording each new cache id through
    ``recorder`` (the cook's; called on the engine's loop, which owns the state)."""

    def __init__(self, types: TypeRegistry, state: State, recorder, root: str) -> None:
        self.types = types
        self.state = state
        self.recorder = recorder
        self.root = root

    def needed(self, scheduler) -> bool:
        working = getattr(scheduler, "working_dir", None)
        if not working:
            return False
        return os.path.abspath(working) != os.path.abspath(self.root)

    def transfer_inputs(self, work_item, scheduler) -> list[Transfer]:
        """Transfer every input file of ``work_item`` (a read-only view) for ``scheduler``."""
        if not self.needed(scheduler):
            return []
        return [self.transfer(rec, work_item, scheduler) for rec in work_item.inputs]

    def transfer(self, rec: list, work_item, scheduler) -> Transfer:
        rel, tag = rec[files.PATH], rec[files.TAG] or self.types.tag_for(rec[files.PATH])
        src = files.absolute(rel, self.root)
        dst = destination(rel, scheduler.working_dir)
        if not os.path.exists(src):
            raise HandlerError(f"cannot transfer {rel} for work item {work_item.name}: the file is missing")
        known = self.state.transfers.get(scheduler.name, {}).get(rel, 0)
        file = File.from_record([rel, tag, *rec[2:]])
        work_item = wrap(work_item)
        chain = [(t, h) for t, h in self.types.handlers_for(self.types.transfer_handlers, tag)]
        chain.append(("file", (default_copy, False)))
        for handler_tag, (handler, use_mod_time) in chain:
            name = "built-in copy" if handler is default_copy else files.handler_name(handler)
            if use_mod_time:
                mtime = os.stat(src).st_mtime_ns
                if known and mtime <= known and os.path.exists(dst):
                    return Transfer(rel, dst, "cached", name)
            try:
                pair = handler(src, dst, file, work_item, scheduler, known)
            except Exception as exc:  # noqa: BLE001 - a user's handler: its error names it
                raise HandlerError(
                    f"transfer handler {name} for tag {handler_tag} raised on {rel}: {error_line(exc)}"
                ) from None
            if not isinstance(pair, TransferPair):
                raise HandlerError(
                    f"transfer handler {name} for tag {handler_tag} returned {pair!r} for {rel}, not a TransferPair"
                )
            if pair.status == "skip":
                continue
            if pair.status == "failure":
                raise HandlerError(
                    f"transfer handler {name} for tag {handler_tag} failed to transfer {rel} to {scheduler.working_dir}"
                )
            if pair.status == "success":
                # use_mod_time: the engine keeps the file's mtime as the id, whatever the handler says
                cache_id = os.stat(src).st_mtime_ns if use_mod_time else pair.cache_id
                if cache_id != known:
                    self.recorder.emit(ev.FileTransferred, path=rel, scheduler=scheduler.name, cache_id=cache_id)
            return Transfer(rel, dst, pair.status, name)
        return Transfer(rel, dst, "skip", "built-in copy")  # already there: the same file
