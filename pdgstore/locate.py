"""Where a project's store is: ``.pdg/pdg.db`` beside the graph file, or named by ``--db`` / ``PDG_DB``.

Read commands find the nearest ``.pdg/pdg.db`` in the current directory or a parent, as git finds
``.git``, and open it for reading. Finding and opening a store is the store's own business: a read
command needs no engine module to do it.
"""

from __future__ import annotations

import os

from pdgstore.errors import StoreMissing
from pdgstore.log import EventLog
from pdgstore.paths import display_path

STORE_DIR = ".pdg"
STORE_FILE = "pdg.db"


def store_beside(graph_path: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(graph_path)), STORE_DIR, STORE_FILE)


def find_store(db: str | None = None, start: str | None = None) -> str:
    """The store a read command should use: ``db``, else ``$PDG_DB``, else the nearest
    ``.pdg/pdg.db`` in the current directory or a parent."""
    explicit = db or os.environ.get("PDG_DB")
    if explicit:
        if not os.path.exists(explicit):
            raise StoreMissing(f"no pdgstore database at {display_path(explicit)}")
        return os.path.abspath(explicit)
    here = os.path.abspath(start or os.getcwd())
    while True:
        candidate = os.path.join(here, STORE_DIR, STORE_FILE)
        if os.path.exists(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            raise StoreMissing(
                "no pdgstore database here: no .pdg/pdg.db in this directory or its parents "
                "(cook a graph first, or give --db PATH)"
            )
        here = parent


def open_store(db: str | None = None) -> EventLog:
    """Open the store of the current project for reading."""
    return EventLog.open(find_store(db))
