"""Running one job as a process: its environment, its log file, its process group.

Every job runs in a process group of its own (``start_new_session``) with an explicit, scrubbed
environment, its stdout and stderr in a per-item log file. ``reap`` waits for the job without
reaping it (``waitid(WNOWAIT)``), kills whatever is left of its group, then reaps it: so a job's
grandchildren never outlive it, and the group id cannot have been reused when it is killed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from urllib.parse import quote_from_bytes

from pdgstore.engine.schedulers import jobdata

#: variables passed through from the engine's environment; everything else is dropped
PASSED = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT")


def temp_dir(store_dir: str, graph: str) -> Path:
    """The jobs' shared temporary folder (``PDG_TEMP``): item JSON, job modules, logs."""
    return Path(store_dir, "jobs", graph)


def log_path(temp: str | os.PathLike[str], item_name: str) -> str:
    """The item's job log. A string, made by formatting: a ``Path`` made per job (here, for the
    item's JSON and for ``@pdg_log``) was a tenth of the cook loop's work on 1,000 short jobs."""
    return f"{os.fspath(temp)}/logs/{item_name}.log"


def file_uri(path: str) -> str:
    """``Path(path).as_uri()`` of an absolute path, without making the ``Path``."""
    return "file://" + quote_from_bytes(os.fsencode(path))


def passed_env() -> dict:
    """The variables of the engine's environment every job gets (``PASSED``)."""
    return {k: os.environ[k] for k in PASSED if k in os.environ}


def prepare(
    scheduled,
    scheduler,
    temp: Path,
    base: dict | None = None,
    item_json: bool = True,
    *,
    pending: list | None = None,
) -> tuple[dict, str]:
    """Write the item's JSON (unless ``item_json`` is False: a scheduler that writes it where the
    job runs) and return the job's environment (``base``: ``passed_env()``, made once per cook by a
    scheduler that starts many jobs) and log file. With ``pending`` (a list), the JSON is made here
    but not written: ``(path, bytes)`` is appended for the caller to write
    (``jobdata.write_item_file``) before the job starts, on the thread that starts it, so the
    cook's loop does not wait on the file system once per job."""
    item = scheduled.item
    if item_json:
        path = jobdata.item_json_path(temp, item.name)
        if pending is None:
            jobdata.write_item_json(item, path, node=scheduled.node)
        else:
            pending.append((path, jobdata.item_json_bytes(item, scheduled.node)))
    env = dict(base) if base else passed_env()
    env.update(getattr(scheduler, "job_env", {}))
    env.update(scheduled.env)
    scripts = temp / "scripts"
    env.update(
        {
            "PDG_ITEM_NAME": item.name,
            "PDG_ITEM_ID": item.item_id,
            "PDG_INDEX": str(item.index),
            "PDG_COOK_PID": str(os.getpid()),  # how the next cook finds this job should this cook die
            "PDG_TEMP": str(temp),
            "PDG_DIR": scheduler.graph_dir,
            "PDG_SCRIPTDIR": str(scripts),
            "PYTHONPATH": str(scripts),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(scheduler.result_server_env)
    addr = scheduler.work_item_result_server_addr()  # seed 002: a scheduler may name another endpoint
    if addr:
        env["PDG_RESULT_SERVER"] = addr
    return env, log_path(temp, item.name)


class Process:
    """A started job: its ``pid`` (also its process group id)."""

    __slots__ = ("pid", "returncode")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


#: what ``spawn`` starts: a ``Process`` (posix_spawn) or a ``subprocess.Popen``; both have ``pid`` and ``wait()``
JobProcess = Process | subprocess.Popen[bytes]

_FOUND: dict[tuple[str, str], str] = {}  # (program, PATH) -> its path: a PATH search is a stat per folder


def which(program: str, path: str) -> str:
    """``program`` found on ``path`` (remembered: 1,000 jobs of one program search once)."""
    found = _FOUND.get((program, path))
    if found is None:
        found = shutil.which(program, path=path)
        if found is None:
            raise FileNotFoundError(2, "No such file or directory", program)
        _FOUND[program, path] = found
    return found


def open_log(log: str, attempt: int = 1) -> int:
    """The job's log file, opened in this process (the GIL released while the file system creates
    it, which can take longer than starting the job), truncated by the first attempt."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if attempt > 1 else os.O_TRUNC)
    try:
        fd = os.open(log, flags, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(log), exist_ok=True)
        fd = os.open(log, flags, 0o644)
    if attempt > 1:
        os.write(fd, f"\n--- attempt {attempt} ---\n".encode())
    return fd


def remove_log(log: str) -> None:
    """Remove an older cook's log of the item, before its first attempt writes a ``LazyLog``."""
    try:
        os.unlink(log)
    except OSError:  # none (the usual case), or something a write will report
        pass


class LazyLog:
    """A job's log file, made when the first output arrives (a job that prints nothing leaves no
    file: ``pdg log`` shows nothing either way). An older cook's log is removed before the first
    attempt (``remove_log``); the first attempt's first output truncates whatever is there. A
    retry's marker (``--- attempt N ---``) is written as it starts, printing or not, so the log's
    end is never an earlier attempt's words (``joblogs.last_words``)."""

    __slots__ = ("path", "attempt", "fd", "error")

    def __init__(self, path: str, attempt: int) -> None:
        self.path, self.attempt, self.fd = path, attempt, -1
        self.error = ""  # why the log could not be written (the rest of the output is dropped)
        if attempt > 1:
            self.write(b"")

    def write(self, data: bytes) -> None:
        if self.error:
            return
        try:
            if self.fd < 0:
                self.fd = open_log(self.path, self.attempt)
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as exc:  # a full disk must not stop the thread that notices jobs end
            self.error = f"could not write its log {self.path}: {exc.strerror or exc}"

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def spawn(argv: list[str], env: dict, cwd: str, log: str, attempt: int = 1, log_fd: int | None = None) -> JobProcess:
    """Start the job in a new process group, its output going to ``log`` (truncated by the first
    attempt, appended to by retries), or to ``log_fd`` (a file or pipe, closed here).
    ``posix_spawn`` when it runs in this process's folder (the usual case, and several times
    cheaper than ``subprocess``), else ``subprocess.Popen``."""
    fd = open_log(log, attempt) if log_fd is None else log_fd
    try:
        if hasattr(os, "posix_spawn") and os.path.abspath(cwd) == os.getcwd():
            program = argv[0]
            if os.sep not in program:
                program = which(program, env.get("PATH", os.defpath))
            # here, not at the top: it loads ctypes, and most cooks start no job
            from pdgstore.engine.schedulers import spawnfree

            if spawnfree.available():  # the GIL free meanwhile (``engine.schedulers.spawnfree``)
                return Process(spawnfree.spawn(program, argv, env, fd))
            actions = [
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, fd, 1),
                (os.POSIX_SPAWN_DUP2, fd, 2),
            ]
            return Process(os.posix_spawn(program, argv, env, file_actions=actions, setsid=True))
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(fd)


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def reap(proc: JobProcess, exited: bool = False) -> int:
    """Wait for the job to end (unless it has: ``exited``), kill the rest of its group, reap it;
    its exit code (negative: the signal that killed it)."""
    if not exited:
        try:
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass
    kill_group(proc.pid)
    return proc.wait()


def start_failure(argv: list[str], exc: OSError) -> str:
    return f"could not start {argv[0]}: {exc.strerror or exc}"
