"""The writer lock of a store: an ``flock`` on ``<store>.lock`` that holds the writer's pid.

The kernel releases an ``flock`` when its process dies, however it dies, so a crashed cook never
leaves a store locked; the pid in the file names the holder in "a cook is already running" and lets
a new writer wait for a dead cook's log appender to finish. Beside the pid, a writer that closed the
store sound notes the file's stat (``stamp_clean``), so the next writer can skip SQLite's check, and
a cook that stopped on a write error notes why (``note_stopped``), so the next cook can record that
cook's end in the right words. The file: the pid on its first line, then one note a line.
"""

from __future__ import annotations

import fcntl
import os
import time

from pdgstore.errors import StoreBusy, StoreIOError
from pdgstore.paths import display_path

#: how long a writer waits for the lock of a cook whose process is gone: its log appender
#: (``pdgstore.appender``) holds the lock until it has committed the batches it was sent
LOCK_WAIT_S = 30.0


def take_writer_lock(path: str, display: str) -> int:
    lock_path = path + ".lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreIOError(f"cannot open the writer lock {display_path(lock_path)}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_pid(fd)
        if not (isinstance(pid, int) and not _alive(pid) and _wait_for_lock(fd, LOCK_WAIT_S)):
            os.close(fd)
            raise StoreBusy(f"a cook is already running on {display} (pid {pid})") from None
    _rewrite(fd, str(os.getpid()), _notes(fd))  # the notes of earlier writers stay
    return fd


#: how much of the lock file is read: the pid and a few notes
_NOTES_BYTES = 4096


def _lines(fd: int) -> list[str]:
    return os.pread(fd, _NOTES_BYTES, 0).decode(errors="replace").splitlines()


def _notes(fd: int) -> list[str]:
    """The lock file's notes (every line after the pid): ``clean STAMP`` and ``stopped PID WHY``."""
    return [line for line in _lines(fd)[1:] if line.startswith(("clean ", "stopped "))]


def _rewrite(fd: int, pid: str, notes: list[str]) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, "\n".join([pid, *notes]).encode() + b"\n", 0)


def note_stopped(lock_fd: int, why: str) -> None:
    """A writer stops on a write error the store cannot take (a full disk, an I/O error): note why
    in the lock file, under the pid of the cook that holds it (the log cannot say it: writing there
    is what failed), so the next writer records the cook's end in the right words instead of
    guessing that its process died. Best effort: a lock file that cannot be written is left."""
    try:
        lines = _lines(lock_fd)
        pid = lines[0].strip() if lines else str(os.getpid())
        why = " ".join(why.split())[:500]
        notes = [n for n in _notes(lock_fd) if not n.startswith(f"stopped {pid} ")]
        _rewrite(lock_fd, pid, [*notes, f"stopped {pid} {why}"])
    except OSError:
        pass


def stopped_note(path: str, pid: int, lock_fd: int | None = None) -> str:
    """Why the cook ``pid`` stopped, as ``note_stopped`` noted it, or ''. Reads the lock file
    through ``lock_fd`` (a writer) or by opening it read-only (a reader: nothing is written)."""
    fd = lock_fd
    try:
        if fd is None:
            fd = os.open(path + ".lock", os.O_RDONLY)
        try:
            prefix = f"stopped {pid} "
            return next((n[len(prefix) :] for n in _notes(fd) if n.startswith(prefix)), "")
        finally:
            if lock_fd is None:
                os.close(fd)
    except OSError:
        return ""


def forget_stopped(lock_fd: int, pid: int) -> None:
    """The next writer recorded the end of the cook ``pid``: its note has done its work."""
    try:
        lines = _lines(lock_fd)
        notes = [n for n in _notes(lock_fd) if not n.startswith(f"stopped {pid} ")]
        _rewrite(lock_fd, lines[0].strip() if lines else str(os.getpid()), notes)
    except OSError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _wait_for_lock(fd: int, seconds: float) -> bool:
    """Take the lock on ``fd`` once it is free, trying for up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            continue
    return False


def _read_pid(fd: int) -> int | str:
    text = os.pread(fd, 32, 0).decode(errors="replace").split("\n", 1)[0].strip()
    return int(text) if text.isdigit() else "unknown"


def lock_holder(path: str) -> int | None:
    """Without taking it for long, tell whether another process holds the writer lock."""
    try:
        fd = os.open(path + ".lock", os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            return pid if isinstance(pid, int) else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _file_stamp(path: str) -> str:
    st = os.stat(path)
    return f"{st.st_size} {st.st_mtime_ns} {st.st_ino} {st.st_ctime_ns}"


def stamp_clean(path: str, lock_fd: int) -> None:
    """At a writer's close: when its close left the store whole in its file (no -wal holds anything),
    note the file's stat beside the pid in the writer lock, so the next writer that finds it
    unchanged need not ask SQLite to check it again (``left_clean``)."""
    try:
        wal = path + "-wal"
        if os.path.exists(wal) and os.path.getsize(wal):
            return
        lines = _lines(lock_fd)
        notes = [n for n in _notes(lock_fd) if not n.startswith("clean ")]
        _rewrite(lock_fd, lines[0].strip() if lines else str(os.getpid()), [f"clean {_file_stamp(path)}", *notes])
    except OSError:
        pass


def left_clean(path: str, lock_fd: int | None) -> bool:
    """Whether the store is as a writer left it when it closed it sound (``stamp_clean``)."""
    if lock_fd is None:
        return True
    try:
        wal = path + "-wal"
        if os.path.exists(wal) and os.path.getsize(wal):
            return False
        return f"clean {_file_stamp(path)}" in _notes(lock_fd)
    except OSError:
        return False
