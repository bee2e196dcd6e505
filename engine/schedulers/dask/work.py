"""What the cook hands the workers for one item: a command job's spec, or a Python item's call.

A job's spec carries what ``remote.run_job`` needs and nothing of the cook's own environment that
the worker has itself (``PATH``, ``HOME``...: the worker's own are used unless the node set them).
With a path map, every path in it (command, environment, folder, log, the item JSON's contents) is
rewritten for the workers.
"""

from __future__ import annotations

import json
import os
import socket

from pdgstore.engine.errors import GraphError
from pdgstore.engine.graph.workitem import WorkItem
from pdgstore.engine.schedulers import jobdata, jobs
from pdgstore.engine.schedulers.contract import ScheduledItem
from pdgstore.engine.schedulers.dask import cluster, remote


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
    """Write the item's JSON (mapped for the workers) and return the spec ``remote.run_job`` takes."""
    env, log = jobs.prepare(item, scheduler, scheduler.temp, {"PDG_DASK": "1"})
    env.pop("PDG_DASK")
    cook_env = jobs.passed_env()
    for name in remote.PASSED:  # the worker's own PATH, HOME...: unless the node set them
        if name in env and env[name] == cook_env.get(name):
            del env[name]
    pm = scheduler.path_map
    if pm:
        env = {k: pm.to_worker(v) for k, v in env.items()}
        if getattr(item.node, "item_json", True):
            data = json.dumps(jobdata.item_data(item.item), separators=(",", ":"))
            json_path = jobdata.item_json_path(scheduler.temp, item.name)
            for src, dst in pm.pairs:
                data = data.replace(json.dumps(src)[1:-1], json.dumps(dst)[1:-1])
            tmp = json_path.with_name(f".{json_path.name}.{os.getpid()}.tmp")
            tmp.write_text(data, encoding="utf-8")
            os.replace(tmp, json_path)
    return {
        "item_id": item.id,
        "argv": [pm.to_worker(str(a)) for a in item.command or ()],
        "env": env,
        "cwd": pm.to_worker(scheduler.working_dir or scheduler.graph_dir),
        "log": pm.to_worker(str(log)),
        "timeout_s": scheduler.timeout,
        "log_uri": log.as_uri(),
    }


def python_call(item: ScheduledItem, root: str, types) -> remote.Call:
    """A Python processor's item as the workers run it: its function and a work item view whose
    root is the project's folder as the workers see it."""
    state_item, node = item.item, item.node
    view = WorkItem(
        item_id=state_item.item_id,
        name=state_item.name,
        index=state_item.index,
        node=state_item.node,
        attrs=state_item.attrs,
        inputs=state_item.inputs,
        outputs=state_item.outputs,
        root=root,
        node_parms=getattr(node, "node_parms", None),
    )
    return remote.Call(node.func, view, node.expected_outputs, types)


def picklable_types(types):
    """The graph's file types (custom stat handlers hash outputs on the workers too), or None (the
    built-in ones) when a handler cannot travel."""
    import cloudpickle

    if types is None:
        return None
    try:
        cloudpickle.dumps(types)
    except Exception:  # noqa: BLE001 - a handler bound to something local
        return None
    return types
