"""The event types: immutable, past-tense facts about graphs, cooks and work items.

Every event shares an envelope (``seq``, ``time_ns``, ``cook_id``, ``graph``) that the log stores in
indexed columns, plus the fields of its kind, which the codec packs into a msgpack payload. Each class
declares a stable ``kind`` string (the name stored in the log, never derived from the class path) and
the field that names its ``subject`` (a node, a work item or the graph). A registry refuses a kind
declared twice, at import time.

Field values are msgpack-native only: ints, floats, strings, bools, lists and string-keyed dicts.
Files travel as lists ``[path, tag, size, mtime_ns, hash]`` with POSIX paths relative to the graph's
project root; attributes as ``{name: [type, [values...]]}`` (see ``pdgstore.state``).

The classes have no ``__slots__`` on purpose: decoding hands an event its payload dict as its
``__dict__`` in one call (see ``pdgstore.codec``), which is most of what makes replay fast. Payload
versions (``v``) per kind, and what each field means, are documented on each class; a change to a
payload bumps its ``v`` and adds an upcaster in ``pdgstore.codec``.
"""

from __future__ import annotations

from dataclasses import Field, FrozenInstanceError, field
from typing import TYPE_CHECKING, Any, ClassVar

#: A file record's fields, by position: ``record[SIZE]`` reads as what it is (a record is a list,
#: as msgpack gives it back, so that records compare equal whether fresh or replayed).
PATH, TAG, SIZE, MTIME_NS, HASH = range(5)

#: kind string -> event class
REGISTRY: dict[str, type[Event]] = {}

#: Work item states, PDG's vocabulary.
STATES = (
    "uncooked",
    "waiting",
    "scheduled",
    "cooking",
    "cooked_success",
    "cooked_cache",
    "cooked_fail",
    "cooked_cancel",
    "dirty",
)
DONE_STATES = frozenset({"cooked_success", "cooked_cache"})
FINISHED_STATES = frozenset({"cooked_success", "cooked_cache", "cooked_fail", "cooked_cancel"})


def register(kind: str, subject: str, version: int = 1):
    """Declare a class as the event of ``kind``; ``subject`` names the field that is its subject."""

    def wrap(cls):
        if kind in REGISTRY:
            raise TypeError(f"event kind {kind!r} is declared twice ({REGISTRY[kind].__name__}, {cls.__name__})")
        cls.kind = kind
        cls.subject_field = subject
        cls.version = version
        cls.payload_fields = tuple(name for name in cls.field_names if name not in ENVELOPE)
        cls._width = len(cls.payload_fields)
        #: "v" and each payload field in order, with its default (None where a factory makes it):
        #: ``codec.new_event`` lays the given fields over it to get the payload in its written order
        cls._payload_template = {"v": version, **{name: cls._defaults.get(name) for name in cls.payload_fields}}
        REGISTRY[kind] = cls
        return cls

    return wrap


ENVELOPE = ("seq", "time_ns", "cook_id", "graph")


def record(cls):
    """Make ``cls`` an event record: keyword-only fields, each with a default (or a
    ``field(default_factory=...)``), read from its annotations and its bases', in order.

    It gives what ``@dataclass(frozen=True, kw_only=True)`` gave (``__init__``, ``__eq__``,
    ``__repr__``, immutability: the methods live on ``Event``) without compiling new methods for each
    kind: every ``pdg`` process would otherwise compile them for every kind at start-up, used or not."""
    defaults: dict[str, Any] = {}
    factories: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for name, annotation in klass.__dict__.get("__annotations__", {}).items():
            if "ClassVar" in str(annotation):
                continue
            value = klass.__dict__.get(name)
            defaults.pop(name, None)
            factories.pop(name, None)
            if isinstance(value, Field):
                factories[name] = value.default_factory
            else:
                defaults[name] = value
    for name, value in list(vars(cls).items()):
        if isinstance(value, Field):
            delattr(cls, name)
    order = [
        name
        for klass in reversed(cls.__mro__)
        for name in klass.__dict__.get("__annotations__", {})
        if name in defaults or name in factories
    ]
    cls.field_names = tuple(dict.fromkeys(order))
    cls._field_set = frozenset(cls.field_names)
    cls._defaults = defaults
    cls._factories = tuple(factories.items())
    return cls


