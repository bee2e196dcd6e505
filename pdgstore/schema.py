"""The on-disk format of a pdgstore database, checked before SQLite is ever asked to open it.

A store is one SQLite file (WAL mode) whose header carries our identity:

- ``PRAGMA application_id`` = 0x50444753 ("PDGS"), header bytes 68..71;
- ``PRAGMA user_version`` = the schema version, header bytes 60..63.

Tables (schema version 1)::

    meta(key TEXT PRIMARY KEY, value TEXT)
        format = "pdgstore", schema = "1", created_ns = "<int>"
        base_seq = "<int>"                 -- after pdg compact: the events up to it are folded away
        manifest:<graph> = <msgpack blob>  -- derived, like a snapshot: the no-op manifest
        manifest_seq:<graph> = "<int>"     -- (engine.manifest), valid while the log ends there
    events(seq INTEGER PRIMARY KEY,         -- log order, assigned by the single writer
           time_ns INTEGER NOT NULL,        -- wall clock when the event was made
           cook_id INTEGER NOT NULL,        -- the cook it belongs to (0: none)
           graph TEXT NOT NULL,             -- the graph's name
           kind TEXT NOT NULL,              -- the event's declared kind (pdgstore.events)
           subject TEXT NOT NULL,           -- item id, node name or graph name
           payload BLOB NOT NULL)           -- msgpack map of the kind's fields plus "v"
        indexes: events_cook(cook_id), events_subject(subject)
    snapshots(seq INTEGER PRIMARY KEY,      -- the state is that of the log up to this seq
              time_ns INTEGER NOT NULL,
              v INTEGER NOT NULL,           -- snapshot format version (others are ignored)
              state BLOB NOT NULL)          -- msgpack of State.to_plain()

Payloads per kind are documented on the classes in ``pdgstore.events``. A file that is not SQLite,
is SQLite of another application, carries a newer schema, or is truncated is refused by
``check_header`` without being opened for writing.
"""

from __future__ import annotations

import os
import sqlite3
import struct

from pdgstore.errors import StoreMissing, StoreRefused

APPLICATION_ID = 0x50444753
SCHEMA_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"

def create_tables(conn: sqlite3.Connection) -> None:
    """Create the version-1 tables and indexes (above) in an empty database, with sqlite-utils.

    Imported here, not at the top: sqlite-utils costs ~80 ms to import and only store creation needs it.
    """
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    db["meta"].create({"key": str, "value": str}, pk="key", not_null={"value"})
    columns = {"seq": int, "time_ns": int, "cook_id": int, "graph": str, "kind": str, "subject": str, "payload": bytes}
    db["events"].create(columns, pk="seq", not_null=set(columns) - {"seq"})
    db["events"].create_index(["cook_id"], index_name="events_cook")
    db["events"].create_index(["subject"], index_name="events_subject")
    db["snapshots"].create({"seq": int, "time_ns": int, "v": int, "state": bytes}, pk="seq",
                           not_null={"time_ns", "v", "state"})


#: schema version -> statements that bring a store from the previous version to it.
MIGRATIONS: dict[int, tuple[str, ...]] = {}


def check_header(path: str, display: str) -> int:
    """Read the SQLite header of ``path`` and return its schema version, or refuse the file."""
    try:
        with open(path, "rb") as f:
            header = f.read(100)
            size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        raise StoreMissing(f"no pdgstore database at {display}") from None
    except OSError as exc:
        raise StoreRefused(f"cannot read {display}: {exc.strerror}") from None
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise StoreRefused(f"{display} is not a pdgstore database (it is not an SQLite file); it was left untouched")
    (app_id,) = struct.unpack(">I", header[68:72])
    if app_id != APPLICATION_ID:
        raise StoreRefused(
            f"{display} is not a pdgstore database (an SQLite file of another application); it was left untouched"
        )
    (version,) = struct.unpack(">I", header[60:64])
    if version > SCHEMA_VERSION:
        raise StoreRefused(
            f"{display} was written by a newer pdgstore (schema {version}; this one reads up to {SCHEMA_VERSION});"
            " upgrade pdgstore to use it"
        )
    if version == 0:
        raise StoreRefused(f"{display} is corrupt: its header carries no schema version; it was left untouched")
    (page_size,) = struct.unpack(">H", header[16:18])
    page_size = 65536 if page_size == 1 else page_size
    (pages,) = struct.unpack(">I", header[28:32])
    if page_size < 512 or size % page_size or size < pages * page_size:
        raise StoreRefused(
            f"{display} is corrupt: it is {size} bytes long, its header says {pages} pages of {page_size}; "
            "it was left untouched"
        )
    return version
