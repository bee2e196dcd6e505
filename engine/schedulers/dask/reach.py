"""Reaching into the workers outside of tasks: a dead worker's orphaned jobs, and files on the
workers' own disks.

- **Orphans.** A job runs in a process group of its own, so when its worker process dies (SIGKILL,
  the OOM killer) the job lives on. Before its item runs again the cook asks every worker left
  (``Client.run``: the workers' event loops, no task slot needed) to kill the process groups that
  carry the job's key (``remote.reap_orphans``); what was found is said in the retry's reason.
- **Files back** (``shared_storage`` off): an output a job reports while it runs is read from its
  worker's disk (``remote.read_file``) and written on the cook's before the report is recorded;
  a job's log and expected outputs come back with its answer (``copy_back``). The worker resolves
  each file on its own disk first (a symlink there is invisible to the cook) and sends nothing
  that lands outside the project or a declared working folder as that worker sees them.
"""

from __future__ import annotations

import threading

from pdgstore.engine.errors import error_line
from pdgstore.engine.files.confine import ALLOW_ENV
from pdgstore.engine.schedulers.dask import remote


def call_within(fn, seconds: float, name: str) -> None:
    """Run ``fn`` (a call to the Dask scheduler) on a thread named ``name``, giving up after
    ``seconds``: a cancel must not hang on a scheduler that went away. A call whose connection
    closes under it (distributed's CommClosedError is an OSError) counts as one not answered, as a
    call that runs out of time does: the caller goes on with what it has and says so (``reap``: "no
    worker was reachable"). Uncaught, it killed the thread with a traceback on the cook's
    stderr (found by a paired suite round, test_dask_running_a_task_again_itself_kills_...)."""

    def guarded() -> None:
        try:
            fn()
        except OSError:
            pass

    thread = threading.Thread(target=guarded, daemon=True, name=name)
    thread.start()
    thread.join(seconds)


#: what a loss's reason says when no worker answered the search for its job left running
NOT_REACHED = "; no worker was reachable to look for its job left running"


def reap(client, keys: list[str], call, only_orphans: bool = False) -> tuple[str, dict]:
    """Kill what still runs of the jobs of ``keys`` on every worker (``only_orphans``: only runs
    whose worker is gone, sparing a run Dask started again meanwhile), through ``call`` (which
    gives up on a Dask scheduler that does not answer): words for the retry's reason, and the
    process group killed per key."""
    if not keys:
        return "", {}
    found: dict = {}

    def ask() -> None:
        found.update(client.run(remote.reap_orphans, keys, only_orphans, on_error="return"))

    call(ask)
    pids = {key: pid for answer in found.values() if isinstance(answer, list) for pid, key in answer}
    return said(pids, bool(found)), pids


def said(pids: dict, reached: bool) -> str:
    """The words of a reason for the job processes ``pids`` (key -> process group) killed, by a
    search that ``reached`` the workers or not."""
    if pids:
        return f"; its job, left running without it ({', '.join(f'pid {pid}' for pid in pids.values())}), was killed"
    return "; no process of it was left running" if reached else NOT_REACHED


def copy_back(spec: dict, answer: dict, path_map) -> str:
    """Write a job's log tail and expected outputs, sent back from its worker's own disk, where
    the cook reads them (``pdg log``; the expected-output check); why not, or ''."""
    files = [(spec["log"], answer.get("log_bytes"))] + list((answer.get("outputs") or {}).items())
    for theirs, data in files:
        if data is None:
            continue
        try:
            remote.write_file(path_map.to_cook(theirs), data)
        except OSError as exc:
            return f"could not write {path_map.to_cook(theirs)}, sent back from its worker: {exc}"
    outside = answer.get("outside") or []  # its log came back all the same: pdg log shows why
    return _outside_words(outside[0], answer.get("worker") or "its worker") if outside else ""


def _outside_words(problem: str, worker: str) -> str:
    """The sentence for a file a worker would not send: ``problem`` is ``Confine.problem``'s."""
    return (
        f"output file {problem} on worker {worker}; outputs must stay inside the project "
        f"(set {ALLOW_ENV}=1 to allow outside paths)"
    )


def fetch(client, path_map, worker: str, key: str, path: str, name: str, bounds: list[str] | None) -> None:
    """Copy the output ``path`` (the cook's) that the job of ``key`` reports from its worker's
    disk to the cook's; ``worker`` '' when the job has not announced itself yet (the Dask
    scheduler says where it runs). The worker refuses a file that resolves outside ``bounds``
    on its disk (``work.worker_bounds``). ValueError says why it could not be done."""
    if not worker:
        worker = next((w for w, keys in client.processing().items() if key in keys), "")
    if not worker:
        raise ValueError(f"cannot tell which worker runs work item {name}")
    theirs = path_map.to_worker(path)
    try:
        data = client.run(remote.read_file, theirs, bounds, workers=[worker])[worker]
    except Exception as exc:  # noqa: BLE001 - the worker went away, a comm error
        raise ValueError(f"could not copy {theirs} from worker {worker}: {error_line(exc)}") from None
    if data is None:
        raise ValueError(f"output file {theirs} does not exist on worker {worker}")
    if isinstance(data, dict):  # refused on the worker: it resolves outside there
        raise ValueError(_outside_words(data["outside"], worker))
    try:
        remote.write_file(path, data)
    except OSError as exc:
        raise ValueError(f"could not write {path}, copied from worker {worker}: {exc}") from None