@record
class Event:
    """The envelope every event carries. ``seq`` is assigned by the single writer, in log order."""

    kind: ClassVar[str]
    subject_field: ClassVar[str]
    version: ClassVar[int]
    payload_fields: ClassVar[tuple[str, ...]]
    _width: ClassVar[int]  # len(payload_fields), for the codec's fast path
    _payload_template: ClassVar[dict]

    if TYPE_CHECKING:
        # Code that reads the log reads the fields of an event's kind, which ``event.kind`` tells at
        # run time and a type checker cannot: to it, any field is there and typed Any.
        def __getattr__(self, name: str) -> Any: ...

    seq: int = 0
    time_ns: int = 0
    cook_id: int = 0
    graph: str = ""

    field_names: ClassVar[tuple[str, ...]]
    _field_set: ClassVar[frozenset]
    _defaults: ClassVar[dict]
    _factories: ClassVar[tuple]

    def __init__(self, **values: Any) -> None:
        object.__setattr__(self, "__dict__", self.values_of(values))

    @classmethod
    def values_of(cls, given: dict) -> dict:
        """Every field's value: ``given`` over the defaults (a fresh list or dict for each field with
        a factory that ``given`` leaves out). A field the kind does not have is refused."""
        return cls.filled({**cls._defaults, **given})

    @classmethod
    def filled(cls, values: dict) -> dict:
        """``values`` (the defaults already under what was given) with a fresh list or dict for each
        field with a factory that it lacks, in place; a field the kind does not have is refused."""
        if not values.keys() <= cls._field_set:
            raise TypeError(f"{cls.__name__} has no field {sorted(values.keys() - cls._field_set)[0]!r}")
        for name, factory in cls._factories:
            if name not in values:
                values[name] = factory()
        return values

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}: events are immutable")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}: events are immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    __hash__ = None  # type: ignore[assignment]  # events carry lists and dicts: not hashable

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self.field_names)})"

    @property
    def subject(self) -> str:
        return getattr(self, self.subject_field)

    def payload(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.payload_fields}


@register("GraphLoaded", subject="graph", version=2)
@record
class GraphLoaded(Event):
    """A graph definition was loaded for a cook (v2).

    ``path``: the graph file, POSIX, relative to the store's folder; ``root``: the project root that
    file paths are relative to, likewise; ``nodes``: ``[{name, type, inputs, parms}]`` in definition
    order; ``parms``: the graph parameters' effective values; ``working_dirs`` (v2): the absolute
    working folders the graph's schedulers declare, where outputs may lie besides the project (so
    ``pdg dirty --remove-outputs`` knows them without the graph file).
    """

    path: str = ""
    root: str = ""
    nodes: list = field(default_factory=list)
    parms: dict = field(default_factory=dict)
    working_dirs: list = field(default_factory=list)


@register("CookStarted", subject="graph")
@record
class CookStarted(Event):
    """A cook began (v1): ``node`` is the target ('' for the whole graph), ``jobs`` the pool size,
    ``pid`` the cooking process, ``overrides`` the ``--set`` values."""

    node: str = ""
    jobs: int = 1
    pid: int = 0
    overrides: dict = field(default_factory=dict)


@register("CookStaticPlanned", subject="graph")
@record
class CookStaticPlanned(Event):
    """A static cook (``pdg cook --static``) planned its graph before anything ran and handed it to
    its schedulers (v1): ``items`` still to cook, their ``dependencies`` (edges), ``ready`` at
    once, and the ``dynamic_nodes`` whose items only their parents' results can tell."""

    items: int = 0
    dependencies: int = 0
    ready: int = 0
    dynamic_nodes: list = field(default_factory=list)


