"""What an out-of-process job gets from the engine: its work item as JSON, and the Job API modules.

The JSON is what ``pdgjson.WorkItem.fromJobEnvironment()`` reads. Paths in it are absolute (a job's
working directory need not be the project's); attribute types use the result server's names
(int, float, str, file, dict).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

JOBAPI_DIR = Path(__file__).resolve().parent / "jobapi"
#: the job-side Job API: SideFX's two modules by name, and the parts they are split into
JOB_MODULES = ("pdgjson.py", "pdgcmd.py", "pdgitem.py", "pdgattrs.py", "pdgrpc.py", "pdgpaths.py", "pdgexec.py")
FORMAT_VERSION = 1
_KIND = {"string": "str"}


def item_json_path(temp_dir: str | os.PathLike, item_name: str) -> Path:
    return Path(temp_dir, "data", f"{item_name}.json")


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


def write_item_json(item, path: str | os.PathLike, node=None) -> None:
    """Write the item's JSON atomically (temp file + rename: a job never reads half a file).

    No fsync: the file is rebuilt for every job, so surviving a power loss buys nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(item_data(item, node), f, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def install_job_modules(temp_dir: str | os.PathLike) -> Path:
    """Copy pdgjson.py and pdgcmd.py into ``temp_dir/scripts`` (the job's PYTHONPATH); returns that folder."""
    scripts = Path(temp_dir, "scripts")
    scripts.mkdir(parents=True, exist_ok=True)
    for name in JOB_MODULES:
        dst = scripts / name
        tmp = scripts / f".{name}.{os.getpid()}.tmp"
        shutil.copyfile(JOBAPI_DIR / name, tmp)
        os.replace(tmp, dst)
    return scripts
