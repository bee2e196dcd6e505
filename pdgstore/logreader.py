"""Reading an open event log: events, snapshots, the state at any seq, spans of cooks.

Every reader of a store (the read commands, the read model, ``pdg check``, time travel) needs only
these; the writer's side (opening under the lock, appending, migrating) is ``pdgstore.log``, whose
``EventLog`` adds it on top. Every read turns SQLite's errors and undecodable bytes into a sentence
naming the store (``read_errors``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import msgpack

from pdgstore import codec, itembatch, schema, sqlitefile, tables
from pdgstore.cookstate import read_cook_state, row_outputs
from pdgstore.errors import HistoryCompacted, StoreRefused
from pdgstore.events import DONE_STATES, Event
from pdgstore.pdgevents import PdgEvent, replay_events
from pdgstore.projection import replay_rows
from pdgstore.snapshots import SNAPSHOT_VERSION
from pdgstore.state import State, paused_gc

#: the events table's columns, in the order ``codec.to_row`` makes them
COLUMNS = "seq, time_ns, cook_id, graph, kind, subject, payload"
#: the events of the live services' own records (a watch started or stopped, a schedule added,
#: fired or skipped ...): they change no work item, file record, graph or cook, so a no-op manifest
#: followed only by them still describes the log's end (``manifest_at_end``)
LIVE_KINDS = tuple(sorted(kind for kind in tables.REGISTRY_KINDS if kind.startswith(("Watch", "Schedule"))))
#: how many such events may follow a manifest before it is no longer looked past (each is read)
MAX_LIVE_AFTER = 1000
#: events after a graph's manifest past which a cook no longer starts from it (``manifest_since``)
MAX_SINCE = 100_000


class LogReader:
    """The reading half of ``EventLog``: what any open store answers, writer or not."""

    path: str
    display: str
    conn: sqlite3.Connection

    # -- reading ---------------------------------------------------------------------------------
    def read_errors(self) -> AbstractContextManager[None]:
        """Turn SQLite's errors while reading, and stored bytes that cannot be decoded, into
        sentences naming the store."""
        return sqlitefile.read_errors(self.display)

    @contextmanager
    def one_reading(self) -> Iterator[None]:
        """Every read inside sees the log as it was at the first one (one read transaction), however
        much a cook appends meanwhile: ``pdg check`` compares two readings of the same log. Inside
        another reading, it is that one (``pdg cook --dry-run`` reads its whole plan in one)."""
        if self.conn.in_transaction:
            yield
            return
        with self.read_errors():
            self.conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                try:
                    self.conn.execute("ROLLBACK")  # a read: nothing to keep
                except sqlite3.Error:
                    pass  # the error that matters is the one being raised (a damaged file's sentence)
            raise
        with self.read_errors():
            self.conn.execute("COMMIT")

    def manifest(self, graph: str) -> tuple[int, bytes] | None:
        """(seq, blob) of ``graph``'s no-op manifest, or None."""
        with self.read_errors():
            rows = dict(
                self.conn.execute(
                    "SELECT key, value FROM meta WHERE key IN (?, ?)", (f"manifest:{graph}", f"manifest_seq:{graph}")
                ).fetchall()
            )
        blob, seq = rows.get(f"manifest:{graph}"), rows.get(f"manifest_seq:{graph}")
        if not isinstance(blob, bytes) or seq is None:
            return None
        return int(seq), blob

    def only_live_since(self, seq: int, until: int | None = None) -> bool:
        """Whether every event after ``seq`` (up to ``until``, else the log's end) is one of the live
        services' records (``LIVE_KINDS``), at most ``MAX_LIVE_AFTER`` of them: the items, files and
        graphs are as they were at ``seq``."""
        with self.read_errors():
            last = until if until is not None else self.conn.execute("SELECT max(seq) FROM events").fetchone()[0] or 0
            if last == seq:
                return True
            if last < seq or last - seq > MAX_LIVE_AFTER:
                return False
            marks = ",".join("?" * len(LIVE_KINDS))
            other = self.conn.execute(
                f"SELECT 1 FROM events WHERE seq > ? AND seq <= ? AND kind NOT IN ({marks}) LIMIT 1",
                (seq, last, *LIVE_KINDS),
            ).fetchone()
        return other is None

    def manifest_at_end(self, graph: str) -> tuple[int, bytes] | None:
        """``manifest(graph)`` when it describes the log's end: written there, or followed only by
        the live services' records (``only_live_since``: ``pdg schedule add``, a watch's start and
        end); else None."""
        found = self.manifest(graph)
        if found is None or not self.only_live_since(found[0]):
            return None
        return found

    def manifest_since(self, graph: str) -> tuple[int, bytes, list[str] | None] | None:
        """``manifest(graph)`` with the ids of the items the events after it name, so that a cook
        can start from it all the same (a cook that failed, was cancelled or died after it; ``pdg
        accept``): every other item is as it described them. The ids are None when it describes
        the log's end (``manifest_at_end``). None when more than ``MAX_SINCE`` events followed it, or
        a compaction folded some of them away."""
        found = self.manifest(graph)
        if found is None:
            return None
        seq, blob = found
        if self.only_live_since(seq):
            return seq, blob, None
        with self.read_errors():
            last = self.conn.execute("SELECT max(seq) FROM events").fetchone()[0] or 0
        if last < seq or last - seq > MAX_SINCE or self.base_seq() > seq:
            return None  # (a manifest past the log's end describes no state of it)
        ids = dict.fromkeys(
            subject for _seq, kind, subject in self.subjects_after(seq, -1) if kind in tables.ITEM_KINDS
        )
        return seq, blob, list(ids)

    def finished_outputs(self, graph: str, node: str) -> Iterator[list]:
        """The outputs of each of ``node``'s items in a done state, in generation order: read from
        their rows one at a time (a long list from ``lists``), no item built."""
        with self.read_errors():
            rows = self.conn.execute(
                "SELECT item_id, state, body FROM items WHERE graph = ? AND node = ? ORDER BY ord", (graph, node)
            )
            for item_id, state, body in rows:
                if state in DONE_STATES:
                    yield row_outputs(self.conn, item_id, body)

    def events(
        self,
        after: int = 0,
        *,
        cook_id: int | None = None,
        subject: str | None = None,
        kind: str | None = None,
        until: int | None = None,
        skip_kind: str | None = None,
        lazy: bool = False,
    ) -> Iterator[Event]:
        """Decoded events in seq order, filtered by cook, subject or kind (``skip_kind``: all but
        that kind, left undecoded). A batch of items (``pdgstore.itembatch``) comes as the
        ``WorkItemGenerated`` events it stands for, each filtered as one (as it is when ``kind``
        names its own kind). ``lazy``: a partition's or gather's long lists left packed
        (``codec.PackedList``)."""
        item_kind = itembatch.ITEM_KIND
        filters = (
            ("seq > ?", after),
            ("seq <= ?", until),
            ("cook_id = ?", cook_id),
            ("subject = ?", subject),
            ("kind IN (?, ?)" if kind == item_kind else "kind = ?", kind),
            ("kind NOT IN (?, ?)" if skip_kind == item_kind else "kind != ?", skip_kind),
        )
        where = [clause for clause, value in filters if value is not None]
        args: list = []
        for clause, value in filters:
            if value is not None:
                args += [value, itembatch.KIND] if "IN" in clause else [value]
        columns = COLUMNS
        if lazy and subject is not None:
            # one item's events, all read before the first is decoded: a long payload (a gather's
            # million files) stays in the store, its length read instead (``codec.StoredPayload``)
            columns = f"seq, time_ns, cook_id, graph, kind, subject, {codec.PAYLOAD_OR_STORED}"
        sql = f"SELECT {columns} FROM events WHERE {' AND '.join(where)} ORDER BY seq"
        with self.read_errors():
            rows = self.conn.execute(sql, args).fetchall() if subject is not None else self.conn.execute(sql, args)
            if lazy and subject is not None:
                conn = self.conn
                rows = [(*r[:6], codec.StoredPayload(conn, r[0], r[7]) if r[6] is None else r[6]) for r in rows]
            if subject is not None and kind in (None, item_kind) and skip_kind != item_kind:
                batches = itembatch.batches_with(self.conn, subject, until=until)
                if batches:
                    rows = sorted({r[0]: r for r in [*rows, *batches] if cook_id is None or r[2] == cook_id}.values())
            for event in codec.from_rows(rows, lazy=lazy):
                if event.kind != itembatch.KIND or kind == itembatch.KIND:  # asked for by name: as the log holds it
                    yield event
                    continue
                for one in itembatch.expand(event, None if subject is None else (subject,)):
                    if (
                        one.seq > after
                        and (until is None or one.seq <= until)
                        and (subject is None or one.item_id == subject)
                    ):
                        yield one

    def first_seq_of(self, subject: str, *, cook_id: int | None = None, kind: str | None = None) -> int | None:
        """The seq of the first event about ``subject`` (of that cook, of that kind), its payload
        left unread; None when there is none (an item generated in a batch: its own seq in it)."""
        # through the subject index: "+" keeps SQLite from scanning the cook's index instead
        sql = "SELECT min(seq) FROM events WHERE subject = ?"
        args: list[object] = [subject]
        if cook_id is not None:
            sql, args = sql + " AND +cook_id = ?", [*args, cook_id]
        if kind is not None:
            sql, args = sql + " AND +kind = ?", [*args, kind]
        with self.read_errors():
            first = self.conn.execute(sql, args).fetchone()[0]
            if kind in (None, itembatch.ITEM_KIND):
                for row in itembatch.batches_with(self.conn, subject, until=first):
                    if cook_id is None or row[2] == cook_id:
                        seq = itembatch.item_seq(row, subject)
                        return seq if first is None else min(seq, first)
            return first

    def subjects_since(self, seq: int) -> list[tuple[str, str]]:
        """(kind, subject) of every event after ``seq``, payloads left undecoded: which items a
        cook touched, in O(its events) whatever the size of what it carried."""
        return [row[1:] for row in self.subjects_after(seq, -1)]

    def subjects_after(self, seq: int, limit: int) -> list[tuple[int, str, str]]:
        """(seq, kind, subject) of the first ``limit`` events after ``seq`` (all: -1), payloads left
        undecoded: which items changed since a reader last looked (the web view's recolouring). A
        batch of items counts as one and comes as its items' own (one more read, of its ids)."""
        with self.read_errors():
            sql = "SELECT seq, kind, subject FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
            rows = self.conn.execute(sql, (seq, limit)).fetchall()
            if not any(row[1] == itembatch.KIND for row in rows):
                return rows
            return list(itembatch.expand_subjects(rows, lambda at: itembatch.payload_of(self.conn, at)))

    def jobs_started(self, cook_id: int) -> list[str]:
        """The items whose job cook ``cook_id`` started (its ``JobStarted`` events, through the
        cooks' index): where a dead cook's jobs that may still run are, not among every job."""
        with self.read_errors():
            rows = self.conn.execute(
                "SELECT DISTINCT subject FROM events WHERE cook_id = ? AND kind = 'JobStarted'", (cook_id,)
            )
            return [row[0] for row in rows]

    def cook_spans(self) -> dict[int, tuple[int, int]]:
        """cook id -> (first seq, last seq) of its events still in the log (one pass over an index)."""
        with self.read_errors():
            rows = self.conn.execute(
                "SELECT cook_id, min(seq), max(seq) FROM events WHERE cook_id > 0 GROUP BY cook_id"
            )
            return {cook_id: (first, last) for cook_id, first, last in rows}

    def first_cook(self) -> int | None:
        """The id of the store's first cook still in its tables, or None before any."""
        with self.read_errors():
            return self.conn.execute("SELECT min(cook_id) FROM cooks").fetchone()[0]

    def cook_span(self, cook_id: int) -> tuple[int, int] | None:
        """(first seq, last seq) of one cook's events still in the log, or None."""
        # two queries: SQLite answers a lone min() or max() from the end of the cook's index
        # entries, but both in one query walk every entry (3,000,000 for a cold W(1,000,000))
        with self.read_errors():
            first = self.conn.execute("SELECT min(seq) FROM events WHERE cook_id = ?", (cook_id,)).fetchone()[0]
            if first is None:
                return None
            last = self.conn.execute("SELECT max(seq) FROM events WHERE cook_id = ?", (cook_id,)).fetchone()[0]
        return first, last

    def all_done(self, graph: str) -> bool:
        """Whether every item of ``graph`` is in a done state (the read model's counts say: no item
        is read). A cook of one node may leave items outside its scope dirty for the next cook."""
        with self.read_errors():
            return not self.conn.execute(
                "SELECT 1 FROM node_states WHERE graph = ? AND count > 0 AND state NOT IN (?, ?) LIMIT 1",
                (graph, *sorted(DONE_STATES)),
            ).fetchone()

    def item_count(self) -> int:
        """How many work items the store holds (the read model's counts: no item is read)."""
        with self.read_errors():
            return self.conn.execute("SELECT coalesce(sum(count), 0) FROM node_states").fetchone()[0]

    def last_seq(self) -> int:
        with self.read_errors():
            return self.conn.execute("SELECT max(seq) FROM events").fetchone()[0] or 0

    def snapshot(self, at: int | None = None) -> State | None:
        """The newest readable snapshot (at or before seq ``at`` when given), or None."""
        with self.read_errors():
            row = self.conn.execute(
                "SELECT state FROM snapshots WHERE v = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
                (SNAPSHOT_VERSION, at if at is not None else 1 << 62),
            ).fetchone()
        if row is None:
            return None
        with paused_gc(), self.read_errors():
            return State.from_plain(msgpack.unpackb(row[0], raw=False, strict_map_key=False))

    def has_snapshot(self, seq: int) -> bool:
        """Whether a readable snapshot (of this version) at exactly ``seq`` is stored."""
        with self.read_errors():
            sql = "SELECT 1 FROM snapshots WHERE seq = ? AND v = ?"
            return self.conn.execute(sql, (seq, SNAPSHOT_VERSION)).fetchone() is not None

    def snapshot_due(self, every: int, last_seq: int | None = None, *, weigh: bool = True) -> bool:
        """Whether a new snapshot should be written: ``every`` events followed the newest, or
        (``weigh``) the events after it weigh more than it does (then loading state from a fresh
        snapshot reads at most half as much). ``last_seq``: where the log ends, when the caller
        knows better than the file (a cook whose appender is still writing its last batch; the
        weight of that batch is then left out, which can only put a snapshot off by a cook).
        A cook does not weigh: it reads its state from the tables (``current_state``), so the
        events after the snapshot cost it nothing; only time travel far back starts from one.

        With no snapshot yet, the events of the store's first cook do not count (``first_cook``):
        a replay from zero folds them about as fast as a snapshot of their end would load (a cold
        W(100,000): 1.36-1.68 s against 1.04-1.05 s), while packing and writing that snapshot was
        up to a fifth of the cold cook's wall."""
        with self.read_errors():
            row = self.conn.execute(
                "SELECT seq, length(state) FROM snapshots WHERE v = ? ORDER BY seq DESC LIMIT 1", (SNAPSHOT_VERSION,)
            ).fetchone()
            if row is None:  # from the first cook's last event (the cook index's end for it)
                row = self.conn.execute(
                    "SELECT coalesce(max(seq), 0), 0 FROM events WHERE cook_id = (SELECT min(cook_id) FROM cooks)"
                ).fetchone()
            seq, size = row
            if (self.last_seq() if last_seq is None else last_seq) - seq >= every:
                return True
            if not weigh:
                return False
            tail = self.conn.execute(
                "SELECT coalesce(sum(length(payload)), 0) FROM events WHERE seq > ?", (seq,)
            ).fetchone()[0]
        return tail > size

    def base_seq(self) -> int:
        """Where the log's events begin: 0, or the seq up to which ``pdg compact`` folded the
        history into the base snapshot (the events up to it are gone)."""
        with self.read_errors():
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'base_seq'").fetchone()
        return int(row[0]) if row else 0

    def first_seq(self) -> int:
        """The first event's seq (0 when there are none)."""
        with self.read_errors():
            return self.conn.execute("SELECT min(seq) FROM events").fetchone()[0] or 0

    def snapshot_seq(self, at: int | None = None) -> int:
        """The seq of the newest readable snapshot (at or before seq ``at`` when given), or 0."""
        with self.read_errors():
            row = self.conn.execute(
                "SELECT max(seq) FROM snapshots WHERE v = ? AND seq <= ?",
                (SNAPSHOT_VERSION, at if at is not None else 1 << 62),
            ).fetchone()
        return row[0] or 0

    def current_state(self) -> State:
        """The current state, read from the projection tables (``tables.read_state``) in one read
        transaction: what ``load_state`` folds from the newest snapshot and the events after it
        (the tables are kept in the transaction of every event), without unpacking a snapshot
        beside the state it makes: one item at a time, streamed from the table. A cook starts here."""
        with self.read_errors(), self.one_reading():
            return tables.read_state(self.conn, self.last_seq())

    def state_without_items(self) -> State:
        """The store's graphs, cooks and registry (schedules, watches, transfers) now, without its
        items and jobs: what a long-lived service keeps between its writes (``engine.live.writer``)."""
        with self.read_errors(), self.one_reading():
            return tables.read_state(self.conn, self.last_seq(), items=False, jobs=False)

    def cook_state(self) -> State:
        """``current_state`` for a cook, the store's writer: its items are read from the tables as
        the cook uses them (``pdgstore.cookstate``), not all up front."""
        with self.read_errors(), self.one_reading():
            return read_cook_state(self, self.last_seq())

    def load_state(self) -> State:
        """The current state: the newest snapshot plus the events after it."""
        state = self.snapshot()
        return self._replay(state.seq if state else 0, state)

    def replay_all(self) -> State:
        """The current state from the whole log, ignoring every snapshot but the compaction base
        (slow, and the reference ``pdg check`` compares with)."""
        return self.state_at(None, from_base=True)

    def state_at(self, seq: int | None, *, from_base: bool = False) -> State:
        """The state as it was right after event ``seq`` (None: now): the nearest snapshot at or
        before it plus the events between (``from_base``: start from the compaction base instead)."""
        base = self.base_seq()
        if seq is not None and seq < base:
            raise HistoryCompacted(
                f"{self.display} no longer holds the history before seq {base + 1} (pdg compact folded it "
                f"into a snapshot); seq {seq} is before that"
            )
        start = self.snapshot(base if from_base else seq) if (base or not from_base) else None
        if base and (start is None or start.seq != base) and from_base:
            raise StoreRefused(f"{self.display} is corrupt: its compaction base snapshot at seq {base} is missing")
        return self._replay(start.seq if start else 0, start, seq)

    def _replay(self, after: int, state: State | None, until: int | None = None) -> State:
        sql = "SELECT seq, time_ns, cook_id, graph, kind, payload FROM events WHERE seq > ?"
        args: tuple = (after,)
        if until is not None:
            sql += " AND seq <= ?"
            args = (after, until)
        with self.read_errors():
            cursor = self.conn.execute(sql + " ORDER BY seq", args)
            state = replay_rows(cursor, state)
        if until is not None and state.seq < until:
            state.seq = until  # nothing happened between the last event and ``until``
        return state

    def replay(
        self,
        after: int = 0,
        until: int | None = None,
        *,
        types=None,
        report: Callable[[str, int, int], None] | None = None,
    ) -> Iterator[PdgEvent]:
        """The PDG events (``pdgstore.pdgevents``) that handlers saw, or would have seen, for the log's
        events after seq ``after`` up to ``until``: streamed, in order, one state in memory.
        ``report``: hears the reading of the state at ``after``, then the seq reached, per chunk."""
        if report is not None:
            report(f"reading the state at seq {after}", 0, 0)
        state = self.state_at(after)
        last = until if until is not None else self.last_seq()
        return replay_events(self.events(after, until=until), state, frozenset(types) if types else None, report, last)

    def integrity_problem(self) -> str | None:
        """SQLite's own quick check of the file, then its tables against the schema
        (``schema.schema_problem``): None when both are sound."""
        with self.read_errors():
            problem = sqlitefile.quick_check(self.conn)
            return problem or schema.schema_problem(self.conn)
