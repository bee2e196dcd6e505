"""What the cook hands the workers for one item: a command job's spec, or a Python item's call.

A job's spec carries what ``remote.run_job`` needs and nothing of the cook's own environment that
the worker has itself (``PATH``, ``HOME``...: the worker's own are used unless the node set them).
With a path map, every path in it (command, environment, folder, log, the item JSON's contents) is
rewritten for the workers. ``Job`` is the scheduler's record of one item's work while it holds it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pdgstore.engine.errors import GraphError, error_line
from pdgstore.engine.files import records
from pdgstore.engine.files.confine import outside_allowed
from pdgstore.engine.graph.workitem import WorkItem
from pdgstore.engine.schedulers import jobdata, jobs
from pdgstore.engine.schedulers.contract import ScheduledItem
from pdgstore.engine.schedulers.dask import cluster, remote


@dataclass(eq=False)
class Job:
    """One item's work while the dask scheduler holds it: its spec or call, its current task."""

    item_id: str
    name: str
    attempt: int = 1
    key: str = ""
    spec: dict | None = None  # a command job's spec (remote.run_job)
    call: remote.Call | None = None  # a Python item's work (remote.run_python)
    log_uri: str = ""
    future: Any = None  # its distributed.Future (distributed has no type information)
    failures: int = 0
    runs: set = field(default_factory=set)  # the run ids announced for the current key
    status: tuple | None = None  # (ok, message) the job reported through the Job API
    cancelled: bool = False
    losing: bool = False  # the loss of a worker its task was processing on is being judged (``loss``)
    lost: set = field(default_factory=set)  # the workers whose loss under its current key was judged
    held: list = field(default_factory=list)  # its runs' announcements, held while ``losing``
    spared: int = 0  # the losses it only waited through (not attempts; each sent again gets a new key)
    worker: str = ""  # the worker running it, once it announced itself
    heard: float = 0.0  # when it announced it runs or last called the Job API (monotonic; 0: not yet)
    kill_reason: str = ""  # why the cook killed its current run ("hung N"), once it did
    answer: dict | None = None  # its current task's answer, once its worker sent it (``remote.ENDED_TOPIC``)


class Holder:
    """What the dask scheduler's parts (``traffic``, ``loss``) use of it: the jobs it holds, by
    item and by task key, under its lock, and where it reports."""

    name: str
    conn: Any  # cluster.Connection | None
    jobs: dict[str, Job]
    by_key: dict[str, Job]
    reporter: Any
    _lock: threading.RLock


def resolve_host(host: str, name: str) -> str:
    """An interface name (``eth0``) becomes its IPv4 address; anything else is kept as given."""
    if host in {n for _, n in socket.if_nameindex()}:
        cluster.require_distributed(name)
        from distributed.utils import get_ip_interface

        return get_ip_interface(host)
    if host in ("0.0.0.0", "::", ""):
        raise GraphError(
            f"scheduler {name}: result_host names the one address jobs report to, not {host!r} (all interfaces)"
        )
    return host


