"""What runs on a Dask worker: one job as a subprocess, one Python processor's function, and the kill.

These functions run inside a Dask worker process, never in the cook. They touch no engine state:
each returns a small plain dict (a job's answer, packed as bytes for Dask: ``run_job_packed``) or
a ``JobResult`` (a Python item) that travels back to the cook, which alone records events. A job
runs in its own process group with a scrubbed environment:
``PATH``, ``HOME`` and the like come from the *worker's* environment (a farm machine's programs are
where that machine keeps them), everything else (``PDG_*``, the result server, the node's own
variables) from the cook. The job's output goes to its log file (a path on the shared file system,
already mapped for this machine), so ``pdg log ITEM`` reads it on the cook's machine.

A job that runs for ``ANNOUNCE_AFTER_S`` announces itself (``Worker.log_event`` on the
``pdg-job-started`` topic): the cook records it started with its pid and worker (a report that
comes first is recorded all the same); a job announced before its worker died is one the cook
counts as a failed attempt (``loss``). A job that ends sooner
says it all in its answer: one message per short job, not two. The answer itself travels as an
event too (``pdg-job-ended``, when it carries no file's bytes; sent by the worker plugin
``answers.JobAnswers`` as the task ends, or by the job's thread on a worker without it), which
reaches the cook before its task's end does: the cook then need not gather the task's result
through the Dask scheduler (a round trip to the workers per batch of ended tasks, more of the
cluster's work than the job's own); a result that came without its event (a worker of an older
pdgstore) is gathered. Running jobs are kept on the worker object, by key, so
``kill_jobs`` (sent with ``Client.run``) can kill their process groups on a cancel, and a job whose
key was cancelled before it started never starts. A job carries its key in its environment
(``PDG_DASK_KEY``): when its worker process dies (SIGKILL, the OOM killer) the job lives on in its
own process group, and ``reap_orphans`` finds it by that key on whatever worker still runs on the
machine, and kills it before the item runs again (found so, the cook knows it ran: ``loss``).

What the job needs beside its command is written here, on the worker: its item JSON (carried in
the spec when the scheduler's ``work_item_data_source`` is "file") and the Job API modules (copied from this worker's own pdgstore when missing). With
``shared_storage`` off (the workers' disks are their own) the spec also carries the item's input
files, and the answer carries the job's log and its expected outputs back to the cook
(``read_file`` fetches the outputs a job reports while it runs). A file is resolved on this
machine before it travels (``outside``): a symlink on a worker's own disk that leads out of the
project is seen only here, so the worker, not the cook, must refuse to send what it points at.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
import uuid

import msgpack
from pdgstore.engine.schedulers import exits
from pdgstore.engine.schedulers.dask import infolder

#: variables a job takes from the worker's own environment (as engine.schedulers.jobs.PASSED)
PASSED = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT")
STARTED_TOPIC = "pdg-job-started"
ENDED_TOPIC = "pdg-job-ended"
#: what every task key of a cook's jobs starts with (``traffic``)
KEY_PREFIX = "pdg-"
#: the worker plugin that sends answers from the worker's event loop (``answers.JobAnswers``)
ANSWERS_PLUGIN = "pdg-job-answers"
_pack = msgpack.Packer(use_bin_type=True).pack
#: a job still running after this long announces itself (shorter ones are told by their answer)
ANNOUNCE_AFTER_S = 0.05
#: the most of a job's log that travels back to the cook when the workers' disks are their own
LOG_BACK_BYTES = 4 << 20
_POLL_S = 0.05


def _worker():
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):  # not on a worker (a test calling the function directly)
        return None


def _registry(worker) -> tuple[dict, set]:
    """The worker's running jobs (key -> pid) and the keys cancelled before they started."""
    if worker is None:
        return {}, set()
    jobs = getattr(worker, "_pdg_jobs", None)
    if jobs is None:
        jobs = worker._pdg_jobs = {}
        worker._pdg_cancelled = set()
    return jobs, worker._pdg_cancelled


