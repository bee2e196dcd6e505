"""The engine's one way to change anything: make an event, apply it, queue it for the log.

``Recorder.emit`` stamps an event with the next ``seq``, the time and the cook, encodes it (so a
later change to its lists cannot reach the log), applies it to the live state with the same
``apply`` that replay uses, and keeps it in the pending batch. ``flush`` appends the batch in one
transaction; only then may anyone outside (the terminal, a handler, a job) hear of those events,
so ``flush`` hands back the events it wrote for the caller to announce.

A recorder made with ``offload=True`` (a cook's) hands batches of ``logprocess.START_ROWS`` rows or
more to an appender process (``engine.cook.logprocess``) and goes on; it then knows a batch is written
when the appender confirms it. Events handed back by ``flush`` are always written already;
``confirmed`` is the mark of the last batch known to be written (what a progress bar may show);
``close`` waits for every batch and ends the appender.
"""

from __future__ import annotations

import time

from pdgstore.engine.cook.checkpointer import Checkpointer
from pdgstore.engine.cook.holding import Holding
from pdgstore.engine.cook.logprocess import START_ROWS, LogProcess

from pdgstore import codec, itembatch, patches
from pdgstore.cookstate import LazyItems
from pdgstore.errors import StoreIOError
from pdgstore.events import Event, WorkItemAttribSet, WorkItemGenerated, WorkItemRestatted, WorkItemsGenerated
from pdgstore.log import EventLog
from pdgstore.prepared import batch_rows, new_item_row, updated_row
from pdgstore.projection import APPLY
from pdgstore.repack import RowPacker
from pdgstore.snapshots import pack_from_tables
from pdgstore.state import State, holds_files
from pdgstore.tables import ROW_KINDS

#: pending rows beyond which a cook that has an appender hands them over at once, not at the loop's
#: next flush: generating a node (every item of W(100,000)'s first two nodes, before the loop's
#: first turn) held every row, and then the one request packing them all, at once; that was the
#: peak of a cold cook's memory (about 1 KB per work item). The events are still announced at flush.
HAND_OFF_ROWS = 8_192
#: the events that can give an item a file attribute (``Recorder.file_attrs_seen``)
FILE_ATTR_KINDS = frozenset(("WorkItemGenerated", "WorkItemAttribSet", "WorkItemCooked", "WorkItemRestatted"))


