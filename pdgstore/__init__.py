"""pdgstore: the event log of a procedural dependency graph, and what can be derived from it.

This package remembers; it never acts. It holds the event types and their msgpack codec, the SQLite
log (open, append, read), the pure projection that folds events into state, snapshots of that state,
and the read-side queries. Nothing here starts a process, touches a user's files or runs user code.
"""

from pdgstore.errors import StoreBusy, StoreError, StoreIOError, StoreMissing, StoreRefused
from pdgstore.log import EventLog
from pdgstore.state import State

__all__ = ["EventLog", "State", "StoreError", "StoreRefused", "StoreBusy", "StoreMissing", "StoreIOError"]
