"""``pdg.Scheduler``: a scheduler written with PDG's camelCase callbacks runs on the engine's contract.

The engine calls its schedulers in snake_case (``on_schedule``, ``on_tick`` ...; seed 002); this base
turns each call into PDG's name (``onSchedule``, ``onTick`` ...), so a class pasted from a PDG
scheduler works unchanged, and the camelCase names a PDG scheduler calls on itself are here too:
``setWorkingDir``, ``workingDir``, ``tempDir``, ``scriptDir``, ``workItemResultServerAddr``,
``expandCommandTokens``, ``createJobDirsAndSerializeWorkItems``, and the reports
``onWorkItemSucceeded``/``Failed``/``Canceled``/``StartCook``/``AddOutput``/``SetAttribute``.
A class may override either spelling; overriding both is not needed.
"""

from __future__ import annotations

import inspect
import os
import shlex
import warnings

from pdgstore.engine.pdgapi.items import WorkItemAPI
from pdgstore.engine.schedulers import jobs
from pdgstore.engine.schedulers.contract import JobResult, ScheduledItem
from pdgstore.engine.schedulers.contract import Scheduler as EngineScheduler
from pdgstore.engine.schedulers.pathmap import expand_tokens

_Base = EngineScheduler


def _id(work_item) -> str:
    """PDG passes ids or work items to the report calls: the engine's item id of either."""
    return getattr(work_item, "id", work_item)


class SchedulerWorkItem(WorkItemAPI):
    """The ``pdg.WorkItem`` a ``pdg.Scheduler``'s callbacks get: the engine's ``ScheduledItem`` with
    PDG's types. ``command`` is PDG's string, the engine's argument list quoted as a shell reads it
    (``shlex.join``), so ``Popen(command, shell=True)`` runs every word ('' for an item without a
    command); the engine's own ``ScheduledItem.command`` stays a list. Everything else (writes, which
    the cook records, included) is the scheduled item's."""

    def __init__(self, scheduled: ScheduledItem) -> None:
        self.scheduled = scheduled
        self.item = scheduled.item
        self.node = scheduled.node

    @property
    def command(self) -> str:
        argv = self.scheduled.command
        return "" if argv is None else shlex.join(str(word) for word in argv)

    @property
    def isBatch(self) -> bool:  # type: ignore[override]  # noqa: N802 - PDG's name; the scheduled item's
        return self.scheduled.isBatch

    @property
    def batchItems(self) -> list:  # type: ignore[override]  # noqa: N802 - PDG's name
        return [SchedulerWorkItem(sub) for sub in self.scheduled.batchItems]

    batch_items = batchItems

    def _write_attrib(self, name: str, values: list, kind: str | None = None) -> None:
        self.scheduled._write_attrib(name, values, kind)

    def _write_output(self, path: str, tag: str) -> None:
        self.scheduled._write_output(path, tag)

    def _write_log(self, level: str, text: str) -> None:
        self.scheduled._write_log(level, text)

    def __getattr__(self, name: str):
        if name.startswith("__") or name == "scheduled":
            raise AttributeError(name)
        return getattr(self.scheduled, name)

    def __repr__(self) -> str:
        return f"<pdg.WorkItem {self.name} ({self.id})>"


def pdg_item(item):
    """What a ``pdg.Scheduler`` callback gets for ``item``: a ``ScheduledItem`` as PDG's work item
    (``SchedulerWorkItem``); anything else (an id, a bridge's read-only work item) as it is."""
    return SchedulerWorkItem(item) if isinstance(item, ScheduledItem) else item


