"""The process's own data layer: what ``pdgd.util.get_local_data_layer()`` returns.

It serves the handlers this process registers, and the store of the current project (found as the
read commands find it: ``$PDG_DB``, else ``.pdg/pdg.db`` here or in a parent), opened the first time
a store object is subscribed to. ``pdg serve`` points it at the store it was given.
"""

from __future__ import annotations

import os
import threading

from pdgstore.engine.datalayer.core import DataLayer

_lock = threading.Lock()
_layer: DataLayer | None = None


def local_layer() -> DataLayer:
    global _layer
    with _lock:
        if _layer is None:
            _layer = DataLayer()
            _layer.find_store_with(_project_store)
        return _layer


def _project_store() -> str:
    """The current project's store; where none exists yet, ``.pdg/pdg.db`` here, which the layer
    opens once a cook creates it."""
    from pdgstore.engine.project import STORE_DIR, STORE_FILE, find_store

    from pdgstore.errors import StoreMissing

    try:
        return find_store()
    except StoreMissing:
        return os.path.join(os.getcwd(), STORE_DIR, STORE_FILE)


def reset_local_layer(store_path: str | None = None) -> DataLayer:
    """Close the process's data layer and start a new one (on ``store_path`` when given)."""
    global _layer
    with _lock:
        old, _layer = _layer, None
    if old is not None:
        old.close()
    layer = local_layer()
    if store_path:
        layer.set_store(store_path)
    return layer