class _LazyLog:
    """The job's log file, made when its first output arrives (most short jobs print nothing, and
    creating a file on a shared file system can cost more than the job). The first attempt removes
    an older cook's log; a retry appends under a header, written as it starts (printing or not: the
    log's end is never an earlier attempt's words, ``joblogs.last_words``)."""

    def __init__(self, path: str, attempt: int) -> None:
        self.path, self.attempt, self.fd = path, attempt, -1
        if attempt == 1:
            try:
                os.unlink(path)
            except OSError:
                pass
        else:
            try:
                self.write(b"")
            except OSError:  # its first output tries again, and says why it could not
                pass

    def write(self, data: bytes) -> None:
        if self.fd < 0:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if self.attempt > 1 else os.O_TRUNC)
            self.fd = os.open(self.path, flags, 0o644)
            if self.attempt > 1:
                os.write(self.fd, f"\n--- attempt {self.attempt} ---\n".encode())
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_job(spec: dict) -> dict:
    """Run one job to its end (or its timeout) and say how it ended.

    ``spec``: key, item_id, attempt, argv, env (the cook's part), cwd, log (path), timeout_s (or
    None), item_json ((path, text) or None), scripts (the Job API folder), and with the workers'
    own disks: inputs ([path, bytes] to write first), expected (paths to send back), copy_back.
    The answer: code (negative: the signal that ended it), pid, worker, run (this run's id),
    started_ns, duration_ns, kill_reason ("timeout" or ""), error (why it could not start),
    log_error, and with copy_back: log_bytes (its log's tail) and outputs ({path: bytes})."""
    worker = _worker()
    running, cancelled = _registry(worker)
    key = spec["key"]
    answer = {
        "log_error": "",
        "code": 0,
        "pid": 0,
        "worker": getattr(worker, "address", ""),
        "run": uuid.uuid4().hex,
        "started_ns": time.time_ns(),
        "duration_ns": 0,
        "kill_reason": "",
        "error": "",
    }
    if key in cancelled:
        answer.update(code=-signal.SIGKILL, kill_reason="cancelled")
        return answer
    try:
        _stage(worker, spec)
    except OSError as exc:
        answer.update(code=127, error=f"could not prepare the job on {answer['worker'] or 'its worker'}: {exc}")
        return answer
    env = {k: os.environ[k] for k in PASSED if k in os.environ}
    env.update(spec["env"])
    env["PDG_ITEM_ATTEMPT"] = str(spec["attempt"])  # as the local scheduler sets it (1 first)
    env["PDG_DASK_KEY"] = key  # how reap_orphans knows it should its worker die
    env["PDG_DASK_WORKER_PID"] = str(os.getpid())  # and whether its worker died (``reap_orphans``)
    held: list = []  # the worker's report relay, while this job may call it
    if spec.get("relay") and worker is not None:
        from pdgstore.engine.schedulers.dask import relay

        relay.environment_through(env, held)
    t0 = time.monotonic()
    pipe, write_end = os.pipe()
    try:
        proc = subprocess.Popen(
            spec["argv"],
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.STDOUT,
            cwd=spec["cwd"],
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        os.close(pipe)
        _release(held)
        answer.update(code=127, error=f"could not start {spec['argv'][0]}: {exc.strerror or exc}")
        return answer
    finally:
        os.close(write_end)
    answer["pid"] = proc.pid
    running[key] = proc.pid
    log = _LazyLog(spec["log"], spec["attempt"])

    def announce() -> None:
        message = {"key": key, "item_id": spec["item_id"], "run": answer["run"], "pid": proc.pid}
        worker.log_event(STARTED_TOPIC, {**message, "worker": worker.address})

    try:
        if key in cancelled:  # cancelled while it was starting
            _kill_group(proc.pid)
        timeout_s = spec.get("timeout_s")
        answer["kill_reason"], answer["log_error"] = _pump(
            proc, pipe, log, timeout_s, t0, announce if worker is not None else None
        )
        code = proc.wait()
        _kill_group(proc.pid)  # what is left of its group (grandchildren) ends with it
        if key in cancelled:
            answer["kill_reason"] = "cancelled"
    finally:
        running.pop(key, None)
        os.close(pipe)
        log.close()
        _release(held)
    answer.update(code=code, duration_ns=int((time.monotonic() - t0) * 1e9))
    if spec.get("copy_back"):
        expected = spec.get("expected", ())
        answer["outside"] = [problem for path in expected if (problem := outside(path, spec.get("bounds")))]
        # the log is this worker's own file (in the jobs' folder, wherever the store is): never a link
        answer["log_bytes"] = None if os.path.islink(spec["log"]) else _tail(spec["log"], LOG_BACK_BYTES)
        if not answer["outside"]:
            answer["outputs"] = {path: data for path in expected if (data := _read(path)) is not None}
    elif worker is not None:
        if ANSWERS_PLUGIN in worker.plugins:
            answer["by_plugin"] = True  # ``answers.JobAnswers`` sends it as the task ends: no wake-up of the loop
        else:
            worker.log_event(ENDED_TOPIC, {"key": key, "answer": answer})
    return answer


def run_job_packed(spec: dict) -> bytes:
    """``run_job``, its answer packed (msgpack): the task's result, which its Dask worker keeps
    until the cook has it. A dict left as a task's result costs the worker more than a short job's
    own start (1,000 ``true`` jobs on a LocalCluster of 2 took 0.13 s longer returning the answer
    as a dict than as these bytes, ``benchmarks/README.md``); ``answer_of`` unpacks it."""
    answer = run_job(spec)
    return _pack((bool(answer.pop("by_plugin", False)), answer))


def answer_of(result):
    """A task's result (or its answer's event) as the cook reads it: a packed answer
    (``run_job_packed``) unpacked; anything else as it is (an exception, a Python item's
    ``JobResult``, an answer its job sent as a dict, and bytes that are no packed answer, for the
    cook to fail the item with what the task returned)."""
    if type(result) is not bytes:
        return result
    try:
        packed = msgpack.unpackb(result, raw=False)
    except (ValueError, msgpack.UnpackException):
        return result
    if type(packed) is not list or len(packed) != 2 or type(packed[1]) is not dict:
        return result
    return packed[1]


#: how a packed answer left for ``answers.JobAnswers`` to send begins: a pair's header, then True
FOR_PLUGIN = b"\x92" + _pack(True)


def _release(held: list) -> None:
    if held:
        from pdgstore.engine.schedulers.dask import relay

        relay.release(held.pop())


def outside(path: str, bounds: list[str] | None) -> str:
    """'' when ``path`` resolves on this machine (symlinks included) inside ``bounds`` (the
    project and the declared working folders as this worker sees them; None: anywhere); else
    why not, as ``Confine.problem`` says it."""
    if bounds is None:
        return ""
    from pdgstore.engine.files.confine import Confine

    return Confine(bounds[0], tuple(bounds[1:])).problem(path)


def _stage(worker, spec: dict) -> None:
    """Write what the job reads beside its command: the Job API modules (once per folder on this
    worker, from its own pdgstore), the item's JSON, and the input files sent along."""
    scripts = spec.get("scripts")
    if scripts:
        made = getattr(worker, "_pdg_scripts", None) if worker is not None else None
        if made is None:
            made = set()
            if worker is not None:
                worker._pdg_scripts = made
        if scripts not in made:
            if not os.path.exists(os.path.join(scripts, "pdgexec.py")):
                from pdgstore.engine.schedulers.jobdata import install_job_modules

                install_job_modules(os.path.dirname(scripts))
            made.add(scripts)
    for path, data in spec.get("inputs", ()):
        write_file(path, data)
    if spec.get("item_json"):
        path, text = spec["item_json"]
        write_file(path, text.encode("utf-8"))


def write_file(path: str, data: bytes) -> None:
    """Write ``data`` at ``path`` atomically (temp file + rename: a reader never sees half of it),
    making its folder when missing (tried only then: a mkdir is a round trip on a network disk)."""
    folder = os.path.dirname(path) or "."
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o644)
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(tmp, flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except OSError:
        os.unlink(tmp)
        raise


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, IsADirectoryError):
        return None


