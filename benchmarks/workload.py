"""Setting up W(N) in a folder: the graph file, N small input files, and resets between runs.

Shared by the benchmarks and ``plain.py``; nothing here is timed.
"""

from __future__ import annotations

import os
import shutil
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GRAPH = os.path.join(HERE, "graphs", "wide.py")


def input_name(i: int) -> str:
    return f"f{i:06d}.txt"


def input_text(i: int, version: int = 0) -> str:
    """A small input file's text (~60 bytes); ``version`` makes a different content."""
    return f"file {i} line one: the quick brown fox\nline two, version {version}\n"


def make(folder: str, n: int) -> str:
    """A fresh W(n) in ``folder``: wide.py and in/ with n files (nothing cooked). Returns the folder."""
    if os.path.exists(folder):
        shutil.rmtree(folder)
    empty_trash(folder)
    os.makedirs(os.path.join(folder, "in"))
    shutil.copy(GRAPH, os.path.join(folder, "wide.py"))
    for i in range(n):
        with open(os.path.join(folder, "in", input_name(i)), "w") as f:
            f.write(input_text(i))
    return folder


#: what the cooks of W(N) make in its folder: the outputs, the engine's store, the plain loop's
MADE = ("out1", "out2", ".pdg", "plain.db", "plain.db-wal", "plain.db-shm")


def reset(folder: str) -> None:
    """Forget every cook: move the outputs and stores aside (into ``<folder>.trash``, deleted by
    ``empty_trash`` once the timed runs are over), then flush the file system, so that the next
    timed run neither pays for deleting N files nor for writing back the last run's pages. A
    W(1,000,000) round leaves gigabytes there: ``test_bench_scale.py`` empties its trash at its end
    (the W(10,000) benchmarks leave theirs in pytest's temporary folders, which pytest removes)."""
    base = _trash(folder)
    trash = os.path.join(base, str(len(os.listdir(base))) if os.path.isdir(base) else "0")
    os.makedirs(trash)
    for name in MADE:
        path = os.path.join(folder, name)
        if os.path.exists(path):
            os.rename(path, os.path.join(trash, name))
    os.sync()


def clear(folder: str) -> None:
    """Forget every cook by deleting the outputs and stores at once: for a folder in memory (tmpfs
    reuses freed inodes at once); on disk, ``reset``."""
    for name in MADE:
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def empty_trash(folder: str) -> None:
    shutil.rmtree(_trash(folder), ignore_errors=True)


def _trash(folder: str) -> str:
    """``<folder>.trash`` beside ``folder`` (``.`` included: its trash is ``../<name>.trash``)."""
    return os.path.abspath(folder) + ".trash"


def change_one(folder: str, i: int, version: int) -> str:
    """Rewrite input ``i`` with other content (a different size too); returns its path."""
    path = os.path.join(folder, "in", input_name(i))
    with open(path, "w") as f:
        f.write(input_text(i, version) + "x" * (version % 7 + 1) + "\n")
    return path


def touch_inputs(folder: str) -> None:
    """Give every input a new mtime and the same content (a ``touch`` of each: a checkout, a copy
    that kept no times)."""
    now = time.time_ns()
    with os.scandir(os.path.join(folder, "in")) as entries:
        for entry in entries:
            os.utime(entry.path, ns=(now, now))


def warm(folder: str) -> None:
    """Read every file of W(N) in ``folder`` (inputs, outputs, the stores) once, so that a recook timed
    next finds them in the page cache, as a user's recook right after their last cook does. At
    W(1,000,000) two folders do not both stay cached on this machine: without this, whichever side
    ran last would start warm and the other cold (ratios of 0.6x and 3x in the same run)."""
    for sub in ("in", "out1", "out2", ".pdg", "."):  # "." holds plain.db and its WAL
        top = os.path.join(folder, sub)
        if not os.path.isdir(top):
            continue
        with os.scandir(top) as entries:
            for entry in entries:
                if entry.is_file():
                    with open(entry.path, "rb") as f:
                        while f.read(1 << 20):
                            pass
