"""The public API a graph file uses to build a graph: nodes, connections, parameters, handlers.

A graph file is plain Python::

    from pdgstore.engine import Graph

    graph = Graph("wordcount")
    min_len = graph.parm("min_length", 3)          # overridable: pdg cook ... --set min_length=5
    texts = graph.file_pattern("texts", "texts/*.txt")

    @graph.python_processor("count", upstream=texts)
    def count(item):
        item.set_attrib("words", len(item.input_path.read_text().split()))

    total = graph.wait_for_all("gather", count)

Relative paths resolve against the graph file's directory (the graph's ``root``). Nodes connect to
upstream nodes given as Node objects or names; ``validate()`` refuses unknown names and cycles,
naming the nodes involved, and ``add`` refuses a duplicate name at once.
"""

from __future__ import annotations

import contextlib
import os
import sys
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pdgstore.engine.errors import GraphError, ParmError
from pdgstore.engine.files.filetypes import TypeRegistry
from pdgstore.engine.graph import nodes as n
from pdgstore.engine.graph.attribnodes import PythonScript
from pdgstore.engine.graph.attribs import recordable, unrecordable_part
from pdgstore.engine.graph.commands import CommandProcessor, PythonScriptProcessor
from pdgstore.engine.graph.generators import RangeGenerator
from pdgstore.engine.graph.library import NodeLibrary
from pdgstore.engine.graph.when import set_generate_when
from pdgstore.engine.pdgapi.items import NODE_TYPES
from pdgstore.engine.schedulers import contract as sched

#: The graph file being run and its overrides, while ``loading`` holds: a ``Graph()`` made then
#: belongs to that file (its name, root and ``--set`` values come from it).
_loading: dict[str, Any] = {}


@contextlib.contextmanager
def loading(path: str, overrides: dict | None):
    """While the loader runs the graph file at ``path``: graphs made meanwhile are that file's."""
    _loading.update(path=path, overrides=dict(overrides or {}))
    try:
        yield
    finally:
        _loading.clear()


PARM_TYPES = (bool, int, float, str)


def convert_parm(name: str, text: Any, default: Any) -> Any:
    """``text`` converted to the type of ``default`` (bool, int, float or str), or ParmError."""
    kind = type(default)
    if not isinstance(text, str):
        if isinstance(text, kind) or (kind is float and isinstance(text, int) and not isinstance(text, bool)):
            return kind(text)
        raise ParmError(f"parameter {name} is {_a(kind)}, not {type(text).__name__} {text!r}")
    try:
        if kind is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        return kind(text)
    except ValueError:
        raise ParmError(f"parameter {name} is {_a(kind)}: {text!r} is not one") from None


def _a(kind: type) -> str:
    return ("an " if kind.__name__[0] in "aeiou" else "a ") + kind.__name__


