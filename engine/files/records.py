"""Files as the log records them, ``[path, tag, size, mtime_ns, hash]``, and how they are checked.

Paths are POSIX and relative to the graph's project root when the file lies under it (absolute
otherwise). The hash is XXH3-64 of the content (not cryptographic, and far faster than any stdlib
hash, which is what change detection wants), unless a stat handler registered for the file's tag
gives one. Files are recorded after the work that wrote them ended.

The stat cascade (``check``) decides whether a recorded file changed, reading as little as it can:
same (mtime_ns, size) as recorded => unchanged, without reading the file; a different size =>
modified; otherwise the hash decides (same hash: only touched, and the record gets the new mtime).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Literal

import xxhash
from pdgstore.engine.errors import HandlerError, error_line
from pdgstore.engine.files.filetypes import DEFAULT_EXTENSION_TAGS, TypeRegistry, handler_name

from pdgstore.events import HASH, MTIME_NS, PATH, SIZE, TAG

_CHUNK = 1 << 20
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_DEFAULT_TYPES = TypeRegistry()

#: ``check`` verdicts
SAME, TOUCHED, MODIFIED, MISSING = "same", "touched", "modified", "missing"


def tag_for(path: str) -> str:
    """The tag PDG would give ``path`` by its extension ('file' when unknown)."""
    return DEFAULT_EXTENSION_TAGS.get(os.path.splitext(path)[1].lower(), "file")


_POSIX = os.sep == "/"
_ROOT_PREFIX: dict[str, str] = {}  # root -> root + "/" when root is absolute and normalised, else ""


def _root_prefix(root: str) -> str:
    prefix = _ROOT_PREFIX.get(root)
    if prefix is None:
        ok = _POSIX and os.path.isabs(root) and os.path.normpath(root) == root
        prefix = _ROOT_PREFIX[root] = (root if root.endswith("/") else root + "/") if ok else ""
    return prefix


def _clean(rel: str) -> bool:
    """``rel`` is a relative POSIX path that normpath would leave as it is (no '', '.', '..' part)."""
    return (
        bool(rel)
        and rel[0] != "/"
        and "//" not in rel
        and not rel.startswith(("./", "../"))
        and rel not in (".", "..")
        and "/./" not in rel
        and "/../" not in rel
        and not rel.endswith(("/", "/.", "/.."))
    )


def relative(path: str | os.PathLike, root: str) -> str:
    """``path`` as stored: POSIX and relative to ``root`` when under it, else absolute."""
    path = os.fspath(path)
    prefix = _root_prefix(root)
    if prefix:  # the common cases without normpath/relpath (a cook calls this per file)
        if path.startswith(prefix):
            rel = path[len(prefix) :]
            if _clean(rel):
                return rel
        elif _clean(path):
            return path
    absolute = path if os.path.isabs(path) else os.path.join(root, path)
    absolute = os.path.normpath(absolute)
    rel = os.path.relpath(absolute, root)
    if rel == ".." or rel.startswith(".." + os.sep):
        return absolute.replace(os.sep, "/")
    return rel.replace(os.sep, "/")


def absolute(rel: str, root: str) -> str:
    if _POSIX:  # os.path.join's result, without its generality (a cook calls this per file)
        if rel[:1] == "/":
            return rel
        return root + rel if root.endswith("/") else f"{root}/{rel}"
    return rel if os.path.isabs(rel) else os.path.join(root, rel)


def root_prefix(root: str) -> str | None:
    """What ``absolute`` puts before a relative path under ``root`` (POSIX: ``root/``), for loops
    that join thousands of paths inline; None where paths are not POSIX (call ``absolute``)."""
    if not _POSIX:
        return None
    return root if root.endswith("/") else root + "/"


def content_hash(path: str, size: int = -1) -> str:
    """XXH3-64 of the file's bytes, read to the end.

    Read with ``os.open``/``os.read``: for the small files a cook records by the thousand, Python's
    file objects cost more than the read itself. ``size``, the size a stat just gave, sizes the
    first read one byte larger: a short read of a regular file is its end, so one read does it, and
    no 1 MiB buffer is allocated for a few bytes (glibc maps and unmaps such a buffer on every read
    whose result is shrunk: two page faults a file)."""
    fd = os.open(path, _READ_FLAGS)
    try:
        return _hash_fd(fd, size)
    finally:
        os.close(fd)


def stat_and_hash(path: str) -> tuple[os.stat_result, str]:
    """The file's stat and ``content_hash``, from one open: ``fstat`` on the open file costs less
    than a second lookup of its path, and a cook records every output file this way."""
    fd = os.open(path, _READ_FLAGS)
    try:
        st = os.fstat(fd)
        return st, _hash_fd(fd, st.st_size)
    finally:
        os.close(fd)


def _hash_fd(fd: int, size: int) -> str:
    if 0 <= size < _CHUNK:
        data = os.read(fd, size + 1)
        if len(data) <= size:  # shorter than asked: the end (it shrank, or is as the stat said)
            return xxhash.xxh3_64_hexdigest(data)
    else:
        data = os.read(fd, _CHUNK)
    more = os.read(fd, _CHUNK) if data else b""
    if not more:
        return xxhash.xxh3_64_hexdigest(data)
    h = xxhash.xxh3_64(data)
    while more:
        h.update(more)
        more = os.read(fd, _CHUNK)
    return h.hexdigest()


def _hash(path: str, rel: str, tag: str, st: os.stat_result, types: TypeRegistry, item) -> tuple[str, int]:
    """(hash, size) of a file: the first stat handler for its tag that returns non-zero, else XXH3."""
    handlers = types.handlers_for(types.stat_handlers, tag)
    if handlers:  # PDG's arguments: the local path, the raw pdg.File, the pdg.WorkItem that owns it
        from pdgstore.engine.graph.attribs import File
        from pdgstore.engine.pdgapi.items import wrap

        raw = File.from_record([rel, tag, st.st_size, st.st_mtime_ns, ""])
        item = wrap(item)
    for handler_tag, handler in handlers:
        try:
            result = handler(path, raw, item)
        except Exception as exc:  # noqa: BLE001
            raise HandlerError(
                f"stat handler {handler_name(handler)} for tag {handler_tag} raised on {rel}: {error_line(exc)}"
            ) from None
        if isinstance(result, tuple):
            value, size = result
        else:
            value, size = result, st.st_size
        if value is not None and value != 0:
            return str(value), int(size)
    return content_hash(path, st.st_size), st.st_size


def record(
    path: str,
    root: str,
    tag: str | None = None,
    *,
    types: TypeRegistry | None = None,
    item=None,
    st: os.stat_result | None = None,
) -> list:
    """Stat and hash the file at ``path`` (relative to ``root``) as a file record."""
    types = types or _DEFAULT_TYPES
    rel = relative(path, root)
    full = absolute(rel, root)
    tag = tag or types.tag_for(rel)
    if st is None and not types.stat_handlers:
        st, digest = stat_and_hash(full)
        return [rel, tag, st.st_size, st.st_mtime_ns, digest]
    st = st or os.stat(full)
    digest, size = _hash(full, rel, tag, st, types, item)
    return [rel, tag, size, st.st_mtime_ns, digest]


def check(
    prev: list,
    root: str,
    *,
    types: TypeRegistry | None = None,
    item=None,
    st: os.stat_result | None | Literal[False] = False,
    digest: str | None = None,
) -> tuple[str, list | None]:
    """The stat cascade for a recorded file: (verdict, current record or None when missing).

    ``st`` may carry a stat made earlier (``stat_many``); None there means the file was missing.
    ``digest``: its ``content_hash`` made earlier (``hash_many``), taken when no stat handler decides.
    """
    rel, tag, size, mtime_ns = prev[PATH], prev[TAG], prev[SIZE], prev[MTIME_NS]
    full = absolute(rel, root)
    if st is False:
        try:
            st = os.stat(full)
        except (FileNotFoundError, NotADirectoryError):
            st = None
    if st is None:
        return MISSING, None
    if st.st_mtime_ns == mtime_ns and st.st_size == size:
        return SAME, prev
    types = types or _DEFAULT_TYPES
    if st.st_size != size and not types.stat_handlers:
        return MODIFIED, [rel, tag, st.st_size, st.st_mtime_ns, content_hash(full, st.st_size)]
    if digest is not None and not types.stat_handlers:
        new_size = st.st_size
    else:
        digest, new_size = _hash(full, rel, tag, st, types, item)
    current = [rel, tag, new_size, st.st_mtime_ns, digest]
    if digest == prev[HASH] and new_size == size:
        return TOUCHED, current
    return MODIFIED, current


def stat_or_none(path: str) -> os.stat_result | None:
    """``os.stat``, or None for a missing file (or a path through something that is not a folder)."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


