"""The scheduler contract (seed 002, in snake_case) and the one path schedulers report through.

A cook hands each ready work item to its node's scheduler with ``on_schedule`` (the only callback a
scheduler must implement) and calls ``on_tick`` every ``tick_period`` seconds; between two ticks a
scheduler gets at most ``max_items`` ``on_schedule`` calls. A scheduler never changes the engine's
state: it reports what its jobs do through its ``Reporter`` (thread-safe: any thread may call it),
and the cook's loop turns each report into events, flushed before anyone else hears of them.
"""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pdgstore.engine.cook.inbox import Inbox
from pdgstore.engine.errors import GraphError
from pdgstore.engine.graph import checks
from pdgstore.engine.pdgapi.items import WorkItemAPI, typed_as
from pdgstore.engine.schedulers import reports

if TYPE_CHECKING:
    from pdgstore.engine.files.transfer import Transfers


class ScheduleResult(enum.Enum):
    """What ``on_schedule`` says about an item (PDG's ``pdg.scheduleResult``)."""

    SUCCEEDED = "succeeded"  # accepted: its job runs and will be reported
    FAILED = "failed"  # could not be scheduled: the item fails
    COOK_SUCCEEDED = "cook_succeeded"  # handled at once and succeeded
    COOK_FAILED = "cook_failed"  # handled at once and failed
    COOK_CANCELED = "cook_canceled"  # handled at once and cancelled
    DEFERRED = "deferred"  # not now: offer it again on a later tick
    FULL_DEFERRED = "full_deferred"  # full: offer nothing more until something changes
    # PDG's spelling of the same members (aliases: ``ScheduleResult.Succeeded is ScheduleResult.SUCCEEDED``)
    Succeeded = "succeeded"
    Failed = "failed"
    CookSucceeded = "cook_succeeded"
    CookFailed = "cook_failed"
    CookCanceled = "cook_canceled"
    Deferred = "deferred"
    FullDeferred = "full_deferred"


class TickResult(enum.Enum):
    """What ``on_tick`` says about the scheduler (PDG's ``pdg.tickResult``)."""

    READY = "ready"
    BUSY = "busy"
    CANCEL_COOK = "cancel_cook"
    SchedulerReady = "ready"
    SchedulerBusy = "busy"
    SchedulerCancelCook = "cancel_cook"


class AcceptResult(enum.Enum):
    """What ``on_accept_work_item`` says (PDG's ``pdg.acceptResult``)."""

    ACCEPT = "accept"
    REJECT = "reject"
    DEFAULT = "default"
    Accept = "accept"
    Reject = "reject"
    Default = "default"


@dataclass(slots=True)
class JobResult:
    """What an in-process run hands back at once: the state, attributes and outputs it made."""

    state: str
    attrs: dict
    outputs: list
    started_ns: int
    duration_ns: int
    error: str = ""
    traceback: str = ""