def _tail(path: str, limit: int) -> bytes | None:
    """The last ``limit`` bytes of the file at ``path`` (None: there is none)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - limit))
            return f.read()
    except FileNotFoundError:
        return None


def read_file(path: str, bounds: list[str] | None = None, dask_worker=None) -> bytes | dict | None:
    """A file of this worker's disk (a job's reported output), sent with ``Client.run``: run by
    the worker's event loop, not a task thread, which the reporting job itself may be holding.
    ``{"outside": why}`` instead when it resolves outside ``bounds`` here (``outside``)."""
    problem = outside(path, bounds)
    if problem:
        return {"outside": problem}
    return _read(path)


def _pump(proc, pipe: int, log: _LazyLog, timeout_s: float | None, t0: float, announce=None) -> tuple[str, str]:
    """Copy the job's output into its log until it exits, killing its group at its timeout, and
    ``announce`` it once it has run ``ANNOUNCE_AFTER_S``; (kill reason, why the log could not be
    written). Its exit is waited for on its pidfd (Linux) beside its output: the moment it ends,
    not at the next poll (``Popen.wait`` with a timeout sleeps 1-50 ms between polls, longer than
    a short job runs)."""
    kill_reason = log_error = ""
    announce_at = t0 + ANNOUNCE_AFTER_S
    deadline = None if timeout_s is None else t0 + timeout_s
    reading = True
    exited = exits.pidfd(proc.pid)

    def copy() -> bool:
        """Copy what the pipe holds now; False at end of file."""
        nonlocal log_error
        data = os.read(pipe, 1 << 16)
        if not data:
            return False
        if not log_error:
            try:
                log.write(data)
            except OSError as exc:  # a full disk loses the log, not the job
                log_error = f"could not write its log {log.path}: {exc.strerror or exc}"
        return True

    try:
        while proc.poll() is None:
            wait = _POLL_S if deadline is None else max(0.0, min(_POLL_S, deadline - time.monotonic()))
            watched = ([pipe] if reading else []) + ([exited] if exited >= 0 else [])
            if watched:
                ready = select.select(watched, [], [], wait)[0]
                if reading and pipe in ready:
                    reading = copy()
            else:  # its output is closed and there is no pidfd: poll its end
                try:
                    proc.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    pass
            now = time.monotonic()
            if announce is not None and now >= announce_at:
                announce()
                announce = None
            if deadline is not None and now >= deadline:
                kill_reason = "timeout"
                _kill_group(proc.pid)
                deadline = None
    finally:
        if exited >= 0:
            os.close(exited)
    _kill_group(proc.pid)  # nothing of its group writes any more
    while reading and select.select([pipe], [], [], 0)[0]:
        reading = copy()
    return kill_reason, log_error


def kill_jobs(keys: list, dask_worker=None) -> list:
    """Mark ``keys`` cancelled on this worker and kill the process groups of those running here
    (sent to every worker with ``Client.run``); the pids it killed."""
    running, cancelled = _registry(dask_worker)
    cancelled.update(keys)
    killed = []
    for key in keys:
        pid = running.get(key)
        if pid:
            _kill_group(pid)
            killed.append(pid)
    return killed


def reap_orphans(keys: list, only_orphans: bool = False, dask_worker=None) -> list:
    """Kill the process groups of jobs of ``keys`` still running on this machine without their
    worker (it died: SIGKILL, the OOM killer), found by the ``PDG_DASK_KEY`` in their environment,
    so no pid the system gave to another process since is touched. ``only_orphans``: a group
    whose first process is still the child of the worker that started it
    (``PDG_DASK_WORKER_PID``: a run of the same key Dask started again on a worker alive) is
    spared. Sent with ``Client.run`` to the workers left; ``[pid, key]`` of each group killed
    (Linux: ``/proc``; elsewhere none)."""
    wanted = {b"PDG_DASK_KEY=" + str(key).encode(): key for key in keys}
    found: list[list] = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{name}/stat", "rb") as f:
                pgid = int(f.read().rsplit(b")", 1)[1].split()[2])
        except (OSError, ValueError, IndexError):
            continue
        key = next((wanted[e] for e in env if e in wanted), None)
        if key is None or any(pgid == pid for pid, _ in found) or (only_orphans and _with_its_worker(pgid, env)):
            continue
        _kill_group(pgid)  # a live member names the group
        found.append([pgid, key])
    return found


def _with_its_worker(pgid: int, env: list) -> bool:
    """Whether the job of process group ``pgid`` (``env``: one of its processes' environment)
    still runs under the worker that started it: its first process is that worker's child."""
    marker = b"PDG_DASK_WORKER_PID="
    started_by = next((e[len(marker) :] for e in env if e.startswith(marker)), b"")
    try:
        with open(f"/proc/{pgid}/stat", "rb") as f:
            parent = f.read().rsplit(b")", 1)[1].split()[1]
    except (OSError, IndexError):
        return False
    return started_by.isdigit() and parent == started_by


class Call:
    """A Python item's work as a task argument: ``func(view)`` then its outputs recorded here, on
    the worker (its files are stat'ed and hashed where they were written)."""

    __slots__ = ("func", "view", "expected_outputs", "types", "bounds", "node_type")

    def __init__(self, func, view, expected_outputs, types, bounds=None, node_type="") -> None:
        self.func, self.view, self.expected_outputs, self.types = func, view, tuple(expected_outputs), types
        self.bounds = bounds  # where its outputs may resolve on this worker (``outside``); None: anywhere
        self.node_type = node_type  # its node's type, for a stat handler's ``work_item.node.type``


def run_python(call: Call):
    """Run a Python processor's function on this worker: a ``JobResult`` as the in-process pool
    makes (``task.run_python``: the same recording of outputs and expected outputs, the same
    failure text), in the project's folder and its outputs held to the project, as this worker
    mounts it (``infolder``)."""
    from pdgstore.engine.cook import task
    from pdgstore.engine.schedulers.contract import JobResult

    if call.types is not None and call.node_type:  # a stat handler may ask the item's node its type
        from pdgstore.engine.pdgapi.items import NODE_TYPES

        NODE_TYPES[call.view.node] = call.node_type

    def check(path: str, who: str) -> None:
        if problem := outside(path if os.path.isabs(path) else os.path.join(call.view.root, path), call.bounds):
            from pdgstore.engine.errors import OutsideProject
            from pdgstore.engine.files.confine import ALLOW_ENV

            raise OutsideProject(
                f"{who} reported output file {problem} on its worker; outputs must stay inside the project "
                f"(set {ALLOW_ENV}=1 to allow outside paths)"
            )

    try:
        with infolder.project_folder(call.view.root):  # relative paths are the project's, as in the cook
            return task.run_python(call.func, call.view, call, call.types, check)
    except OSError as exc:  # the project's folder is missing here (the item's own failures are returned)
        return JobResult("cooked_fail", {}, call.view.outputs, time.time_ns(), 0, f"OSError: {exc}")
    finally:  # what the item printed is out before its end is told: a worker stopped later keeps no buffer
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, OSError, ValueError):
                stream.flush()