#: stats timed serially first; their mean decides whether the rest go to threads
PROBE = 256
#: a mean stat slower than this (seconds) means a cold cache or a network file system: go parallel
SLOW_STAT_S = 20e-6
#: paths per task handed to a worker thread (one future per path costs more than the stat)
CHUNK = 1024


def _stat_chunk(paths: list[str]) -> list[os.stat_result | None]:
    return [stat_or_none(p) for p in paths]


def stat_many(paths: list[str], workers: int = 8) -> dict[str, os.stat_result | None]:
    """Stat many files (each once), in parallel threads only where that helps.

    On a local disk with a warm cache a stat costs less than handing it to a thread: a pool only
    adds GIL hand-offs (``benchmarks/README.md`` has the figures). ``os.stat`` releases the GIL,
    which pays when each stat waits on a disk or a network file system. So the first ``PROBE`` stats
    run in a loop and are timed; if they were slow the rest go to threads in chunks.
    """
    unique = list(dict.fromkeys(paths))
    head, rest = unique[:PROBE], unique[PROBE:]
    t0 = time.perf_counter()
    out = {p: stat_or_none(p) for p in head}
    slow = head and (time.perf_counter() - t0) / len(head) > SLOW_STAT_S
    if not rest:
        return out
    if not slow or len(rest) < CHUNK:
        out.update((p, stat_or_none(p)) for p in rest)
        return out
    _stat_threads(rest, out, workers)
    return out


