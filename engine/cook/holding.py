"""Which work items a cook lets go of: those done, handed on, and whose every event is written.

Why: a cold cook made every item of the graph and kept each to its end (at W(1,000,000), about
a gigabyte of ``Item`` objects, their lists and their files' records), though once an item cooked
and the walk generated what depends on it, nothing in the cook reads it again but a partition's
merge (which reads its members' rows: ``CookState.members``) and the end's manifest (which reads
the outputs of the items it does not hold from their rows: ``CookState.outputs_of``).

So when ``Settle`` has handed an item on, the item waits here until the log holds its events (the
appender confirmed the batch with its last one: ``Recorder.written_seq``); once the cook holds
more than ``HOLD_ITEMS`` items, its next flush or hand-off drops those from the state's items
(``LazyItems.let_go``). Asked for again, it is read back
from its row, which is what the cook would hold: the cook is the store's only writer, and every
event about that item is in the row. An event recorded about an item after it was handed on
(``touched``) holds it until that event is written too; an event that changes a whole node's
items (``NodeDirtied``) holds every waiting item until it is written.
"""

from __future__ import annotations

from collections import deque

from pdgstore.cookstate import LazyItems

#: events that change items other than their ``item_id``'s (every item of a node)
NODE_KINDS = frozenset({"NodeDirtied"})
#: items a cook holds before it lets go of any: below it, reading them back (a partition's merge,
#: the manifest) would cost a cook more than holding them does (about a kilobyte each)
HOLD_ITEMS = 50_000


class Holding:
    def __init__(self, items: LazyItems) -> None:
        self._items = items
        self._waiting: deque[tuple[int, str]] = deque()  # (seq, item id) in the order handed on
        self._last: dict[str, int] = {}  # item id -> the seq of its last event, while it waits
        self._barrier = 0  # nothing waiting is let go before the log holds this seq

    def done(self, item_id: str, seq: int) -> None:
        """``item_id`` was handed on; its last event so far has seq at most ``seq``."""
        if item_id in self._last:  # waiting already: its entry takes the later seq when it comes up
            self._last[item_id] = seq
            return
        self._last[item_id] = seq
        self._waiting.append((seq, item_id))

    def touched(self, item_id: str | None, kind: str, seq: int) -> None:
        """The recorder made event ``seq`` of ``kind`` about ``item_id`` (None: about no one item)."""
        if item_id is not None:
            if item_id in self._last:
                self._last[item_id] = seq
        elif kind in NODE_KINDS:
            self._barrier = seq

    def release(self, written_seq: int) -> None:
        """Let go of the items waiting whose events are all in the log (up to ``written_seq``)."""
        waiting, last = self._waiting, self._last
        if written_seq < self._barrier or not waiting or dict.__len__(self._items) <= HOLD_ITEMS:
            return
        gone = []
        while waiting and waiting[0][0] <= written_seq:
            _seq, item_id = waiting.popleft()
            newest = last.pop(item_id)
            if newest > written_seq:  # an event about it since: it waits for that one too
                last[item_id] = newest
                waiting.append((newest, item_id))
            else:
                gone.append(item_id)
        self._items.let_go(gone)