class Reporter:
    """The one reporting path: every call becomes a typed report (``engine.schedulers.reports``) to
    the cook's loop, which records it as events (flushed before the terminal, a handler or the job
    hears more). Thread-safe."""

    def __init__(self, inbox: Inbox, scheduler: str) -> None:
        self.put = inbox.put
        self.put_quietly = inbox.put_quietly
        self.scheduler = scheduler

    def started(self, item_id: str, *, pid: int = 0, log_uri: str = "", attempt: int = 1, quiet: bool = False) -> None:
        """The item's job began (``pid`` 0 in-process). ``quiet``: do not wake the loop for it (see
        ``engine.cook.inbox``)."""
        (self.put_quietly if quiet else self.put)(reports.JobStarted(item_id, self.scheduler, attempt, pid, log_uri))

    def succeeded(
        self, item_id: str, exit_code: int = 0, message: str = "", outcome: str = "success", quiet: bool = False
    ) -> None:
        """The job ended well; the loop checks the node's expected outputs before it believes it.
        ``quiet``: do not wake the loop for it (a scheduler with jobs enough queued to keep its
        slots busy until the loop's next wake)."""
        (self.put_quietly if quiet else self.put)(reports.JobEnded(item_id, exit_code, outcome, message))

    def failed(self, item_id: str, exit_code: int = 1, message: str = "") -> None:
        self.put(reports.JobEnded(item_id, exit_code, "failure", message))

    def retrying(self, item_id: str, exit_code: int, message: str = "") -> None:
        """The job ended badly and will be started again (a later ``started`` follows)."""
        self.put(reports.JobEnded(item_id, exit_code, "retry", message))

    def cancelled(self, item_id: str, message: str = "") -> None:
        self.put(reports.JobCancelled(item_id, message))

    def attrib_set(self, item_id: str, name: str, attr: list, done: reports.Done = None) -> None:
        """``attr`` is ``[type, [values...]]``; ``done`` (if given) runs once the effect is flushed."""
        self.put(reports.AttribSet(item_id, name, attr, done))

    def output_added(self, item_id: str, path: str, tag: str = "", hash: str = "", done: reports.Done = None) -> None:
        self.put(reports.OutputAdded(item_id, path, tag, hash, done))

    def log_line(self, item_id: str, text: str, level: str = "info", done: reports.Done = None) -> None:
        self.put(reports.LogLine(item_id, text, level, done))

    def status(self, item_id: str, ok: bool, message: str = "", done: Callable | None = None) -> None:
        """The job says itself whether it succeeded (``pdgcmd.workItemSuccess``/``Failed``)."""
        self.put(reports.StatusReported(item_id, ok, message, done))

    def cancelled_itself(self, item_id: str, message: str = "", done: Callable | None = None) -> None:
        """The job says it was cancelled (``pdgcmd.workItemCancelled``): when it ends, its item is
        recorded cancelled (``cooked_cancel``, never retried) and what depends on it does not cook."""
        self.put(reports.StatusReported(item_id, False, message, done, cancelled=True))

    def warning(self, item_id: str | None, message: str, done: Callable | None = None, refusal: bool = False) -> None:
        """Something a job or the result server warns about (``refusal``: a call it refused)."""
        self.put(reports.Warned(item_id, message, done, refusal))

    def sub_item(self, batch_id: str, done: Callable) -> None:
        """A batch's job asks for a new sub-item (``pdgcmd.appendSubItem``): ``done(index or error)``."""
        self.put(reports.SubItemAsked(batch_id, done))

    def item_json(self, item_id: str, done: Callable) -> None:
        """A job asks for its item's JSON (``pdgcmd.getWorkItemJSON``): ``done(text or error)``."""
        self.put(reports.ItemJsonAsked(item_id, done))

    def finished(self, item_id: str, result: JobResult, quiet: bool = False) -> None:
        """An in-process run ended with everything it made at once (the fast path of the pool)."""
        (self.put_quietly if quiet else self.put)(reports.Finished(item_id, result))


@dataclass(eq=False)
class ScheduledItem(WorkItemAPI):
    """What ``on_schedule`` receives: the item (a read-only ``WorkItem`` view), its node, and for
    out-of-process nodes the ``command`` to run (an argument list) and environment additions.

    It is PDG's ``pdg.WorkItem`` too (``work_item.attribValue('x')``, ``work_item['x'].value()``,
    ``work_item.node.name``, ``setIntAttrib``, ``addOutputFile`` ...): what a scheduler sets or adds
    in ``on_schedule`` (the one callback where PDG allows it) is recorded as the item's own once the
    callback returns, also when it returns COOK_SUCCEEDED."""

    item: Any
    node: Any
    command: list | None = None
    env: dict = field(default_factory=dict)
    #: an in-process item's work: a callable returning a ``JobResult``
    run: Callable[[], JobResult] | None = None
    #: why the scheduler returned FAILED (a sentence naming the item), for the item's error
    message: str = ""
    #: attributes, output files and log lines a scheduler set through PDG's API (recorded by the cook)
    changed: dict = field(default_factory=dict)
    new_outputs: list = field(default_factory=list)
    logs: list = field(default_factory=list)
    #: what ``get_status_uri``/``get_log_uri`` said (recorded with the item's job)
    status_uri: str = ""

    @property
    def id(self) -> str:
        return self.item.item_id

    @property
    def name(self) -> str:
        return self.item.name

    @property
    def in_process(self) -> bool:
        return self.run is not None

    @property
    def isBatch(self) -> bool:  # type: ignore[override]  # noqa: N802 - PDG's name; computed here
        """A batch work item (``engine.cook.batches``): one job for ``batchItems``."""
        return bool(getattr(self.item, "batch_subs", None))

    @property
    def batchItems(self) -> list:  # type: ignore[override]  # noqa: N802 - PDG's name
        """A batch's sub-items (read-only ``pdg.WorkItem`` views, in sub index order)."""
        return [ScheduledItem(sub, self.node) for sub in getattr(self.item, "batch_subs", None) or ()]

    batch_items = batchItems

    def _write_attrib(self, name: str, values: list, kind: str | None = None) -> None:
        self.changed[name] = typed_as(values, kind)

    def _write_output(self, path: str, tag: str) -> None:
        self.new_outputs.append((path, tag or None))

    def _write_log(self, level: str, text: str) -> None:
        self.logs.append((level, text))

    __eq__ = WorkItemAPI.__eq__
    __hash__ = WorkItemAPI.__hash__

    def __repr__(self) -> str:
        return f"<ScheduledItem {self.name} ({self.id})>"