def _stat_threads(paths: list[str], out: dict, workers: int) -> None:
    for chunk, stats in _in_threads(_stat_chunk, paths, workers):
        out.update(zip(chunk, stats))


def _in_threads(func: Callable[[list], list], values: list, workers: int) -> Iterator[tuple[list, list]]:
    """(chunk, ``func(chunk)``) for each ``CHUNK`` of ``values`` in order, ``func`` run on the chunks
    by a pool of ``workers`` threads (one task per path costs more than a stat or a small hash)."""
    from concurrent.futures import ThreadPoolExecutor  # here: it brings logging, and is rarely needed

    chunks = [values[i : i + CHUNK] for i in range(0, len(values), CHUNK)]
    with ThreadPoolExecutor(min(workers, len(chunks))) as pool:
        yield from zip(chunks, pool.map(func, chunks))


#: a mean hash slower than this (seconds, a small file's) means its pages were not cached: go parallel
SLOW_HASH_S = 30e-6


def _hash_chunk(pairs: list[tuple[str, int]]) -> list[str | None]:
    out: list[str | None] = []
    for path, size in pairs:
        try:
            out.append(content_hash(path, size))
        except OSError:
            out.append(None)
    return out


def hash_many(paths: list[str], sizes: list[int], workers: int = 8) -> list[str | None]:
    """``content_hash`` of each of ``paths`` (``sizes``: as just stat'ed), None for a file that
    cannot be read, in threads only where that helps (as ``stat_many``): from its page cache a small
    file hashes in a few microseconds, less than handing it to a thread; from the disk it waits for
    each read, and reads in threads overlap (a recook after every input was touched hashes them all,
    ``engine.incremental.restat``). The first ``PROBE`` are hashed in a loop and timed."""
    pairs = list(zip(paths, sizes, strict=True))
    t0 = time.perf_counter()
    out = _hash_chunk(pairs[:PROBE])
    rest = pairs[PROBE:]
    if len(rest) < CHUNK or (time.perf_counter() - t0) / max(1, len(out)) <= SLOW_HASH_S:
        return out + _hash_chunk(rest)
    for _chunk, digests in _in_threads(_hash_chunk, rest, workers):
        out += digests
    return out


class FileStat:
    """What a cook reads of a file's ``os.stat_result``, under the same names: a no-op manifest's
    scan keeps one per recorded file (two per item of W(N)), and a whole ``stat_result`` with its
    fields' objects is several times the size of these three slots."""

    __slots__ = ("st_mode", "st_size", "st_mtime_ns")

    def __init__(self, st: os.stat_result) -> None:
        self.st_mode, self.st_size, self.st_mtime_ns = st.st_mode, st.st_size, st.st_mtime_ns


def stat_changed(
    paths: list[str], mtimes: list[int], sizes: list[int], workers: int = 8
) -> tuple[dict[str, FileStat | None], set[str]]:
    """Stat every file of ``paths`` and tell which no longer has its (mtime_ns, size) of ``mtimes``
    and ``sizes`` (a missing file has changed): (changed path -> stat result or None, the changed
    paths). The files that kept theirs keep no stat: at W(1,000,000) one per recorded file was a
    few hundred MB held through the cook, which asks again about the few it reaches.

    ``stat_many`` then a comparison, in one loop: the no-op manifest stats every file a graph
    recorded (two per item of W(N)), and at that count the loop's own overhead (a call, a generator
    step and a second pass per file) is a visible share of a no-op recook. As in ``stat_many``, a
    slow start (a cold cache, a network file system) hands the rest to threads."""
    out: dict[str, FileStat | None] = {}
    changed: set[str] = set()
    t0 = time.perf_counter()
    _compare(paths[:PROBE], mtimes[:PROBE], sizes[:PROBE], out, changed)
    rest = len(paths) - PROBE
    if rest <= 0:
        return out, changed
    if rest >= CHUNK and (time.perf_counter() - t0) / PROBE > SLOW_STAT_S:
        at = PROBE  # each chunk compared as its stats come: a million stat results are never held
        for chunk, stats in _in_threads(_stat_chunk, paths[PROBE:], workers):
            end = at + len(chunk)
            for path, st, mtime_ns, size in zip(chunk, stats, mtimes[at:end], sizes[at:end], strict=True):
                if st is None or st.st_mtime_ns != mtime_ns or st.st_size != size:
                    out[path] = None if st is None else FileStat(st)
                    changed.add(path)
            at = end
        return out, changed
    _compare(paths[PROBE:], mtimes[PROBE:], sizes[PROBE:], out, changed)
    return out, changed


def _compare(paths: list[str], mtimes: list[int], sizes: list[int], out: dict, changed: set) -> None:
    stat = os.stat
    for path, mtime_ns, size in zip(paths, mtimes, sizes):
        try:
            st = stat(path)
        except (FileNotFoundError, NotADirectoryError):
            out[path] = None
            changed.add(path)
            continue
        if st.st_mtime_ns != mtime_ns or st.st_size != size:
            out[path] = FileStat(st)
            changed.add(path)