class Recorder:
    def __init__(
        self,
        log: EventLog | None,
        state: State,
        *,
        graph: str = "",
        keep_events: bool = False,
        offload: bool = False,
    ) -> None:
        #: None: the events change ``state`` and go nowhere (``pdg cook --dry-run`` plans on a copy)
        self.log = log
        self.state = state
        self.graph = graph
        self.cook_id = 0
        self.keep_events = keep_events
        self._rows: list[tuple] = []
        self._prepared: list[tuple] = []  # items rows of new items among ``_rows`` (``record_many``)
        #: items rows of the ``WorkItemsGenerated`` among ``_rows``, as columns (``record_batch``)
        self._batches: list[tuple] = []
        self._batch_items = 0  # how many rows they hold
        #: items whose attributes or outputs events among ``_rows`` changed (``tables.ROW_KINDS``): an
        #: in-process append writes their rows as they are now (``prepared.write_updated``)
        self._touched: set[str] = set()
        #: the touched items' rows packed again from their last packing (``repack``): a job's
        #: 500th attribute does not pack the 499 before it again
        self._packer = RowPacker(told=True)  # ``record`` tells it what each event changed
        self._events: list[tuple[Event, str | None, str]] = []
        self._seq = log.next_seq if log is not None else state.seq + 1
        self.offload = offload and log is not None
        self.log_process: LogProcess | None = None
        #: a cook's WAL checkpoints, off the loop thread while it appends in-process (``checkpointer``)
        self.checkpointer = Checkpointer(log.path) if self.offload and log is not None else None
        self._confirmed = None
        self._written_seq = self._seq - 1  # every event up to it is in the log (in-process appends)
        #: the items the cook may let go of once their events are written (``engine.cook.holding``)
        self.holding: Holding | None = None
        self._problem_told = False
        #: the nodes of whose items this recorder wrote an event (``CookFinished.nodes``); None once
        #: an item event named an item the state does not hold (its node unknown here)
        self.nodes: set[str] | None = set()
        #: whether an event it recorded gave an item a file attribute: a cold cook that saw none
        #: writes its no-op manifest without looking for them (``manifest.save``)
        self.file_attrs_seen = False

    @property
    def pending(self) -> int:
        """Rows waiting to be written: events, and the items rows of a batch's new items (one
        ``WorkItemsGenerated`` row stands for up to 10,000 of them: the appender is started and
        fed by what is to be written, not by the events' number)."""
        return len(self._rows) + len(self._prepared) + self._batch_items

    def emit(self, cls: type[Event], **fields) -> Event:
        return self.record(cls, fields)

    def record(self, cls: type[Event], fields: dict) -> Event:
        """``emit`` with the fields in a dict (as a decision hands them over: ``engine.incremental.decide``)."""
        event, row = codec.new_event(cls, self._seq, time.time_ns(), self.cook_id, self.graph, fields)
        self._seq += 1
        item_id = getattr(event, "item_id", None)
        items = self.state.items
        # (the dict's own lookup first: ``LazyItems.get`` is a Python call, for the items not in memory)
        item = (dict.get(items, item_id) or items.get(item_id)) if item_id else None
        if self.holding is not None:
            self.holding.touched(item_id, cls.kind, event.seq)
        if item is not None and cls.kind in patches.FIELDS and self.log is not None:
            row = self._compact(cls, event, item, row)
        if item_id and self.nodes is not None:
            node = item.node if item is not None else getattr(event, "node", "")  # (a new item's event names it)
            if node:
                self.nodes.add(node)
            else:
                self.nodes = None
        if not self.file_attrs_seen and cls.kind in FILE_ATTR_KINDS:
            attr = getattr(event, "attr", None)  # (WorkItemAttribSet's one attribute)
            self.file_attrs_seen = attr[0] == "file" if attr else holds_files(getattr(event, "attrs", None) or {})
        if item is not None:
            if cls.kind in ROW_KINDS:
                self._touched.add(item.item_id)
                if cls is WorkItemAttribSet:  # its fold sets this one attribute: the packer repacks it alone
                    self._packer.note(item.item_id, event.name)
            elif self._packer:
                self._packer.forget(item.item_id)
        self._rows.append(row)
        if len(self._rows) >= HAND_OFF_ROWS and self.offload:
            self._hand_off()
        if self.keep_events:
            if item is None:
                self._events.append((event, None, ""))
            else:
                self._events.append((event, item.state, item.node))
        APPLY[event.kind](self.state, event)
        self.state.seq = event.seq
        return event

    @staticmethod
    def _compact(cls: type[Event], event: Event, item, row: tuple) -> tuple:
        """``row`` with the event's long lists written as changes to ``item``'s (a partition's
        outputs, a gather's inputs: ``pdgstore.patches``); the event itself keeps them whole, for
        the fold and for whoever hears of it."""
        values = vars(event)
        patched = patches.compact(cls.kind, values, item)
        if not patched:
            return row
        written = {**values, **{name: [] for name in patched}, "patched": patched}
        return codec.row_of(cls, written)

    def record_many(self, cls: type[Event], many: list[dict]) -> None:
        """``record`` of many events of one kind in one pass, stamped with one time (a node's
        static items, ``engine.cook.bulk``): the same events, without a call and a clock read each."""
        if self.keep_events or not many:
            for fields in many:
                self.record(cls, fields)
            return
        apply, state, rows = APPLY[cls.kind], self.state, self._rows
        seq = self._seq
        made = codec.new_events(cls, seq, time.time_ns(), self.cook_id, self.graph, many)
        if not self.file_attrs_seen:
            self.file_attrs_seen = any(holds_files(fields.get("attrs") or {}) for fields in many)
        if self.nodes is not None:
            named = {fields.get("node") for fields in many}  # (WorkItemGenerated's name their node)
            self.nodes = None if None in named else self.nodes | named  # type: ignore[operator]
        # new items' table rows, made here from the state this fold just made (the appender then
        # writes them as they are: it need not decode and fold those events a second time)
        prepared = self._prepared if cls is WorkItemGenerated and self.log is not None else None
        items = state.items
        packer = self._packer if self._packer else None  # (it remembers no item while none has many attributes)
        holding = self.holding
        for event, row in made:
            if packer is not None:
                packer.forget(event.item_id)
            rows.append(row)
            if holding is not None:
                holding.touched(event.item_id, cls.kind, event.seq)
            is_new = prepared is not None and event.item_id not in items
            apply(state, event)
            if is_new and prepared is not None:
                prepared.append(new_item_row(row[0], items[event.item_id]))
        self._seq = seq + len(made)
        state.seq = self._seq - 1
        if len(rows) >= HAND_OFF_ROWS and self.offload:
            self._hand_off()

    def record_batch(self, node: str, item_state: str, columns: dict) -> None:
        """Record a node's new items as one ``WorkItemsGenerated`` (``pdgstore.itembatch``):
        ``columns`` holds its lists (ids, names, ...), an entry per item. The event takes the last
        seq of a range of one per item, as the ``WorkItemGenerated`` events it stands for would.
        A recorder that keeps events for handlers records those events instead."""
        ids = columns["ids"]
        if self.nodes is not None and ids:
            self.nodes.add(node)
        if not self.file_attrs_seen:
            self.file_attrs_seen = any(holds_files(attrs) for attrs in columns.get("attrs") or ())
        if self.keep_events:
            self.record_many(WorkItemGenerated, list(itembatch.item_values(node, item_state, columns)))
            return
        self._seq += len(ids)
        if self._packer:
            for item_id in ids:
                self._packer.forget(item_id)
        fields = {"node": node, "state": item_state, **columns}
        event, row = codec.new_event(
            WorkItemsGenerated, self._seq - 1, time.time_ns(), self.cook_id, self.graph, fields
        )
        self._rows.append(row)
        state, items = self.state, self.state.items
        new = self.log is not None and (
            items.holds_none(ids, (self.graph, node)) if isinstance(items, LazyItems) else items.keys().isdisjoint(ids)
        )
        APPLY[WorkItemsGenerated.kind](state, event)
        state.seq = event.seq
        if new:  # the items rows, made here from the columns (the appender writes them as they are)
            columns_rows = batch_rows(event.seq, self.graph, node, item_state, self.cook_id, columns)
            if columns_rows is not None:
                self._batches.append(columns_rows)
                self._batch_items += len(ids)
            else:
                first = event.seq - len(ids) + 1
                self._prepared += [new_item_row(first + i, items[item_id]) for i, item_id in enumerate(ids)]
        if self.pending >= HAND_OFF_ROWS and self.offload:
            self._hand_off()

    def restatted(self, refresh) -> None:
        """Record the items of ``refresh`` (``engine.incremental.restat``: their files were only
        touched) restatted, before a delta walk, so that the walk decides from their files as they
        are. Those the cook has not read are written now, their ``WorkItemRestatted`` rows made here
        and their items rows handed over with them (the appender folds them instead): the cook's
        state reads those rows later and finds them as they are now. Those it has read (the items the
        walk will decide) are recorded as any event."""
        if refresh is None or not refresh.items:
            return
        items, state = self.state.items, self.state
        todo = list(zip(refresh.items, refresh.rows, strict=True))
        refresh.items, refresh.rows = [], []
        held = dict.keys(items)  # (what ``LazyItems`` holds, without reading the rest)
        # (a recorder that keeps events for handlers records each as any event)
        read = [fresh for fresh, _ in todo if self.keep_events or fresh[0] in held]
        unread = [] if self.keep_events else [(fresh, row) for fresh, row in todo if fresh[0] not in held]
        if unread:
            self.flush()
            now, rows = time.time_ns(), []
            for (item_id, outputs), _ in unread:
                fields = {"item_id": item_id, "outputs": outputs}
                rows.append(codec.new_event(WorkItemRestatted, self._seq, now, self.cook_id, self.graph, fields)[1])
                self._seq += 1
            log, process = self.log, self.log_process
            assert log is not None, "a cook after touches has a store"
            if process is not None:  # (in requests of a hand-off's size: a million restats are 150 MB)
                for at in range(0, len(rows), HAND_OFF_ROWS):
                    process.append(rows[at : at + HAND_OFF_ROWS])
                process.wait()
            else:
                log.append_rows(rows, updated=[row for _, row in unread])
                self._written_seq = self._seq - 1
            log.next_seq = self._seq
            state.seq = self._seq - 1
        for item_id, outputs in read:
            self.record(WorkItemRestatted, {"item_id": item_id, "outputs": outputs})

    def expect(self, rows: int) -> None:
        """About ``rows`` rows are about to be made (a bulk node's items, before they are made):
        start the appender now if they would start it anyway, so that its interpreter starts while
        they are made and it is ready for the first of them."""
        if self.log_process is None and self.offload and self.log is not None and rows >= START_ROWS:
            self._start_appender(self.log)

    def _start_appender(self, log: EventLog) -> LogProcess:
        """The appender process for ``log``, started now; the checkpointer thread stops (the
        appender checkpoints by itself)."""
        self._stop_checkpointer()
        process = self.log_process = LogProcess(log)
        return process

    def _hand_off(self) -> None:
        """Queue the pending rows to the appender (started now if need be) without waiting:
        ``flush`` then announces their events once they are confirmed, as it would have."""
        assert self.log is not None, "only a recorder with a store offloads"
        process = self.log_process or self._start_appender(self.log)
        process.append(self._rows, None, self._prepared, self._batches)
        self.log.next_seq = self._seq
        self._rows, self._prepared, self._batches, self._batch_items = [], [], [], 0
        self._touched.clear()
        if self.holding is not None:  # a walk generating many items lets go as it goes, not at its end
            self.holding.release(process.written_seq)

    def flush(self, mark=None) -> list[tuple[Event, str | None, str]]:
        """Write the pending batch (or hand it to the appender); return its events, each with its
        item's state and node before it, once they are written. ``mark``: what ``confirmed``
        becomes once this batch (and every one before it) is in the log."""
        log = self.log
        if self._rows and log is None:
            self._rows, self._prepared, self._batches, self._batch_items = [], [], [], 0
        touched, self._touched = self._touched, set()
        process = self.log_process
        if self._rows and log is not None:
            if process is None and self.offload and self.pending >= START_ROWS:
                process = self._start_appender(log)
            if process is not None:
                process.append(self._rows, mark, self._prepared, self._batches)
            else:
                self._checkpoints(log)
                items = self.state.items
                updated = [updated_row(items[i], self._packer.detail) for i in touched if i in items]
                log.append_rows(self._rows, prepared=self._prepared, updated=updated, batches=self._batches)
                if self.checkpointer is not None:
                    self.checkpointer.committed(sum(len(row[6]) + len(row[5]) for row in self._rows))
                if mark is not None:
                    self._confirmed = mark
                self._written_seq = self._seq - 1
            log.next_seq = self._seq
            self._rows, self._prepared, self._batches, self._batch_items = [], [], [], 0
        elif mark is not None and process is not None and process.unconfirmed:
            process.append([], mark)  # the rows were handed off (``_hand_off``): the mark follows them
        elif mark is not None:
            self._confirmed = mark
        written, self._events = self._events, []
        if written and process is not None:
            process.wait()
        return written

    def _checkpoints(self, log: EventLog) -> None:
        """Before an in-process commit: checkpoints run on their thread; one that failed stops the
        cook here, as a failed commit does (never retried)."""
        checkpointer = self.checkpointer
        if checkpointer is None:
            return
        if checkpointer.problem:
            raise StoreIOError(
                f"writing to {log.display} failed: {checkpointer.problem}; the cook stops here (not retried)"
            )
        if not checkpointer.running:
            checkpointer.start(log.conn)

    def checkpoint_now(self) -> None:
        """The cook's last events are in (only its manifest follows): checkpoint them on the thread
        now, while the cook finishes, rather than in the store's close on the cook's thread."""
        if self.checkpointer is not None and self.checkpointer.running:
            self.checkpointer.checkpoint_now()

    def _stop_checkpointer(self) -> None:
        checkpointer, self.checkpointer = self.checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()

    def save_snapshot(self) -> None:
        """Store the state as the snapshot at its ``seq``, after every batch flushed before
        (through the appender when there is one: packed there, from the tables it keeps, so this
        process never holds its state twice). Events emitted and not yet flushed are flushed
        first: a snapshot never counts an event the log lacks."""
        if self._rows:
            self.flush()
        if self.log_process is not None:
            self.log_process.write_snapshot_from_tables(self.state.seq)
        else:
            assert self.log is not None, "a snapshot is saved to a store"
            # from the tables, as the appender does: the cook may have let go of items it is done with
            self.log.write_snapshot(self.state.seq, pack_from_tables(self.log.conn, self.state.seq))

    def save_manifest(self, graph: str, seq: int, blob) -> None:
        """Store ``graph``'s no-op manifest (``engine.incremental.manifest``), after every batch
        flushed before (and the pending one: a manifest never claims an event the log lacks)."""
        if self._rows:
            self.flush()
        if self.log_process is not None:
            self.log_process.save_manifest(graph, seq, blob)
        else:
            assert self.log is not None, "a manifest is saved to a store"
            self.log.save_manifest(graph, seq, blob)

    def take_problem(self) -> str:
        """Why the appender was given up (once; '' when it was not): the cook records it as a
        warning, since it then goes on appending by itself."""
        process = self.log_process
        if process is None or not process.problem or self._problem_told:
            return ""
        self._problem_told = True
        return process.problem

    @property
    def emitted_seq(self) -> int:
        """The seq of the last event recorded (written or not)."""
        return self._seq - 1

    @property
    def written_seq(self) -> int:
        """Every event up to this seq is in the log, and its items' rows are as those events left them."""
        return self.log_process.written_seq if self.log_process is not None else self._written_seq

    @property
    def confirmed(self):
        """The ``mark`` of the last batch known to be in the log (None before the first)."""
        return self.log_process.confirmed if self.log_process is not None else self._confirmed

    def wait(self) -> None:
        """Return once every batch handed to the appender is in the log."""
        if self.log_process is not None:
            self.log_process.wait()

    def close(self) -> None:
        """Wait for every batch, then end the appender; the recorder appends in-process again, with
        SQLite's own checkpoints."""
        self._stop_checkpointer()
        process, self.log_process = self.log_process, None
        if process is not None:
            try:
                process.close()
            finally:
                self._confirmed = process.confirmed
                self._written_seq = process.written_seq

    def abandon(self) -> None:
        """End the appender without waiting for confirmations (the cook is failing): it still
        commits the whole batches it was sent."""
        self._stop_checkpointer()
        process, self.log_process = self.log_process, None
        if process is not None:
            process.abandon()
