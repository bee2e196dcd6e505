"""What runs for a work item: the in-process task of a python node, and which scheduler runs each node.

``task`` makes the function an in-process scheduler's worker calls for one item: it runs the node's
``cook`` on a private ``WorkItem`` copy and hands back a ``JobResult`` (the files it reported,
stat'ed and hashed on the worker, and its expected outputs checked), never touching the engine's
state. ``routes`` picks each working node's scheduler. ``expected_records`` checks a node's expected
outputs once a job ended, in-process or not.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pdgstore.engine.errors import GraphError, error_line
from pdgstore.engine.files import attrfiles
from pdgstore.engine.files import records as files
from pdgstore.engine.files.confine import Confine
from pdgstore.engine.graph.attribs import File
from pdgstore.engine.graph.workitem import WorkItem
from pdgstore.engine.schedulers.contract import JobResult, Scheduler
from pdgstore.engine.schedulers.contract import make as make_scheduler
from pdgstore.engine.schedulers.contract import type_named as scheduler_type
from pdgstore.engine.schedulers.inprocess import InProcessScheduler
from pdgstore.engine.schedulers.tracebacks import formatted

from pdgstore.events import PATH
from pdgstore.state import Item


def task(graph, item: Item, confine: Confine) -> Callable[[], JobResult]:
    """The in-process run of ``item`` of ``graph``: call it on a worker thread. ``confine``: the
    project's bounds, which every output file it reports must stay within."""
    node = graph.nodes[item.node]
    view = WorkItem.of(item, graph.root, getattr(node, "node_parms", None))
    cook, types, check = node.cook, graph.types, confine.check_output

    def run() -> JobResult:
        return run_python(cook, view, node, types, check)

    return run


def run_python(cook: Callable[[WorkItem], object], view: WorkItem, node, types, check) -> JobResult:
    """Run a Python item's ``cook(view)`` and record the output files it reported (each held to
    ``check(path, who)`` first, then stat'ed and hashed here, its owning item given to the stat
    handlers), ``node``'s expected outputs and the files of its file attributes (``attrfiles``, the
    item given to the stat handlers too): its ``JobResult``. Any failure of the user's code is
    the item's, with its traceback. The one body of a Python item's run, in the cook's pool
    (``task``) and on a Dask worker (``dask.remote.run_python``)."""
    started = time.time_ns()
    t0 = time.perf_counter_ns()
    try:
        cook(view)
        outputs = list(view.outputs)
        root = view.root
        for path, tag in view.new_outputs:
            check(path, f"work item {view.name}")
            try:
                outputs.append(files.record(path, root, tag, types=types, item=view))
            except FileNotFoundError:
                raise FileNotFoundError(
                    f"work item {view.name} reported output file {path}, which does not exist"
                ) from None
        if node.expected_outputs:
            outputs = expected_records(view, node, outputs, root, types)
        attrs = view.changed
        if attrfiles.holds_files(view.attrs):  # recorded as its outputs are, now its work ended
            attrs = {**attrs, **attrfiles.recorded(view.attrs, root, types, view)}
    except BaseException as exc:  # noqa: BLE001 - every failure of user code is the item's
        return JobResult(
            "cooked_fail",
            {},
            view.outputs,
            started,
            time.perf_counter_ns() - t0,
            error_line(exc) + _pdg_hint(exc),
            formatted(exc),
        )
    return JobResult("cooked_success", attrs, outputs, started, time.perf_counter_ns() - t0)


#: what ``item['x']`` gives: an attribute's value of each type (a pyobject's is the object itself)
_VALUE_TYPES = (int, float, str, dict, File)


def _pdg_hint(exc: BaseException) -> str:
    """What to write instead, when a python processor failed on PDG's ``work_item['x'].value()`` or
    ``work_item.node.name`` (pasted from a page): its item is the engine's, where ``item['x']`` is
    the value itself and ``item.node`` the node's name; ``pdg.WorkItem(item)`` is PDG's."""
    if not isinstance(exc, AttributeError):
        return ""
    if exc.name in ("value", "values") and type(exc.obj) in _VALUE_TYPES:
        return (
            " (in a python processor item['x'] is the attribute's value itself; PDG's attribute object"
            " is item.attrib('x'), as in item.attrib('x').value(), and work_item = pdg.WorkItem(item)"
            " is PDG's work item, where code pasted from PDG runs as it is)"
        )
    if exc.name in ("name", "type") and type(exc.obj) is str:
        return (
            " (in a python processor item.node is the node's name; PDG's node object is"
            " pdg.WorkItem(item).node, as in pdg.WorkItem(item).node.type.typeName)"
        )
    return ""


def expected_records(view: WorkItem, node, outputs: list, root: str, types) -> list:
    """``outputs`` plus the records of the node's expected outputs not among them; a missing one
    raises FileNotFoundError naming the item and the file."""
    reported = {o[PATH] for o in outputs}
    for expr in node.expected_outputs:
        path = files.relative(view.expand(expr, parm="expected_outputs"), root)
        if path in reported:
            continue
        try:
            outputs.append(files.record(path, root, None, types=types, item=view))
        except FileNotFoundError:
            raise FileNotFoundError(f"work item {view.name} did not write its expected output {path}") from None
        reported.add(path)
    return outputs


def routes(graph, scope: list[str], jobs: int) -> tuple[dict[str, Scheduler], dict[str, tuple]]:
    """Each working node's scheduler: its own, else the graph's default, else the in-process one
    (in-process nodes) or the local one (out-of-process nodes). The schedulers used by name, and
    node name -> (scheduler name, the candidate asked per item or None): an in-process node goes
    to another scheduler only if that one accepts the item."""
    declared = dict(getattr(graph, "schedulers", {}))
    used = {"inprocess": declared.get("inprocess") or InProcessScheduler("inprocess", jobs=jobs)}
    route: dict[str, tuple[str, str | None]] = {}
    for name in scope:
        node = graph.nodes[name]
        if not getattr(node, "does_work", False):
            continue
        out_of_process = getattr(node, "out_of_process", False)
        wanted = (
            getattr(node, "scheduler", None)
            or getattr(graph, "default_scheduler", None)
            or ("local" if out_of_process else "inprocess")
        )
        scheduler = used.get(wanted) or declared.get(wanted)
        if scheduler is None and scheduler_type(wanted) is not None:
            scheduler = make_scheduler(wanted, wanted, {})
        if scheduler is None:
            raise GraphError(
                f"node {name} uses scheduler {wanted}, which graph {graph.name} does not declare "
                f"(declared: {', '.join(sorted(declared)) or 'none'})"
            )
        used[wanted] = scheduler
        if out_of_process or scheduler.in_process:
            route[name] = (wanted, None)
        else:
            route[name] = ("inprocess", wanted)
    return used, route