def job_spec(item: ScheduledItem, scheduler) -> dict:
    """The spec ``remote.run_job`` takes: the job's command, environment, folder and log, mapped
    for the workers. Its item JSON: asked of the result server by the jobs that read it
    (``work_item_data_source`` "rpc", PDG's ``PDG_ITEM_DATA_SOURCE=1``), or "file": carried as text
    and written by the worker where the job reads it (the cook's loop creates no file per job: on
    a network disk a file costs as much as a short job). With ``shared_storage`` off, its input
    files travel along and its expected outputs and log come back."""
    env, log = jobs.prepare(item, scheduler, scheduler.temp, {"PDG_DASK": "1"}, item_json=False)
    env.pop("PDG_DASK")
    common = _common(scheduler)
    cook_env = common["cook_env"]
    for name in remote.PASSED:  # the worker's own PATH, HOME...: unless the node set them
        if name in env and env[name] == cook_env.get(name):
            del env[name]
    pm = scheduler.path_map
    if pm:
        env = {k: pm.to_worker(v) for k, v in env.items()}
    if scheduler.work_item_data_source == "rpc":
        env["PDG_ITEM_DATA_SOURCE"] = "1"  # pdgjson asks the result server: no file per job
    spec = {
        "item_id": item.id,
        "argv": [pm.to_worker(str(a)) for a in item.command or ()] if pm else [str(a) for a in item.command or ()],
        "env": env,
        "cwd": common["cwd"],
        "log": pm.to_worker(log),
        "timeout_s": scheduler.timeout,
        "log_uri": jobs.file_uri(log),
        "scripts": common["scripts"],
        "bounds": common["bounds"],
        "relay": scheduler.report_relay,  # its calls go through its worker's relay (``relay``)
    }
    if scheduler.work_item_data_source == "file":
        data = json_for_workers(json.dumps(jobdata.item_data(item.item, item.node), separators=(",", ":")), pm)
        spec["item_json"] = (pm.to_worker(str(jobdata.item_json_path(scheduler.temp, item.name))), data)
    if not scheduler.shared_storage:
        root = scheduler.graph_dir
        spec["copy_back"] = True
        sent = [os.fspath(f.path) for f in item.item.input_files]
        inside = root.rstrip(os.sep) + os.sep
        # files of the project the command names (a python script's own file) travel too
        sent += [str(a) for a in item.command or () if str(a).startswith(inside) and os.path.isfile(a)]
        try:
            spec["inputs"] = [(pm.to_worker(path), Path(path).read_bytes()) for path in dict.fromkeys(sent)]
        except OSError as exc:
            raise GraphError(
                f"work item {item.name}: cannot send its input file {exc.filename} to the workers: {exc.strerror}"
            ) from None
        expected = getattr(item.node, "expected_outputs", None) or ()
        spec["expected"] = [
            pm.to_worker(records.absolute(records.relative(item.item.expand(e, parm="expected_outputs"), root), root))
            for e in expected
        ]
    return spec


def _common(scheduler) -> dict:
    """What every job spec of this cook shares, made at its first (``spec_common`` is cleared when
    a cook starts): the cook's passed environment, the jobs' folder, scripts and bounds."""
    common = scheduler.spec_common
    if common is None:
        pm = scheduler.path_map
        common = scheduler.spec_common = {
            "cook_env": jobs.passed_env(),
            "cwd": pm.to_worker(scheduler.working_dir or scheduler.graph_dir),
            "scripts": pm.to_worker(str(scheduler.temp / "scripts")),
            "bounds": worker_bounds(scheduler),
        }
    return common


def worker_bounds(scheduler) -> list[str] | None:
    """The project and the declared working folders as the workers see them (path-mapped), where a
    file a worker sends back or records must resolve, on the worker's own disk, symlinks included;
    None when ``PDG_ALLOW_OUTSIDE=1`` allows anywhere. The cook checks every path too, but against
    its own disk: a link that exists only on a worker's disk is seen only there."""
    if outside_allowed():
        return None
    bounds = scheduler.path_bounds or (scheduler.graph_dir,)
    return [scheduler.path_map.to_worker(os.fspath(b)) for b in bounds]


def json_for_workers(text: str, pm) -> str:
    """An item's JSON (the cook's paths) with the paths the workers see."""
    for src, dst in pm.pairs:
        text = text.replace(json.dumps(src)[1:-1], json.dumps(dst)[1:-1])
    return text


def python_call(item: ScheduledItem, root: str, types, bounds: list[str] | None = None) -> remote.Call:
    """A Python processor's item as the workers run it: its function and a work item view whose
    root is the project's folder as the workers see it (``bounds``: ``worker_bounds``)."""
    state_item, node = item.item, item.node
    view = WorkItem.of(state_item, root, getattr(node, "node_parms", None))
    return remote.Call(node.func, view, node.expected_outputs, types, bounds, node.type_name)


def pickling_problem(obj) -> str:
    """Why ``obj`` (a node's function, the graph's file types) cannot travel to the workers: ''
    when it can. Something bound to the cook's process (a lock, a connection) cannot be pickled.
    (The graph's own modules must be registered to travel by value first: ``cluster.ship_graph_code``.)"""
    if obj is None:
        return ""
    import cloudpickle

    try:
        cloudpickle.dumps(obj)
    except Exception as exc:  # noqa: BLE001 - whatever pickling a user's object raises
        return error_line(exc)
    return ""
