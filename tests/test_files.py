"""The cold-start stat scan: ``files.stat_many`` stats each path once, serially or in threads, with
the same answers either way (and ``files.hash_many`` hashes the same way)."""

from __future__ import annotations

import os

import pytest
from pdgstore.engine.files import records as files


def _tree(tmp_path, n: int) -> list[str]:
    paths = []
    for i in range(n):
        p = tmp_path / f"f{i}.txt"
        p.write_text("x" * (i % 13))
        paths.append(str(p))
    return paths


def test_stat_many_serial_and_threaded_agree(tmp_path, monkeypatch):
    paths = _tree(tmp_path, 3000)
    missing = [str(tmp_path / "gone.txt"), str(tmp_path / "f1.txt" / "below-a-file")]
    asked = paths + missing + paths[:50]  # duplicates are stat'ed once
    serial = files.stat_many(asked)
    monkeypatch.setattr(files, "SLOW_STAT_S", 0.0)  # every probe counts as slow: the threaded path
    monkeypatch.setattr(files, "CHUNK", 256)
    threaded = files.stat_many(asked)
    assert list(serial) == list(threaded) == list(dict.fromkeys(asked))
    for p in paths:
        assert serial[p].st_size == threaded[p].st_size == os.stat(p).st_size
        assert serial[p].st_mtime_ns == threaded[p].st_mtime_ns
    assert serial[missing[0]] is None and threaded[missing[0]] is None
    assert serial[missing[1]] is None and threaded[missing[1]] is None


def test_hash_many_serial_and_threaded_agree(tmp_path, monkeypatch):
    """``hash_many`` (a recook after touches hashes every touched file): the same digests in a loop
    and in threads, in the order asked, None for a file that cannot be read."""
    paths = _tree(tmp_path, 3000)
    asked = [*paths, str(tmp_path / "gone.txt")]
    sizes = [os.path.getsize(p) for p in paths] + [0]
    serial = files.hash_many(asked, sizes)
    monkeypatch.setattr(files, "SLOW_HASH_S", -1.0)  # every probe counts as slow: the threaded path
    monkeypatch.setattr(files, "CHUNK", 256)
    threaded = files.hash_many(asked, sizes)
    assert serial == threaded == [files.content_hash(p) for p in paths] + [None]


def _slow_relative(path, root):
    absolute = path if os.path.isabs(path) else os.path.join(root, path)
    absolute = os.path.normpath(absolute)
    rel = os.path.relpath(absolute, root)
    if rel == ".." or rel.startswith(".." + os.sep):
        return absolute.replace(os.sep, "/")
    return rel.replace(os.sep, "/")


def test_relative_and_absolute_match_os_path(tmp_path):
    """The fast paths of ``relative``/``absolute`` give what normpath/relpath/join give."""
    roots = [str(tmp_path), str(tmp_path) + "/", "/", str(tmp_path / "a" / ".." / "b"), "relative/root"]
    tails = ["f.txt", "in/f.txt", "in//f.txt", "./f.txt", "in/./f.txt", "in/../f.txt", "../f.txt", "..", ".",
             "in/", "in/.", "in/..", ".hidden/f", "a/.b/c..d", "...", "in/...", ""]
    for root in roots:
        for tail in tails:
            candidates = [tail, os.path.join(root, tail), "/elsewhere/" + tail]
            for path in candidates:
                if not path:
                    continue
                assert files.relative(path, root) == _slow_relative(path, root), (path, root)
        for rel in ["f.txt", "in/f.txt", "/abs/f.txt", ""]:
            assert files.absolute(rel, root) == (rel if os.path.isabs(rel) else os.path.join(root, rel)), (rel, root)


def test_content_hash_of_small_empty_and_multi_chunk_files(tmp_path):
    import xxhash

    for size in (0, 1, 60, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 7):
        p = tmp_path / f"f{size}"
        data = bytes(i % 251 for i in range(size))
        p.write_bytes(data)
        assert files.content_hash(str(p)) == xxhash.xxh3_64_hexdigest(data), size


def test_content_hash_given_a_stat_size_reads_the_whole_file_even_when_it_changed_since(tmp_path):
    """The size from a stat only sizes the first read: a file that grew or shrank after the stat
    still hashes whole."""
    import xxhash

    for size in (0, 1, 60, (1 << 20) - 1, 1 << 20, (1 << 20) + 1):
        p = tmp_path / f"f{size}"
        data = bytes(i % 251 for i in range(size))
        p.write_bytes(data)
        for told in {size, max(0, size - 1), size + 1, 0, 5}:  # as stat'ed, or stat'ed before a change
            assert files.content_hash(str(p), told) == xxhash.xxh3_64_hexdigest(data), (size, told)


@pytest.mark.parametrize("threads", [False, True])
def test_the_no_op_scan_keeps_what_a_cook_reads_of_each_stat(tmp_path, monkeypatch, threads):
    """``stat_changed`` (the no-op manifest's scan of every recorded file) keeps a ``FileStat`` per
    changed file: mode, size and mtime_ns, as ``os.stat`` gives them, under the same names, and None
    for a missing file; the changed files are those whose (mtime_ns, size) moved, and the others
    keep no stat. The same when a slow start hands the rest of the files to threads."""
    from pdgstore.engine.files import records
    from pdgstore.engine.files.records import FileStat, stat_changed

    if threads:
        monkeypatch.setattr(records, "PROBE", 1)
        monkeypatch.setattr(records, "CHUNK", 2)
        monkeypatch.setattr(records, "SLOW_STAT_S", -1.0)

    paths = []
    for i in range(5):
        path = tmp_path / f"f{i}.txt"
        path.write_text("x" * i)
        paths.append(str(path))
    sts = [os.stat(p) for p in paths]
    mtimes = [st.st_mtime_ns for st in sts]
    sizes = [st.st_size for st in sts]
    sizes[2] += 1  # recorded otherwise: changed
    os.remove(paths[4])  # missing: changed
    stats, changed = stat_changed(paths, mtimes, sizes)
    assert changed == {paths[2], paths[4]}
    assert stats[paths[4]] is None and set(stats) == changed
    kept, st = stats[paths[2]], sts[2]
    assert isinstance(kept, FileStat)
    assert (kept.st_mode, kept.st_size, kept.st_mtime_ns) == (st.st_mode, st.st_size, st.st_mtime_ns)
