"""The commands of the store's objects: what a data layer client may ask the engine to do.

``status`` (any store object) only reads, so any client may send it. ``dirty`` (a node or a work
item: the next cook reruns it, as ``pdg dirty``) and ``cancel`` (a graph or ``pdg``: the running
cook stops as on Ctrl-C, its items recorded cancelled) change the store, so a remote client must
present the server's token (``server``). Each returns plain data, or raises a ``PdgError`` whose
sentence the client receives.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

from pdgstore.engine.datalayer import storeobjects
from pdgstore.engine.incremental import manual

from pdgstore.errors import PdgError

if TYPE_CHECKING:
    from pdgstore.engine.datalayer.core import DataLayer
    from pdgstore.engine.datalayer.storeview import StoreView


class StoreCommands:
    """The commands of one store object (made per call: it holds nothing)."""

    read_only_commands = ("status",)

    def __init__(self, layer: DataLayer, path: str) -> None:
        self.layer = layer
        self.path = path
        self.parsed = storeobjects.parse_known(path)  # DataLayer made this for a store object's path

    @property
    def view(self) -> StoreView:
        """The data layer's view of the store (a command is sent once the store is found)."""
        view = self.layer.view
        if view is None:
            raise PdgError(f"no store is open to run a command of {self.path}")
        return view

    def status(self, params=None) -> dict:
        """The object's properties now (for a node: its counts), with the seq they reflect."""
        view = self.view
        with view.reading():
            return {"seq": view.seq, "properties": storeobjects.properties(view, self.parsed)}

    def dirty(self, params=None) -> dict:
        """Dirty this node's items, or this work item (``{"remove_outputs": true}`` also deletes
        the files they wrote)."""
        kind = self.parsed[0]
        if kind not in ("node", "item"):
            raise PdgError(f"{self.path} cannot be dirtied: send dirty to a node or a work item")
        remove = bool(params.get("remove_outputs")) if isinstance(params, dict) else False
        target = self.parsed[2]
        result = manual.dirty(self.view.path, target, remove_outputs=remove, message="data layer dirty")
        return result.to_json("dirty")

    def cancel(self, params=None) -> dict:
        """Cancel the cook running on this store (of this graph, when sent to a graph)."""
        view = self.view
        with view.reading():
            cook = view.running_cook()
        graph = self.parsed[1] if self.parsed[0] != "pdg" else None
        log = view.log
        if log is None:  # the store is not there (yet): nothing runs on it
            raise PdgError(f"no cook of {graph or 'any graph'} is running on {view.path}")
        if cook is None or (graph is not None and cook.graph != graph):
            raise PdgError(f"no cook of {graph or 'any graph'} is running on {log.display}")
        writer = log.writer_pid()
        if writer != cook.pid:
            raise PdgError(f"cook {cook.cook_id} (pid {cook.pid}) is no longer running")
        os.kill(cook.pid, signal.SIGTERM)
        return {"cook_id": cook.cook_id, "pid": cook.pid, "signal": "SIGTERM"}