@register("CookFinished", subject="graph", version=3)
@record
class CookFinished(Event):
    """A cook ended (v1): ``status``, ``message``, item ``counts``; ``consistent`` (v2): a cook of one
    node left the graph as a whole cook would (``engine.incremental.noop``); ``nodes`` (v3): the
    nodes whose items it wrote events about, sorted; None if not counted (a dead cook's end)."""

    status: str = "success"
    message: str = ""
    counts: dict = field(default_factory=dict)
    consistent: bool = False
    nodes: list | None = None


@register("CookWarning", subject="about")
@record
class CookWarning(Event):
    """Something went wrong that did not stop the cook (v1), e.g. an event handler raised.
    ``about`` is the item id, node or graph concerned."""

    about: str = ""
    message: str = ""


@register("NodeDirtied", subject="node")
@record
class NodeDirtied(Event):
    """Every work item of ``node`` became dirty, because of ``reason`` (v1)."""

    node: str = ""
    reason: str = ""


@register("NodeGenerated", subject="node")
@record
class NodeGenerated(Event):
    """``node`` finished generating its work items in this cook: ``count`` of them (v1)."""

    node: str = ""
    count: int = 0


@register("NodeCooked", subject="node")
@record
class NodeCooked(Event):
    """Every work item of ``node`` finished cooking in this cook (v1); ``failed`` counts failures."""

    node: str = ""
    failed: int = 0


@register("WorkItemGenerated", subject="item_id", version=3)
@record
class WorkItemGenerated(Event):
    """A work item was generated, or regenerated with the same identity (v3).

    ``parents``: the item ids it depends on (a partition's members, a child's parent); ``attrs``,
    ``inputs`` and ``outputs`` as it starts; ``state`` its first state (a file pattern's items are
    generated cooked); ``signature`` (v2) the hash of what a born-cooked item's results were made
    from ('' for items that still have work to do). ``patched`` (v3): the long lists of a
    regenerated item written as changes to the item's lists before it, ``{field: splices}``
    (``pdgstore.patches``; the payload's value of a patched field is ignored); {} when whole.
    """

    item_id: str = ""
    node: str = ""
    name: str = ""
    index: int = 0
    parents: list = field(default_factory=list)
    attrs: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    state: str = "uncooked"
    signature: str = ""
    patched: dict = field(default_factory=dict)


@register("WorkItemStateChanged", subject="item_id")
@record
class WorkItemStateChanged(Event):
    """A work item moved to ``state`` (v1); ``message`` says why when it is not obvious."""

    item_id: str = ""
    state: str = ""
    message: str = ""


@register("WorkItemCooked", subject="item_id", version=3)
@record
class WorkItemCooked(Event):
    """A work item's work ended, or its results were found in the cache (v2).

    ``state`` is cooked_success, cooked_cache or cooked_fail; ``attrs`` the attributes its work set
    (merged over the ones it had); ``outputs`` its output files; ``started_ns``/``duration_ns`` when
    and how long it ran; ``error`` the exception's one-line summary and ``traceback`` the full text on
    failure. v2 adds ``signature``, the hash of the inputs, attributes, parameters and code its results
    were made from (what the next cook compares to decide whether it is stale), and ``reason``, for a
    cooked_cache item how the cache satisfied it (``{"cache_mode": ..., "files": [...]}``). v3 adds
    ``patched``: ``{"outputs": splices}`` when a partition's long outputs are written as changes to
    the item's outputs before it (``pdgstore.patches``); {} when written whole.
    """

    item_id: str = ""
    state: str = "cooked_success"
    attrs: dict = field(default_factory=dict)
    outputs: list = field(default_factory=list)
    started_ns: int = 0
    duration_ns: int = 0
    error: str = ""
    traceback: str = ""
    signature: str = ""
    reason: dict = field(default_factory=dict)
    patched: dict = field(default_factory=dict)


@register("WorkItemRemoved", subject="item_id")
@record
class WorkItemRemoved(Event):
    """A work item no longer exists: its node's regeneration did not produce it again (v1)."""

    item_id: str = ""
    reason: str = ""


