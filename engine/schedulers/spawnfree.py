"""Starting a job with the C library's ``posix_spawn`` while the GIL is free.

Why: ``os.posix_spawn`` holds the GIL for the whole spawn, and glibc's spawn returns only once the
child has called ``exec`` (it shares the parent's memory until then): hundreds of microseconds a
job on a loaded machine, often past the interpreter's 5 ms switch interval. The thread starting
jobs (the local scheduler's reaper) then stopped the cook's loop, the result server's threads and
everything else in the process at every job it started: with 2 slots running ``true``, the loop
waited for the GIL about as long as it worked. A foreign call through ``ctypes`` releases the GIL,
so the same spawn leaves the other threads running.

The same calls ``os.posix_spawn`` makes: standard input from ``/dev/null``, standard output and
error to the job's log, a new session (``POSIX_SPAWN_SETSID``: its own process group). Where that
is not available (no C library found, a libc without the flag), ``available()`` is False and the
caller uses ``os.posix_spawn``.

The library is looked up at the first job, not at import: every ``pdg cook`` imports this module,
and most cooks start no job. It is opened by its soname first; ``ctypes.util.find_library`` runs
``ldconfig -p`` in a child process, so it is only the fallback where that name does not load.
"""

from __future__ import annotations

import ctypes
import functools
import os
from typing import Any

#: glibc's and musl's value (Linux); ``posix_spawnattr_setflags`` refuses a flag it does not know
POSIX_SPAWN_SETSID = 0x80
#: bytes for the opaque ``posix_spawn_file_actions_t`` and ``posix_spawnattr_t`` (glibc: 80 and 336
#: on 64-bit Linux): room to spare, the C library only writes what its own type holds
_FILE_ACTIONS_BYTES = 256
_ATTR_BYTES = 1024


def _open_libc() -> Any:
    """The C library: glibc's soname, else whatever ``find_library`` finds (musl, say)."""
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes.util import find_library

        return ctypes.CDLL(find_library("c") or "libc.so.6", use_errno=True)


@functools.cache
def _libc() -> Any:
    """The C library if its ``posix_spawn`` takes ``POSIX_SPAWN_SETSID``, else None (looked up once)."""
    if not hasattr(os, "posix_spawn") or os.uname().sysname != "Linux":
        return None
    try:
        libc = _open_libc()
        attr = ctypes.create_string_buffer(_ATTR_BYTES)
        if libc.posix_spawnattr_init(attr) != 0:
            return None
        try:
            if libc.posix_spawnattr_setflags(attr, ctypes.c_short(POSIX_SPAWN_SETSID)) != 0:
                return None  # a libc before the flag (glibc < 2.26)
        finally:
            libc.posix_spawnattr_destroy(attr)
    except (OSError, AttributeError):
        return None
    return libc


def available() -> bool:
    return _libc() is not None


def _strings(values: list[bytes]) -> Any:
    return (ctypes.c_char_p * (len(values) + 1))(*values, None)


def spawn(program: str, argv: list[str], env: dict[str, str], log_fd: int) -> int:
    """Start ``program`` (a path) with ``argv`` and exactly ``env`` in a new session, its output to
    ``log_fd``: the child's pid. Raises OSError as ``os.posix_spawn`` does."""
    libc = _libc()
    assert libc is not None, "spawnfree.available() said no"
    actions = ctypes.create_string_buffer(_FILE_ACTIONS_BYTES)
    attr = ctypes.create_string_buffer(_ATTR_BYTES)
    args = _strings([os.fsencode(a) for a in argv])
    envp = _strings([os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()])
    pid = ctypes.c_int(0)
    libc.posix_spawn_file_actions_init(actions)
    libc.posix_spawnattr_init(attr)
    try:
        libc.posix_spawn_file_actions_addopen(actions, 0, os.devnull.encode(), os.O_RDONLY, 0)
        libc.posix_spawn_file_actions_adddup2(actions, log_fd, 1)
        libc.posix_spawn_file_actions_adddup2(actions, log_fd, 2)
        libc.posix_spawnattr_setflags(attr, ctypes.c_short(POSIX_SPAWN_SETSID))
        err = libc.posix_spawn(ctypes.byref(pid), os.fsencode(program), actions, attr, args, envp)
    finally:
        libc.posix_spawn_file_actions_destroy(actions)
        libc.posix_spawnattr_destroy(attr)
    if err:
        raise OSError(err, os.strerror(err), program)
    return pid.value
