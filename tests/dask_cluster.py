"""A real Dask cluster for the tests that run work on one: a LocalCluster of 2 worker processes
(``processes=True``), each with 2 threads and 2 ``slots``, started once per test module.

Its scheduler lets no task rerun after a worker dies (``allowed-failures`` 0), as the LocalCluster
a cook starts itself does: the cook hears ``KilledWorker`` and counts the retry. Import the fixture
into a test module (``from tests.dask_cluster import dask_cluster``) to use it there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FRAMES = Path(__file__).resolve().parent.parent / "examples" / "frames"


def local_cluster(n_workers: int, slots: int, allowed_failures: int):
    """A LocalCluster of ``n_workers`` worker processes (their nannies start another when one
    dies), each with ``slots`` threads and ``slots`` slots, on 127.0.0.1, whose scheduler runs a
    task again after that many workers died under it (``allowed_failures``)."""
    distributed = pytest.importorskip("distributed")
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
        return distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=slots,
            processes=True,
            resources={"slots": slots},
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": ":0"},  # its HTTP server on a free port, not 8787
            silence_logs=40,
        )


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = local_cluster(2, 2, allowed_failures=0)
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield cluster, client
    finally:
        client.close()
        cluster.close()


def frames_example(root: Path, after: str, added: str) -> None:
    """examples/frames/ copied into ``root``, its graph file with the lines ``added`` just after
    its line ``after`` (as a user would add them)."""
    for name in ("png.py", "render_frame.py"):
        shutil.copy(FRAMES / name, root / name)
    text = (FRAMES / "frames.py").read_text()
    assert after in text, f"examples/frames/frames.py has no line {after!r}"
    (root / "frames.py").write_text(text.replace(after, after + added, 1))