class Scheduler(EngineScheduler):
    """Base class of schedulers written against PDG's ``pdg.Scheduler`` API."""

    type_name = "pdg_scheduler"
    needs_result_server = True

    def __init__(self, *args, **kwargs) -> None:
        # PDG constructs ``CustomScheduler(scheduler, name)``; the engine ``cls(name, **parms)``
        if len(args) == 2:
            args = (args[1],)
        super().__init__(*args, **kwargs)
        self._remote_dir = ""
        self._active: dict = {}  # item id -> the work item on_schedule was given

    @classmethod
    def construct(cls, name: str, parms: dict):
        """An instance for ``graph.scheduler(name, cls)``: PDG's ``__init__(self, scheduler, name)``
        signature gets None for the scheduler handle it would have had in Houdini."""
        params = list(inspect.signature(cls.__init__).parameters)
        if len(params) >= 3 and params[1] == "scheduler":
            return cls(None, name, **parms)
        return cls(name, **parms)

    # -- the engine's calls, in PDG's words -------------------------------------------------------
    def callback_name(self, callback: str) -> str:
        """``on_schedule`` as PDG says it, ``onSchedule``, unless the class overrides the engine's
        spelling itself (or PDG has no such callback: the engine's own, ``prepare_job``)."""
        first, *rest = callback.split("_")
        camel = first + "".join(word.title() for word in rest)
        mine = type(self)
        if not hasattr(mine, camel) or getattr(mine, callback, None) is not getattr(Scheduler, callback, None):
            return callback
        return camel

    def asks_accept(self) -> bool:
        return type(self).onAcceptWorkItem is not Scheduler.onAcceptWorkItem

    def on_schedule(self, item):
        work_item = pdg_item(item)
        self._active[item.id] = work_item  # PDG hands work items to onCancelWorkItems, the engine ids
        return self.onSchedule(work_item)

    def onSchedule(self, work_item):  # noqa: N802
        return _Base.on_schedule(self, work_item)

    def on_tick(self):
        return self.onTick()

    def onTick(self):  # noqa: N802
        return _Base.on_tick(self)

    def on_accept_work_item(self, item):
        return self.onAcceptWorkItem(pdg_item(item))

    def onAcceptWorkItem(self, work_item):  # noqa: N802
        return _Base.on_accept_work_item(self, work_item)

    def on_configure_cook(self, cook_options):
        return self.onConfigureCook(cook_options)

    def onConfigureCook(self, cook_options):  # noqa: N802
        return _Base.on_configure_cook(self, cook_options)

    def on_start_cook(self, static, cook_set):
        return self.onStartCook(static, cook_set)

    def onStartCook(self, static, cook_set):  # noqa: N802
        return _Base.on_start_cook(self, static, cook_set)

    def on_stop_cook(self, cancel):
        return self.onStopCook(cancel)

    def onStopCook(self, cancel):  # noqa: N802
        return _Base.on_stop_cook(self, cancel)

    def on_start(self):
        return self.onStart()

    def onStart(self):  # noqa: N802
        return _Base.on_start(self)

    def on_stop(self):
        return self.onStop()

    def onStop(self):  # noqa: N802
        return _Base.on_stop(self)

    def on_cancel_work_items(self, work_items, node=None):
        return self.onCancelWorkItems([self._active.get(i, i) for i in work_items], node)

    def onCancelWorkItems(self, work_items, node):  # noqa: N802
        return _Base.on_cancel_work_items(self, work_items, node)

    def on_schedule_static(self, dependency_map, dependent_map, ready_items):
        def items(mapping: dict) -> dict:
            return {pdg_item(k): {pdg_item(v) for v in values} for k, values in mapping.items()}

        ready = [pdg_item(r) for r in ready_items]
        return self.onScheduleStatic(items(dependency_map), items(dependent_map), ready)

    def onScheduleStatic(self, dependency_map, dependent_map, ready_items):  # noqa: N802
        return _Base.on_schedule_static(self, dependency_map, dependent_map, ready_items)

    def get_status_uri(self, item):
        return self.getStatusURI(pdg_item(item))

    def getStatusURI(self, work_item):  # noqa: N802
        return _Base.get_status_uri(self, work_item)

    def get_log_uri(self, item):
        return self.getLogURI(pdg_item(item))

    def getLogURI(self, work_item):  # noqa: N802
        return _Base.get_log_uri(self, work_item)

    def application_bin(self, name, item=None):
        return self.applicationBin(name, pdg_item(item))

    def applicationBin(self, name, work_item):  # noqa: N802
        return _Base.application_bin(self, name, work_item)

    def endSharedServer(self, sharedserver_name):  # noqa: N802
        """Deprecated in PDG (shared servers became Service Blocks); the engine never calls it."""
        warnings.warn("endSharedServer is deprecated: shared servers were replaced by service blocks", stacklevel=2)
        return True

    # -- what a PDG scheduler asks of itself -------------------------------------------------------
    def workItemResultServerAddr(self) -> str:  # noqa: N802
        return self.work_item_result_server_addr()

    def setWorkingDir(self, local_path: str, remote_path: str = "") -> None:  # noqa: N802
        """Where jobs run (``local_path``); ``remote_path`` is its name on the farm (jobs' ``PDG_DIR``)."""
        self.working_dir = local_path
        self._remote_dir = remote_path or ""

    def workingDir(self, local: bool = True) -> str:  # noqa: N802
        if not local and self._remote_dir:
            return self._remote_dir
        return self.working_dir or self.graph_dir

    def tempDir(self, local: bool = True) -> str:  # noqa: N802
        return self.job_temp

    def scriptDir(self, local: bool = True) -> str:  # noqa: N802
        return os.path.join(self.job_temp, "scripts")

    def expandCommandTokens(self, command, work_item) -> str | list[str]:  # noqa: N802
        """``__PDG_*__`` tokens of ``command`` for this item: a string (PDG's ``work_item.command``)
        gives a string, an argument list (the engine's ``ScheduledItem.command``) a list."""
        if isinstance(command, (list, tuple)):
            return [expand_tokens(w, self.job_tokens(work_item)) for w in command]
        return expand_tokens(command, self.job_tokens(work_item))

    def createJobDirsAndSerializeWorkItems(self, work_item) -> None:  # noqa: N802
        """The job's folders, its Job API modules and its work item JSON (what ``job_environment`` does)."""
        self.job_environment(work_item)

    # -- reports ------------------------------------------------------------------------------------
    def onWorkItemStartCook(self, work_item_id, index=-1, clear_outputs=False):  # noqa: N802
        item = self._active.get(_id(work_item_id))
        uri = (self.get_log_uri(item) if item is not None else "") or f"scheduler:{self.name}"
        self.reporter.started(_id(work_item_id), pid=0, log_uri=uri)

    def onWorkItemSucceeded(self, work_item_id, index=-1, cook_duration=0.0):  # noqa: N802
        self._active.pop(_id(work_item_id), None)
        self.reporter.succeeded(_id(work_item_id))

    def onWorkItemFailed(self, work_item_id, index=-1):  # noqa: N802
        self._active.pop(_id(work_item_id), None)
        self.reporter.failed(_id(work_item_id), 1, "its scheduler reported it failed")

    def onWorkItemCanceled(self, work_item_id, index=-1):  # noqa: N802
        self._active.pop(_id(work_item_id), None)
        self.reporter.cancelled(_id(work_item_id), "its scheduler reported it cancelled")

    def onWorkItemAddOutput(self, work_item_id, index, path, tag="", hash_code=0, *args):  # noqa: N802
        self.reporter.output_added(_id(work_item_id), os.fspath(path), tag or "", "")

    def onWorkItemAddOutputs(self, work_item_id, index, paths, tags="", hash_codes=(), *args):  # noqa: N802
        tags = [tags] * len(paths) if isinstance(tags, str) else list(tags)
        for path, tag in zip(paths, tags):
            self.onWorkItemAddOutput(work_item_id, index, path, tag)

    def onWorkItemSetAttribute(self, work_item_id, index, name, value):  # noqa: N802
        from pdgstore.engine.pdgapi.items import typed_as

        values = list(value) if isinstance(value, (list, tuple)) else [value]
        self.reporter.attrib_set(_id(work_item_id), name, typed_as(values, None))

    def onWorkItemAppendLog(self, work_item_id, index, log, log_type=3):  # noqa: N802
        self.reporter.log_line(_id(work_item_id), str(log))


PyScheduler = Scheduler  # the name PDG's own Python schedulers subclass

__all__ = ["JobResult", "PyScheduler", "Scheduler", "SchedulerWorkItem", "jobs"]