@register("WorkItemDirtied", subject="item_id")
@record
class WorkItemDirtied(Event):
    """A decision to rerun a work item, with the facts that decided it (v1).

    ``reason`` is a dict (see ``pdgstore.reasons``): ``cache_state`` in PDG's vocabulary
    (dirty_new, dirty_empty, dirty_missing, dirty_stale, dirty_always), ``cause`` (what changed) and
    the facts: the file path with its old and new size and hash, the parameter with its old and new
    value, the upstream item that changed, the code fingerprints. The item's state becomes dirty.
    """

    item_id: str = ""
    reason: dict = field(default_factory=dict)


@register("WorkItemRestatted", subject="item_id", version=2)
@record
class WorkItemRestatted(Event):
    """A work item's files were found with a new mtime but the same content (v1: its outputs):
    ``outputs`` are the refreshed records, so the next stat of those files is a cheap (mtime_ns,
    size) match again instead of a hash. v2 adds ``attrs``, the file attributes whose records were
    refreshed, each whole (``engine.files.attrfiles``); ``outputs`` [] then keeps the item's."""

    item_id: str = ""
    outputs: list = field(default_factory=list)
    attrs: dict = field(default_factory=dict)


@register("WorkItemRenumbered", subject="item_id")
@record
class WorkItemRenumbered(Event):
    """A reused work item's position changed (v1), e.g. a file added before it in a file pattern:
    its ``name`` and ``index`` follow; its identity and results do not."""

    item_id: str = ""
    name: str = ""
    index: int = 0


@register("WorkItemAccepted", subject="item_id")
@record
class WorkItemAccepted(Event):
    """The user accepted a work item's current files as up to date without running it (v1).

    ``outputs`` are its files as they are now. The next cook takes whatever it finds the item's
    inputs to be as the ones these results were made from (and records that signature).
    """

    item_id: str = ""
    outputs: list = field(default_factory=list)
    message: str = ""


@register("FileTransferred", subject="path")
@record
class FileTransferred(Event):
    """A transfer handler reported ``path`` copied to (or found cached at) ``scheduler``'s working
    directory (v1); ``cache_id`` is the id the handler returned, handed back to it next time."""

    path: str = ""
    scheduler: str = ""
    cache_id: int = 0


@register("LogCompacted", subject="graph")
@record
class LogCompacted(Event):
    """``pdg compact`` folded every event up to seq ``cut`` into the base snapshot and removed them
    (v1): ``events`` of them, from a store of ``bytes_before`` bytes. The state does not change."""

    cut: int = 0
    events: int = 0
    bytes_before: int = 0


@register("CookTriggered", subject="graph")
@record
class CookTriggered(Event):
    """What started this cook when no one typed ``pdg cook`` (v1): ``by`` is watch or schedule;
    ``files`` the changed files that triggered a watch cook (POSIX, relative to the project root,
    at most ``FILES_KEPT``), ``count`` how many there were; ``watch`` the watch session's id (0
    when none), ``schedule`` the schedule's id ('' when none); ``message`` a one-line why."""

    by: str = ""
    files: list = field(default_factory=list)
    count: int = 0
    watch: int = 0
    schedule: str = ""
    message: str = ""


#: changed files a CookTriggered keeps (a burst of 10,000 saves needs no 10,000 paths in the log)
FILES_KEPT = 50


@register("WatchStarted", subject="graph")
@record
class WatchStarted(Event):
    """A ``pdg watch`` session began (v1); its ``seq`` is the session's id. ``path``: the graph
    file (as given, absolute); ``node`` the target; ``mode`` native or poll; ``poll_s`` the polling
    interval (0 when native); ``pid`` the watching process."""

    path: str = ""
    node: str = ""
    mode: str = "native"
    poll_s: float = 0.0
    pid: int = 0


@register("WatchStopped", subject="graph")
@record
class WatchStopped(Event):
    """The watch session ``watch`` ended (v1): ``cooks`` it started, ``message`` why it stopped."""

    watch: int = 0
    cooks: int = 0
    message: str = ""


@register("WatchModeChanged", subject="graph")
@record
class WatchModeChanged(Event):
    """The watch session ``watch`` switched to ``mode`` (v1), e.g. to polling every ``poll_s``
    seconds because the platform's watch limit was reached; ``message`` says why."""

    watch: int = 0
    mode: str = "poll"
    poll_s: float = 0.0
    message: str = ""


