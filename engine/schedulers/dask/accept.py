"""Which work items the dask scheduler takes (``on_accept_work_item``): every job, and the Python
processors' items that can run on a worker. Apart from ``scheduler`` (the contract's other
callbacks), as the part that decides what runs where.

A Python processor's item runs on a worker when the scheduler accepts Python items
(``accept_python``), the workers share the project's storage (on disks of their own, its files
would stay there), and what it needs can be pickled to get there: its function, and the graph's
file types, which tag and hash its outputs on the worker. What cannot travel (something of the
cook's process: a lock, a connection) runs in the cook instead, as it would without a cluster, and
the cook warns once a cook, naming the node and why. Other in-process nodes (partitioners, custom
processors) need the cook's process.
"""

from __future__ import annotations

from typing import Any

from pdgstore.engine.graph.nodes import PythonProcessor
from pdgstore.engine.schedulers.contract import AcceptResult, ScheduledItem
from pdgstore.engine.schedulers.dask import cluster, work


class Acceptance:
    """The dask scheduler's ``on_accept_work_item`` (mixed into ``DaskScheduler``)."""

    name: str
    accept_python: bool
    shared_storage: bool
    graph_dir: str
    transfers: Any  # the cook's ``Transfers``
    cook_reporter: Any  # the contract's ``Reporter`` for this cook
    _shipped: list[str]
    #: node name -> whether its Python items can run on the workers; "" -> whether the graph's file
    #: types can (reset by ``on_start_cook``: asked again each cook)
    _travel: dict[str, bool]

    def on_accept_work_item(self, item: ScheduledItem) -> AcceptResult:
        if not item.in_process:
            return AcceptResult.ACCEPT
        if (
            self.accept_python
            and self.shared_storage
            and type(item.node).cook is PythonProcessor.cook
            and self._travels(item.node)
        ):
            return AcceptResult.ACCEPT
        return AcceptResult.REJECT  # other in-process nodes need the cook's process

    def _travels(self, node) -> bool:
        """Whether ``node``'s Python items can run on the workers: its function, and the graph's
        file types, can be pickled (``work.pickling_problem``); else the cook warns why, once."""
        found = self._travel.get(node.name)
        if found is not None:
            return found
        if "" not in self._travel:  # the graph's file types: asked once for every node
            problem = work.pickling_problem(getattr(self.transfers, "types", None))
            self._travel[""] = not problem
            if problem:
                self._stays(f"the graph's file types cannot be sent to the workers ({problem}); its Python processors")
        if self._travel[""]:
            if not self._shipped:  # the graph's modules travel by value (or at ``_connect``, if no item asked)
                self._shipped = cluster.ship_graph_code(self.graph_dir)
            problem = work.pickling_problem(node.func)
            self._travel[node.name] = not problem
            if problem:
                self._stays(f"the function of node {node.name} cannot be sent to the workers ({problem}); its items")
        else:
            self._travel[node.name] = False
        return self._travel[node.name]

    def _stays(self, what: str) -> None:
        self.cook_reporter.warning(None, f"scheduler {self.name}: {what} run in the cook")