class Graph(NodeLibrary):
    """A procedural dependency graph: nodes that generate, cook and partition work items. The
    node library (wedge, frame_range, the partitioners, attribute nodes, ...) is in
    ``engine.graph.library``."""

    def __init__(self, name: str | None = None, *, root: str | None = None, overrides: dict | None = None) -> None:
        path = _loading.get("path")
        self.path = path
        self.name = name or (os.path.splitext(os.path.basename(path))[0] if path else "graph")
        self.root = os.path.abspath(root or (os.path.dirname(path) if path else os.getcwd()))
        self.overrides = dict(_loading.get("overrides", {}) if overrides is None else overrides)
        self.nodes: dict[str, n.Node] = {}
        self.parms: dict[str, Any] = {}
        self.parm_help: dict[str, str] = {}
        self.handlers: list[tuple[str, Callable, str | None]] = []
        #: the line of the graph file that registered each of ``handlers`` (``validate`` names it)
        self.handler_lines: list[int | None] = []
        self.default_jobs: int | None = None
        #: scheduler name -> instance; nodes without their own use ``default_scheduler`` (None: the
        #: in-process one for in-process nodes, the local one for out-of-process nodes)
        self.schedulers: dict[str, sched.Scheduler] = {}
        self.default_scheduler: str | None = None
        #: file tags and the stat, cache and transfer handlers for them (see engine.files.filetypes); the
        #: loader adds the types plugins found on PDG_PATH and beside the graph file
        self.types = TypeRegistry.of_project(self.root)
        self._held: list[dict] | None = None  # ``describe`` while ``holding_description``

    # -- parameters ------------------------------------------------------------------------------
    def parm(self, name: str, default: Any, help: str = "") -> Any:
        """Declare a graph parameter and return its value for this cook (``--set`` overrides it)."""
        if not isinstance(default, PARM_TYPES):
            raise GraphError(f"graph parameter {name}: the default must be bool, int, float or str")
        if name in self.parms:
            raise GraphError(f"graph parameter {name} is declared twice")
        value = convert_parm(name, self.overrides[name], default) if name in self.overrides else default
        self.parms[name] = value
        self.parm_help[name] = help
        return value

    def check_overrides(self) -> None:
        unknown = sorted(set(self.overrides) - set(self.parms))
        if unknown:
            have = ", ".join(sorted(self.parms)) or "none"
            raise ParmError(f"graph {self.name} has no parameter {unknown[0]} (its parameters: {have})")

    # -- nodes -----------------------------------------------------------------------------------
    def add(self, node: n.Node) -> n.Node:
        """Add a node (built-in or a user class following the processor/partitioner contract)."""
        if not node.name or not isinstance(node.name, str) or "/" in node.name:
            raise GraphError(f"a node name must be a non-empty string without '/', not {node.name!r}")
        if node.name in self.nodes:
            raise GraphError(f"graph {self.name} has two nodes named {node.name}")
        node.graph = self
        node.declared_line = self._declared_line()
        self.nodes[node.name] = node
        NODE_TYPES[node.name] = node.type_name  # for handlers given only an item (``work_item.node.type``)
        return node

    def _declared_line(self) -> int | None:
        """The line of the graph file that is declaring a node now (the deepest of the file's
        frames in the stack), so a mistake found later, by ``validate``, can name it too."""
        frame: types.FrameType | None = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename == self.path:
                return frame.f_lineno
            frame = frame.f_back
        return None

    def file_pattern(self, name: str, pattern: str, *, tag: str | None = None) -> n.Node:
        """One work item per file matching ``pattern`` (a glob; ``**`` recurses)."""
        return self.add(n.FilePattern(name, pattern, tag))

    def range_generate(
        self,
        name: str,
        count: int | None = None,
        *,
        upstream=None,
        start=0,
        step=1,
        values=None,
        attribute="value",
        generate_when="automatic",
    ) -> n.Node:
        """``count`` items with ``attribute`` = start + index * step (or one per ``values``)."""
        node = RangeGenerator(name, _names(upstream), count, start=start, step=step, values=values, attribute=attribute)
        set_generate_when(node, generate_when)
        return self.add(node)

    @staticmethod
    def _upstream(upstream) -> list[str]:
        return _names(upstream)

    def python_processor(
        self,
        name=None,
        upstream=None,
        func: Callable | None = None,
        *,
        parms: dict | None = None,
        cache_mode: str = "automatic",
        expected_outputs=(),
        scheduler: str | None = None,
        generate_when: str = "automatic",
    ):
        """Run ``func(item)`` once per upstream item. Without ``func``, a decorator that returns
        the node: ``@graph.python_processor("name", upstream=other)``.

        ``cache_mode`` is automatic, automatic_ignore, always_read or always_write (see
        engine.files.cache); ``expected_outputs`` are file expressions (``out/@pdg_name.txt``) each item is
        expected to write: checked by the cache before it runs, and recorded after it ran (a missing
        one fails the item)."""
        if func is None and callable(name) and upstream is None:
            name, func = None, name  # bare @graph.python_processor

        def make(fn: Callable) -> n.Node:
            node = n.PythonProcessor(
                name or fn.__name__,
                _names(upstream),
                fn,
                parms,
                cache_mode=cache_mode,
                expected_outputs=expected_outputs,
            )
            node.scheduler = _scheduler_name(scheduler)
            set_generate_when(node, generate_when)
            return self.add(node)

        return make if func is None else make(func)

    def command(
        self,
        name: str,
        upstream=None,
        command=None,
        *,
        expected_outputs=(),
        scheduler=None,
        cache_mode: str = "automatic",
        env_attribs=(),
        env: dict | None = None,
        item_json: bool = False,
        generate_when: str = "automatic",
        batch_size: int = 0,
    ) -> n.Node:
        """Run ``command`` (a string, split into words, or a list; ``@attr`` expanded per item) once
        per upstream item, out-of-process on ``scheduler`` (default: the graph's, else local).
        ``item_json=True`` writes the item's JSON for jobs that read it with pdgjson. ``batch_size``
        N > 0: one job per batch of up to N items (PDG's batch work items, ``engine.cook.batches``)."""
        if command is None:
            raise GraphError(f"command node {name}: give a command")
        return self._batched(
            name,
            batch_size,
            CommandProcessor(
                name,
                _names(upstream),
                command,
                expected_outputs=expected_outputs,
                scheduler=_scheduler_name(scheduler),
                cache_mode=cache_mode,
                env_attribs=env_attribs,
                env=env,
                item_json=item_json,
            ),
            generate_when,
        )

    def _batched(self, name: str, batch_size, node: n.Node, generate_when: str) -> n.Node:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 0:
            raise GraphError(f"node {name}: batch_size is a whole number of items (0: no batches), not {batch_size!r}")
        node.batch_size = batch_size  # type: ignore[attr-defined]  # not a parameter of its items: batching changes no result
        if batch_size:
            node.item_json = True  # type: ignore[attr-defined]  # a batch's job reads its sub-items with pdgjson
        return self._processor(node, generate_when)

    def python_script(
        self,
        name: str,
        upstream=None,
        script: str | None = None,
        *,
        args=(),
        expected_outputs=(),
        scheduler=None,
        cache_mode: str = "automatic",
        env_attribs=(),
        env: dict | None = None,
        code: str | None = None,
        generate_when: str = "automatic",
        batch_size: int = 0,
    ) -> n.Node:
        """Run the Python file ``script`` once per upstream item, out-of-process, with the Job API
        modules (pdgjson, pdgcmd) importable. With ``code`` (Python source) instead of a script,
        run that in-process per item with ``work_item`` bound (PDG's Python Script evaluated
        in-process: it edits the item's attributes, ``work_item.setIntAttrib(...)``). ``batch_size``
        N > 0: one job per batch of up to N items (PDG's batch work items, ``engine.cook.batches``)."""
        if code is not None:
            if batch_size:
                raise GraphError(f"python script node {name}: batches are for scripts run as jobs, not for code")
            if script is not None:
                raise GraphError(f"python script node {name}: give a script file or code, not both")
            node = PythonScript(name, _names(upstream), code, cache_mode=cache_mode, expected_outputs=expected_outputs)
            node.scheduler = _scheduler_name(scheduler)
            return self._processor(node, generate_when)
        if script is None:
            raise GraphError(f"python script node {name}: give a script")
        return self._batched(
            name,
            batch_size,
            PythonScriptProcessor(
                name,
                _names(upstream),
                script,
                args=args,
                root=self.root,
                expected_outputs=expected_outputs,
                scheduler=_scheduler_name(scheduler),
                cache_mode=cache_mode,
                env_attribs=env_attribs,
                env=env,
            ),
            generate_when,
        )

    # -- schedulers ------------------------------------------------------------------------------
    def scheduler(
        self, name: str, kind: str | type[sched.Scheduler] | None = None, *, default: bool = False, **parms
    ) -> sched.Scheduler:
        """Declare a scheduler ``name`` of ``kind`` (a type name such as "local" or "inprocess",
        or a Scheduler subclass; default: ``name`` as the type) with its parameters. With
        ``default=True`` nodes without a scheduler of their own use it."""
        if name in self.schedulers:
            raise GraphError(f"graph {self.name} declares scheduler {name} twice")
        kind = kind or name
        try:
            instance = sched.make(name, kind, parms)
        except GraphError as exc:
            missing = isinstance(kind, str) and sched.type_named(kind) is None
            if missing and self.types.failed:  # the type's plugin did not load: say so, and why
                raise GraphError(f"{exc}; {self.types.failures()}") from None
            raise
        self.schedulers[name] = instance
        if default:
            self.default_scheduler = name
        return instance

    def register_scheduler_type(self, cls: type[sched.Scheduler], type_name: str | None = None):
        """Make a custom scheduler class usable by type name (also a decorator): ``type_name``, else
        the class's own ``type_name``, else its class name."""
        return sched.register_type(cls, type_name)

    def wait_for_all(self, name: str, upstream) -> n.Node:
        """One partition of every upstream item."""
        return self.add(n.WaitForAll(name, _names(upstream)))

    def partition_by_attribute(
        self,
        name: str,
        upstream,
        attribute,
        *,
        use_dynamic_partitioning=True,
        merge_input_attributes=True,
        range_size=None,
        merge_output_files="all",
    ) -> n.Node:
        """One partition per distinct value of ``attribute`` (a name, or a list: per distinct
        combination), or per value range of ``range_size`` of a numeric attribute.
        ``merge_output_files``: PDG's "Merge Output Files" (all, first, last, none)."""
        return self.add(
            n.PartitionByAttribute(
                name,
                _names(upstream),
                attribute,
                use_dynamic_partitioning=use_dynamic_partitioning,
                merge_input_attributes=merge_input_attributes,
                range_size=range_size,
                merge_output_files=merge_output_files,
            )
        )

    # -- event handlers --------------------------------------------------------------------------
    def on(self, event_type: str, handler: Callable | None = None, node: n.Node | str | None = None):
        """Call ``handler(event)`` for events of ``event_type`` ('*' for all), for the whole graph or
        one node. Without ``handler``, a decorator."""
        from pdgstore.engine.cook.handlers import EVENT_TYPES

        if event_type != "*" and event_type not in EVENT_TYPES:
            raise GraphError(f"unknown event type {event_type!r} (known: {', '.join(EVENT_TYPES)})")
        node_name = node.name if isinstance(node, n.Node) else node

        def register(fn: Callable) -> Callable:
            self.handlers.append((event_type, fn, node_name))
            self.handler_lines.append(self._declared_line())
            return fn

        return register if handler is None else register(handler)

    # -- shape -----------------------------------------------------------------------------------
    def validate(self) -> None:
        """Refuse connections to unknown nodes, cycles and parameters the log cannot hold, naming
        the nodes involved (the loader adds the line that declared each)."""
        for node in self.nodes.values():
            for up in node.inputs:
                if up not in self.nodes:
                    raise _declared_error(_line(node), f"node {node.name} is connected to unknown node {up}")
            if node.is_partitioner and not node.inputs:
                raise _declared_error(_line(node), f"partitioner {node.name} has no upstream node")
        for node in self.nodes.values():
            wanted = getattr(node, "scheduler", None)
            if wanted and wanted not in self.schedulers and sched.type_named(wanted) is None:
                raise _declared_error(
                    _line(node), f"node {node.name} uses scheduler {wanted}, which graph {self.name} does not declare"
                )
        for (event_type, _handler, node_name), line in zip(self.handlers, self.handler_lines, strict=True):
            if node_name is not None and node_name not in self.nodes:
                raise _declared_error(line, f"a {event_type} handler is registered for unknown node {node_name}")
        self.topological_order()
        self.describe()  # (a few milliseconds: each processor's source read again by the cook)
        named = {tag for node in self.nodes.values() if isinstance(tag := getattr(node, "tag", None), str)}
        for warning in self.types.unreached_handlers(named):  # the cook's warnings, once each
            if warning not in self.types.warnings:
                self.types.warnings.append(warning)

    def topological_order(self, names: Iterable[str] | None = None) -> list[str]:
        """Node names with every node after its inputs (definition order among equals)."""
        wanted = list(self.nodes) if names is None else list(names)
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str, path: list[str]) -> None:
            mark = state.get(name)
            if mark == 2:
                return
            if mark == 1:
                cycle = path[path.index(name) :] + [name]
                raise _declared_error(
                    _line(self.nodes[cycle[0]]), f"graph {self.name} has a cycle: {' -> '.join(cycle)}"
                )
            state[name] = 1
            for up in self.nodes[name].inputs:
                visit(up, path + [name])
            state[name] = 2
            order.append(name)

        for name in wanted:
            visit(name, [])
        return order

    def upstream_closure(self, node: str) -> list[str]:
        """``node`` and every node it needs, in topological order."""
        return self.topological_order([node])

    @contextlib.contextmanager
    def holding_description(self) -> Iterator[None]:
        """``describe`` once for a cook: its checks, the no-op manifest and the cook's first event
        all ask, and each description reads every Python processor's source (``code_fingerprint``:
        ``inspect.getsource``) again. The graph must not change meanwhile."""
        self._held = self.describe()
        try:
            yield
        finally:
            self._held = None

    def describe(self) -> list[dict]:
        """The nodes as the log records them (msgpack-native, so replay gives back the same)."""
        if self._held is not None:
            return self._held
        described = []
        for node in self.nodes.values():
            raw = node.parms()
            try:
                parms = recordable(raw)
            except TypeError:
                where, part = unrecordable_part(raw)
                raise _declared_error(
                    _line(node),
                    f"node {node.name}: parameter {where} ({type(part).__name__} {part!r:.60}) cannot be recorded:"
                    " use str-keyed dicts, lists, str, int, float, bool and None",
                ) from None
            described.append({"name": node.name, "type": node.type_name, "inputs": list(node.inputs), "parms": parms})
        return described


def _declared_error(line: int | None, message: str) -> GraphError:
    """A ``GraphError`` found after the graph file ran (by ``validate``) about what line ``line``
    of the file declared: the loader puts the line beside the file's name (``m.py:7: ...``)."""
    error = GraphError(message)
    error.line = line  # type: ignore[attr-defined]  # read by the loader with getattr
    return error


def _line(node: n.Node) -> int | None:
    """The line of the graph file that declared ``node`` (None: not declared by a graph file)."""
    return getattr(node, "declared_line", None)


def _scheduler_name(scheduler) -> str | None:
    if scheduler is None or isinstance(scheduler, str):
        return scheduler
    if isinstance(scheduler, sched.Scheduler):
        return scheduler.name
    raise GraphError(f"a node's scheduler is a scheduler name or a Scheduler, not {type(scheduler).__name__}")


def _names(upstream) -> list[str]:
    if upstream is None:
        return []
    if isinstance(upstream, (str, n.Node)):
        upstream = [upstream]
    names = []
    for up in upstream:
        if isinstance(up, n.Node):
            names.append(up.name)
        elif isinstance(up, str):
            names.append(up)
        else:
            raise GraphError(f"an upstream node is a Node or a node name, not {type(up).__name__}")
    return names