@register("ScheduleAdded", subject="schedule")
@record
class ScheduleAdded(Event):
    """A scheduled cook was defined (v1). ``schedule``: its id (a number, as text); ``path`` the
    graph file (absolute); ``node`` the target ('' whole graph); ``cron`` a crontab expression or
    ``every_s`` an interval in seconds (the other empty/0); ``overrides`` the ``--set`` values."""

    schedule: str = ""
    path: str = ""
    node: str = ""
    cron: str = ""
    every_s: float = 0.0
    overrides: dict = field(default_factory=dict)


@register("ScheduleChanged", subject="schedule")
@record
class ScheduleChanged(Event):
    """The timing of ``schedule`` changed (v1): ``cron`` or ``every_s`` as in ScheduleAdded."""

    schedule: str = ""
    cron: str = ""
    every_s: float = 0.0


@register("ScheduleRemoved", subject="schedule")
@record
class ScheduleRemoved(Event):
    """``schedule`` was removed (v1); its past fires stay in the log."""

    schedule: str = ""


@register("ScheduleFired", subject="schedule")
@record
class ScheduleFired(Event):
    """``schedule`` came due at ``due_ns`` and its cook starts now (v1); ``late_s`` how late,
    ``missed`` how many earlier due times this one fire stands for (coalesced)."""

    schedule: str = ""
    due_ns: int = 0
    late_s: float = 0.0
    missed: int = 0


@register("ScheduleMissed", subject="schedule")
@record
class ScheduleMissed(Event):
    """``schedule`` was due ``count`` times from ``first_ns`` to ``last_ns`` while no service ran
    (or later than the misfire grace) (v1); ``message`` says what is done about it."""

    schedule: str = ""
    count: int = 0
    first_ns: int = 0
    last_ns: int = 0
    message: str = ""


@register("ScheduleSkipped", subject="schedule")
@record
class ScheduleSkipped(Event):
    """``schedule`` came due at ``due_ns`` but did not cook (v1), e.g. the store stayed busy with
    another cook; ``message`` says why."""

    schedule: str = ""
    due_ns: int = 0
    message: str = ""


@register("JobStarted", subject="item_id")
@record
class JobStarted(Event):
    """A scheduler started a work item's job (v1): the item is cooking. ``scheduler`` names it,
    ``attempt`` counts from 1 (retries add one), ``pid`` is the job's process (0 in-process) and
    ``log_uri`` where its output goes ('' when it has none)."""

    item_id: str = ""
    scheduler: str = ""
    attempt: int = 1
    pid: int = 0
    log_uri: str = ""


@register("JobEnded", subject="item_id")
@record
class JobEnded(Event):
    """A work item's job ended (v1) with ``exit_code`` (a negative number: killed by that signal).
    ``outcome`` is success, warning, ignore, failure, cancelled (the job said so, ``pdgcmd.workItemCancelled``)
    or retry (then the item is scheduled again: a later JobStarted follows); ``message`` says why in
    words (timeout, memory, exit code)."""

    item_id: str = ""
    exit_code: int = 0
    outcome: str = "success"
    message: str = ""


@register("WorkItemAttribSet", subject="item_id")
@record
class WorkItemAttribSet(Event):
    """A running job set an attribute of its work item (v1): ``attr`` is ``[type, [values...]]``."""

    item_id: str = ""
    name: str = ""
    attr: list = field(default_factory=list)


@register("WorkItemOutputAdded", subject="item_id")
@record
class WorkItemOutputAdded(Event):
    """A running job reported output files of its work item (v1), as file records."""

    item_id: str = ""
    outputs: list = field(default_factory=list)


@register("WorkItemLogged", subject="item_id")
@record
class WorkItemLogged(Event):
    """A job or its scheduler said something about a work item (v1): ``level`` is info or warning."""

    item_id: str = ""
    level: str = "info"
    text: str = ""


# the batch of a node's static items, declared beside its reading (registered here, on import)
from pdgstore.itembatch import WorkItemsGenerated as WorkItemsGenerated  # noqa: E402
