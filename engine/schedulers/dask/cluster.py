"""Reaching a Dask cluster: connect to an address or start a LocalCluster for one cook; the path
map between the cook's file system and the workers'; shipping the graph's code to the workers.

``distributed`` is imported here and only here, when a cook actually uses a dask scheduler
(``pip install 'pdgstore[dask]'``); a graph that merely declares one costs nothing more.

Code shipping: a graph file is loaded as a module that exists only in the cook's process
(``pdg_graph_<name>``), and it may import modules that sit beside it. Those modules (every module
whose file lies in the graph's folder) are registered with cloudpickle to be pickled *by value*, so
a Python processor's function, and whatever of the graph's folder it uses, reaches the workers
without anyone installing anything on them. Workers need only ``pdgstore[dask]`` itself.
"""

from __future__ import annotations

import os
import sys

from pdgstore.engine.errors import GraphError


def require_distributed(scheduler: str):
    """The ``distributed`` module, or a GraphError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise GraphError(f"scheduler {scheduler} needs Dask distributed: pip install 'pdgstore[dask]'") from None
    return distributed


class Connection:
    """A client of a cluster, and the LocalCluster behind it when this cook started one."""

    def __init__(self, client, cluster=None) -> None:
        self.client, self.cluster = client, cluster

    @property
    def address(self) -> str:
        return self.client.scheduler.address if self.client.scheduler else ""

    def close(self) -> None:
        """Close the client, then the cluster this cook started (its workers end with it)."""
        try:
            self.client.close(timeout=5)
        except Exception:  # noqa: BLE001 - a scheduler that is gone cannot be told goodbye
            pass
        if self.cluster is not None:
            try:
                self.cluster.close(timeout=10)
            except Exception:  # noqa: BLE001
                pass


def connect(
    scheduler: str,
    *,
    address: str | None,
    n_workers: int,
    slots_per_worker: int,
    security=None,
    timeout_s: float = 10.0,
) -> Connection:
    """A client of the cluster at ``address``, or of a new LocalCluster of ``n_workers`` worker
    processes, each with ``slots_per_worker`` threads and as many ``slots`` (a Dask resource).

    The LocalCluster's scheduler lets no task be retried behind our back after a worker dies
    (``allowed-failures`` 0): the cook hears ``KilledWorker`` at once and counts the retry itself."""
    distributed = require_distributed(scheduler)
    import dask

    try:
        if address:
            client = distributed.Client(address, timeout=timeout_s, security=security, set_as_default=False)
            return Connection(client)
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            cluster = distributed.LocalCluster(
                n_workers=n_workers,
                threads_per_worker=slots_per_worker,
                processes=True,
                resources={"slots": slots_per_worker},
                host="127.0.0.1",
                dashboard_address=None,
                scheduler_kwargs={"dashboard_address": ":0"},  # its HTTP server on a free port, not 8787
                security=security,
                silence_logs=40,
            )
        client = distributed.Client(cluster, set_as_default=False)
        return Connection(client, cluster)
    except (OSError, TimeoutError) as exc:
        where = f"the Dask scheduler at {address}" if address else "a LocalCluster"
        raise GraphError(f"scheduler {scheduler} could not reach {where}: {exc}") from None


def ship_graph_code(graph_dir: str) -> list[str]:
    """Register every loaded module whose file lies in ``graph_dir`` (the graph file's module and
    its local imports) to be pickled by value; their names. Each folder is resolved once (a cook
    that imported distributed has some 600 modules in a few dozen folders, and resolving every
    file's path took longer than starting the first jobs)."""
    import cloudpickle

    root = os.path.realpath(graph_dir) + os.sep
    resolved: dict[str, bool] = {}  # folder -> whether it lies in graph_dir
    shipped = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not path or name == "__main__" or "site-packages" in path:
            continue
        folder = os.path.dirname(path)
        inside = resolved.get(folder)
        if inside is None:
            inside = resolved[folder] = (os.path.realpath(folder) + os.sep).startswith(root)
        if not inside:
            continue
        try:
            cloudpickle.register_pickle_by_value(module)
        except ValueError:
            continue
        shipped.append(name)
    return shipped


def unship_graph_code(names: list[str]) -> None:
    import cloudpickle

    for name in names:
        module = sys.modules.get(name)
        if module is not None:
            try:
                cloudpickle.unregister_pickle_by_value(module)
            except ValueError:
                pass


class PathMap:
    """Prefix pairs ``{cook_path: worker_path}``: where the project's shared storage is mounted on
    the workers. Strings that start with a cook prefix are rewritten for the workers, and paths a
    job reports back are rewritten for the cook. Longest prefix first; an empty map is identity."""

    def __init__(self, pairs: dict | None) -> None:
        pairs = {os.path.abspath(k): os.path.abspath(v) for k, v in (pairs or {}).items()}
        self.pairs = sorted(pairs.items(), key=lambda kv: -len(kv[0]))
        self.back = sorted(((v, k) for k, v in pairs.items()), key=lambda kv: -len(kv[0]))

    def __bool__(self) -> bool:
        return bool(self.pairs)

    @staticmethod
    def _swap(text: str, pairs) -> str:
        for src, dst in pairs:
            if text == src or text.startswith(src + os.sep):
                return dst + text[len(src) :]
            if src + os.sep in text:  # a path inside a longer string (an argument, an expression)
                return text.replace(src + os.sep, dst + os.sep)
        return text

    def to_worker(self, text: str) -> str:
        return self._swap(text, self.pairs) if self.pairs else text

    def to_cook(self, text: str) -> str:
        return self._swap(text, self.back) if self.back else text

    def to_plain(self) -> dict:
        return dict(self.pairs)
