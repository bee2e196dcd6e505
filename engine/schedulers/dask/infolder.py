"""A Python item runs on a Dask worker with its project as the current folder, as it does in the cook.

Why: the cook runs a graph's Python processors with the project as its current folder
(``Cook.run``), so ``open("out/a.txt", "w")`` in a processor writes inside the project. A Dask
worker's current folder is wherever the worker was started: on a LocalCluster the cook starts
that is the project (the workers inherit it), on a farm it is not, so a graph that cooked on one
failed on the other ("reported output file ..., which does not exist") and left its files in the
worker's folder. Here the worker enters the project's folder (as this machine mounts it: the path
map) for the time a Python item runs, and goes back to its own folder after the last one.

The current folder belongs to the whole process, not to a thread: the items of one project run
at once on a worker's threads, while an item of another project (another cook on the same cluster)
waits until they are done, then has the folder to itself. A waiting project is not passed by more
items of the one inside (first come, first in), so neither waits for ever.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Iterator

_cond = threading.Condition()
_inside: str | None = None  # the folder the items running now share
_running = 0  # how many items are in it
_queue: deque[str] = deque()  # the folders waiting to go in, in the order they came
_home: str | None = None  # the worker's own current folder, from before the items running now


@contextlib.contextmanager
def project_folder(root: str) -> Iterator[None]:
    """Run the block with ``root`` as this process's current folder (shared with the other items
    of ``root`` running now); OSError, naming the folder, when it does not exist here."""
    _enter(root)
    try:
        yield
    finally:
        _leave()


def _enter(root: str) -> None:
    global _inside, _running, _home
    with _cond:
        _queue.append(root)
        # in once no other project waits before us, and the folder is free or already ours
        while _queue[0] != root or (_running and _inside != root):
            _cond.wait()
        _queue.popleft()
        if _running == 0:
            try:
                _home = os.getcwd()
            except OSError:  # the worker's own folder was deleted: there is none to go back to
                _home = None
            try:
                os.chdir(root)
            except OSError as exc:
                _cond.notify_all()  # the next in line need not wait for us
                raise OSError(f"the project folder {root} cannot be entered on this worker: {exc.strerror}") from None
            _inside = root
        _running += 1
        _cond.notify_all()  # the next in line may be ours too


def _leave() -> None:
    global _inside, _running
    with _cond:
        _running -= 1
        if _running == 0:
            _inside = None
            if _home is not None:
                with contextlib.suppress(OSError):
                    os.chdir(_home)
            _cond.notify_all()
