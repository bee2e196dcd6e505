"""What an out-of-process job gets from the engine: its work item as JSON, and the Job API modules.

The JSON is what ``pdgjson.WorkItem.fromJobEnvironment()`` reads. Paths in it are absolute (a job's
working directory need not be the project's); attribute types use the result server's names
(int, float, str, file, dict).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

JOBAPI_DIR = Path(__file__).resolve().parent / "jobapi"
#: the job-side Job API: SideFX's two modules by name, and the parts they are split into
# pdgexec.py last: a folder holding it is complete (a Dask worker stages its jobs by that test)
JOB_MODULES = ("pdgjson.py", "pdgcmd.py", "pdgitem.py", "pdgattrs.py", "pdgrpc.py", "pdgpaths.py", "pdgexec.py")
FORMAT_VERSION = 1
_KIND = {"string": "str"}
#: ``json.dumps(..., separators=(",", ":"))`` made once: ``dumps`` builds an encoder per call
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def item_json_path(temp_dir: str | os.PathLike[str], item_name: str) -> str:
    """Where the item's JSON is written (a string: made once per job, see ``jobs.log_path``)."""
    return f"{os.fspath(temp_dir)}/data/{item_name}.json"


def item_data(item, node=None) -> dict:
    """The JSON document for ``item`` (an ``engine.graph.workitem.WorkItem`` or a read-only view of
    one); ``node`` (its node object) adds what PDG's JSON says of the item's kind."""
    attributes = {}
    for name, attr in sorted(item.attrs.items()):
        kind, values = attr[0], attr[1]
        if kind == "file":
            values = [[os.fspath(item.path(v[0])), v[1]] for v in values]
        attributes[name] = {"type": _KIND.get(kind, kind), "values": list(values)}

    def files(infos) -> list[dict]:
        return [
            {"path": os.fspath(f.path), "relpath": f.relpath, "tag": f.tag, "size": f.size, "hash": f.hash}
            for f in infos
        ]

    data = {
        "version": FORMAT_VERSION,
        "id": item.id,
        "name": item.name,
        "index": item.index,
        "node": item.node,
        "state": getattr(item, "state", "") or "cooking",
        "type": 2 if getattr(node, "is_partitioner", False) else 0,  # pdgjson.workItemType
        "cookType": 2 if getattr(node, "out_of_process", True) else 1,  # pdgjson.workItemCookType
        "attributes": attributes,
        "inputFiles": files(item.input_files),
        "outputFiles": files(item.output_files),
    }
    subs = getattr(item, "batch_subs", None)  # a batch work item (engine.cook.batches)
    if subs:
        data["type"] = 1  # pdgjson.workItemType.Batch
        data["subItems"] = [item_data(sub, node) for sub in subs]
    return data


def item_json_bytes(item, node=None) -> bytes:
    """The item's JSON document, encoded (made where the item may be read: the cook's loop)."""
    return _COMPACT.encode(item_data(item, node)).encode()


def write_item_file(path: str | os.PathLike, data: bytes) -> None:
    """Write an item's JSON document ``data`` to ``path`` (its folder made the first time).

    Written in place, not under a temporary name: the file is written before the job that reads it
    starts, so no reader can see half of it, and a rename would double what the file system does
    per job (creating a file is most of what a job of ``true`` costs the engine). No fsync: the
    file is rebuilt for every job, so surviving a power loss buys nothing. Safe on any thread."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def write_item_json(item, path: str | os.PathLike, node=None) -> None:
    """Write the item's JSON (``item_json_bytes``, ``write_item_file``)."""
    write_item_file(path, item_json_bytes(item, node))


def install_job_modules(temp_dir: str | os.PathLike) -> Path:
    """Copy pdgjson.py and pdgcmd.py into ``temp_dir/scripts`` (the job's PYTHONPATH); returns that folder.
    Several threads of one process may do it at once (a Dask worker's task threads staging their
    jobs): each copies to a temporary name of its own, then renames it into place."""
    scripts = Path(temp_dir, "scripts")
    scripts.mkdir(parents=True, exist_ok=True)
    for name in JOB_MODULES:
        dst = scripts / name
        tmp = scripts / f".{name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
        shutil.copyfile(JOBAPI_DIR / name, tmp)
        os.replace(tmp, dst)
    return scripts