class Scheduler:
    """Base class of schedulers. Subclasses implement ``on_schedule``; the rest is optional.

    ``type_name`` is the name graph files use (``graph.scheduler("farm", "local", slots=4)``);
    ``in_process`` says whether it runs in-process items by default (the in-process scheduler
    does; other schedulers get them only when ``on_accept_work_item`` returns ACCEPT).
    """

    type_name = "scheduler"
    in_process = False
    #: whether its jobs call back to a result server (the cook starts one when a scheduler needs it)
    needs_result_server = False
    #: set by the cook's dispatch between its ``on_start`` and its ``on_stop`` (a scheduler the
    #: graph declares lives as long as the process, across cooks)
    _pdg_alive: bool = False

    def __init__(
        self,
        name: str | None = None,
        *,
        tick_period: float = 0.5,
        max_items: int | None = 30,
        working_dir: str | None = None,
    ) -> None:
        self.name = name or self.type_name
        if tick_period <= 0:
            raise GraphError(f"scheduler {self.name}: tick_period must be positive, not {tick_period}")
        if max_items is not None and max_items < 1:
            raise GraphError(f"scheduler {self.name}: max_items must be at least 1, not {max_items}")
        self.tick_period = float(tick_period)
        self.max_items = max_items
        self.working_dir = working_dir
        self.reporter: Reporter | None = None
        self.cancel_reason = ""  # what ``on_tick`` returning CANCEL_COOK wants recorded
        self.result_server_addr = ""
        self.result_server_env: dict[str, str] = {}
        self.graph_dir = ""  # the graph's folder (PDG_DIR); set when the cook starts
        self.job_temp = ""  # the jobs' temporary folder (PDG_TEMP); set when the cook starts
        self.transfers: Transfers | None = (
            None  # the cook's transfers (engine.files.transfer); set when the cook starts
        )
        self.job_env: dict[str, str] = {}  # what every job of the cook gets besides its own (the path map)
        #: the project and the working folders the cook's schedulers declare (the cook's paths): where a
        #: job's outputs may be (engine.files.confine); set when the cook starts
        self.path_bounds: tuple[str, ...] = ()

    @property
    def cook_reporter(self) -> Reporter:
        """``reporter``, for the callbacks a cook makes: the cook sets it before ``on_start``."""
        reporter = self.reporter
        if reporter is None:
            raise RuntimeError(f"scheduler {self.name} was asked to report outside a cook")
        return reporter

    # -- the callbacks -------------------------------------------------------------------------
    def on_schedule(self, item: ScheduledItem) -> ScheduleResult:
        raise NotImplementedError(f"scheduler {self.name} does not implement on_schedule")

    def on_tick(self) -> TickResult:
        return TickResult.READY

    def on_accept_work_item(self, item: ScheduledItem) -> AcceptResult:
        """Asked for each out-of-process item routed here (REJECT fails it) and, when this scheduler
        does not run in-process items itself, for the in-process items of nodes that name it."""
        return AcceptResult.DEFAULT

    #: the engine's own schedulers decide acceptance by kind alone: asking them per item costs a view
    builtin_accept = False

    def asks_accept(self) -> bool:
        """Whether out-of-process items are offered to ``on_accept_work_item`` one by one."""
        return type(self).on_accept_work_item is not Scheduler.on_accept_work_item and not self.builtin_accept

    def callback_name(self, callback: str) -> str:
        """The engine's callback ``callback`` (``on_schedule``) as this class spells it, for the
        messages that name it (``pdg.Scheduler``: PDG's camelCase)."""
        return callback

    def on_configure_cook(self, cook_options: dict) -> None:
        """Called before the cook starts; may change ``cook_options`` (a dict of the cook's options)."""

    def on_start_cook(self, static: bool, cook_set: list) -> bool:
        """``cook_set``: the names of the nodes being cooked. Returning False aborts the cook."""
        return True

    def on_stop_cook(self, cancel: bool) -> bool:
        """The cook ended; on ``cancel`` kill what still runs and return only once it is gone."""
        return True

    def running_here(self) -> list[str]:
        """After ``on_stop_cook``: the items whose work still runs in the cook's own process (a
        thread cannot be killed). The cook waits for them with ``wait_here`` before it returns, so
        none writes a file or reports once it is over. Only schedulers running Python work on
        threads of the cook's process have any."""
        return []

    def wait_here(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``running_here`` to end; whether it has."""
        return True

    def on_start(self) -> None:
        """The scheduler was created (once per cook process)."""

    def on_stop(self) -> None:
        """The scheduler is released."""

    def on_cancel_work_items(self, work_items: list, node: Any = None) -> None:
        """Cancel these items' jobs (``work_items``: item ids); each is reported cancelled."""

    def job_reported(self, item_id: str, ok: bool, message: str) -> None:
        """The job reported its own status through the Job API; it decides the item's outcome
        when the job ends (schedulers that judge exit codes take it into account)."""

    def job_heard(self, item_id: str) -> None:
        """The job of ``item_id`` called the Job API (a report or ``pdgcmd.keepalive``): it is alive.
        Schedulers with a heartbeat rule (the local scheduler's ``heartbeat_timeout``) reset its clock."""

    def on_schedule_static(self, dependency_map: dict, dependent_map: dict, ready_items: list) -> list | None:
        """A static cook (``pdg cook --static``): the whole planned graph at once, before anything
        runs (``engine.cook.static``: item id -> set of item ids; items of dynamic nodes are not in it).
        ``ready_items`` are this scheduler's ready ``ScheduledItem``s. Return those to offer through
        ``on_schedule`` as the dynamic cook does (the default: all); the others are this
        scheduler's to run and report. Items that become ready later come through ``on_schedule``."""
        return list(ready_items)

    def get_status_uri(self, item: ScheduledItem) -> str:
        return ""

    def get_log_uri(self, item: ScheduledItem) -> str:
        return ""

    def application_bin(self, name: str, item: ScheduledItem | None = None) -> str:
        """The program to run for application ``name``; "python" is this interpreter."""
        if name in ("python", "python3"):
            return sys.executable
        raise GraphError(f"scheduler {self.name} does not know application {name!r}")

    def transfer_inputs(self, item: ScheduledItem) -> list:
        """Transfer the item's input files to this scheduler's ``working_dir`` before its job starts
        (nothing when that is the project's folder): ``engine.files.transfer.Transfer`` records. Call it
        from ``on_schedule`` (the loop's thread); a handler's error raises HandlerError naming it."""
        if self.transfers is None or not self.transfers.needed(self):
            return []
        return self.transfers.transfer_inputs(item.item, self)

    def work_item_result_server_addr(self) -> str:
        """``host:port`` of the result server its jobs report to ('' when there is none); the
        ``__PDG_RESULT_SERVER__`` token and the jobs' ``$PDG_RESULT_SERVER``."""
        return self.result_server_addr

    def job_tokens(self, item) -> dict:
        """The values of the ``__PDG_*__`` command tokens (and job variables) for ``item``."""
        return {
            "PDG_DIR": self.graph_dir,
            "PDG_ITEM_NAME": item.name,
            "PDG_ITEM_ID": item.id,
            "PDG_INDEX": str(item.index),
            "PDG_TEMP": self.job_temp,
            "PDG_SCRIPTDIR": os.path.join(self.job_temp, "scripts"),
            "PDG_RESULT_SERVER": self.work_item_result_server_addr(),
        }

    def job_environment(self, item) -> dict:
        """Everything an out-of-process job of ``item`` needs, for a scheduler that starts jobs its
        own way: the Job API modules in ``$PDG_TEMP/scripts``, the item's JSON written, and the
        environment (``PDG_ITEM_NAME``, ``PDG_ITEM_ID``, ``PDG_TEMP``, ``PDG_DIR``,
        ``PDG_RESULT_SERVER`` and its secret, ``PDG_PATHMAP``, ``PYTHONPATH`` ...) to start it with."""
        from pathlib import Path

        from pdgstore.engine.schedulers import jobs
        from pdgstore.engine.schedulers.jobdata import install_job_modules

        temp = Path(self.job_temp)
        if not (temp / "scripts" / "pdgcmd.py").exists():
            install_job_modules(temp)
        env, _log = jobs.prepare(item, self, temp)
        return env


#: type name -> class, for ``graph.scheduler(name, type_name)``; plugins and graph files add theirs
#: (read it through ``types()``, which registers the built-in types first)
TYPES: dict[str, type[Scheduler]] = {}
#: the built-in types' modules by type name: each registers its type when imported, on first need
#: (importing ``pdgstore.engine`` imports no scheduler up front, and a cook imports only the types
#: it uses: the dask type's module brings asyncio, a cost no cook of the other types should pay)
BUILTIN_MODULES = {
    "inprocess": "pdgstore.engine.schedulers.inprocess",
    "local": "pdgstore.engine.schedulers.local",
    "dask": "pdgstore.engine.schedulers.dask",
}


def type_named(name: str) -> type[Scheduler] | None:
    """The scheduler type registered as ``name`` (a built-in one imported first), or None."""
    cls = TYPES.get(name)
    if cls is None and name in BUILTIN_MODULES:
        import importlib

        importlib.import_module(BUILTIN_MODULES[name])
        cls = TYPES.get(name)
    return cls


def types() -> dict[str, type[Scheduler]]:
    """``TYPES``, every built-in scheduler type registered (to list them all)."""
    for name in BUILTIN_MODULES:
        type_named(name)
    return TYPES


def register_type(cls: type[Scheduler], type_name: str | None = None) -> type[Scheduler]:
    """Make a scheduler class known by ``type_name``, else by the ``type_name`` the class itself
    declares, else by its class name (as PDG's ``registerScheduler(cls)``): one it only inherits
    (``pdg.Scheduler``'s, a built-in's) would be every such class's (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Scheduler)):
        raise GraphError(f"a scheduler type must be a subclass of engine.Scheduler, not {cls!r}")
    name = type_name or own_type_name(cls)
    if TYPES.get(name, cls) is not cls:
        raise GraphError(f"scheduler type {name} is already registered ({TYPES[name].__qualname__})")
    TYPES[name] = cls
    return cls


def own_type_name(cls: type[Scheduler]) -> str:
    """The ``type_name`` a class declares itself, else its class name: not one it only inherits
    (``pdg.Scheduler``'s, a built-in's), which would be every such class's."""
    return cls.__dict__.get("type_name") or cls.__name__


def make(name: str, kind: str | type[Scheduler], parms: dict) -> Scheduler:
    """A scheduler instance named ``name`` of ``kind`` (a registered type name or a class). The
    instance's ``type_name`` is the name it was asked by (or its class's own), which its messages
    say: a ``pdg.Scheduler`` subclass is not "pdg_scheduler"."""
    if isinstance(kind, str):
        cls = type_named(kind)
        if cls is None:
            raise GraphError(f"scheduler {name}: unknown scheduler type {kind!r} (known: {', '.join(sorted(types()))})")
    elif isinstance(kind, type) and issubclass(kind, Scheduler):
        cls = kind
    else:
        raise GraphError(f"scheduler {name}: the type is a type name or a Scheduler subclass, not {kind!r}")
    type_name = kind if isinstance(kind, str) else own_type_name(cls)
    construct = getattr(cls, "construct", None)  # pdg.Scheduler: PDG's __init__(self, scheduler, name)
    if construct is None:
        checks.annotated(f"scheduler {name} ({type_name})", cls.__init__, parms)
    try:
        instance = construct(name, parms) if construct is not None else cls(name, **parms)
    except TypeError as exc:
        raise GraphError(f"scheduler {name} ({type_name}): {exc}") from None
    instance.type_name = type_name
    return instance
