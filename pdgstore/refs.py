"""Points in the log (REF), as ``--at``, ``pdg diff``, ``pdg replay --from/--to`` and
``pdg compact --before`` take them.

A REF is one of:

- ``123``: the log right after event seq 123 (``0``: before the first event);
- ``cook:7``: the log when cook 7 finished (its last event);
- ``cook~N``: the same for the cook N cooks before the last one (``cook~0`` or ``last``: the last
  cook; ``cook~1``: the one before it);
- a time, ISO 8601 (``2026-11-30``, ``2026-11-30T14:05``, ``2026-11-30 14:05:09+01:00``; local time
  when no zone is given) or a span ago (``90s``, ``15m``, ``2h``, ``3d``, ``1w``): the log as it was
  at that moment (after the last event written before it);
- ``now``: the end of the log.

``resolve`` turns one into a ``Point``: the seq and a label that says what was asked for.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime

from pdgstore.errors import BadRef
from pdgstore.timetravel import TableState, state_at_seq

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_COOK_BACK = re.compile(r"^cook~(\d+)$")
_COOK = re.compile(r"^cook:(\d+)$")


@dataclass(frozen=True)
class Point:
    """A position in the log: the state right after event ``seq``."""

    ref: str
    seq: int
    cook_id: int | None = None
    time_ns: int | None = None

    def to_json(self) -> dict:
        return {"ref": self.ref, "seq": self.seq, "cook_id": self.cook_id, "time_ns": self.time_ns}


def resolve(log, ref: str) -> Point:
    """The point ``ref`` names in ``log`` (an ``EventLog``); ``BadRef`` when it cannot be found."""
    text = ref.strip()
    last = log.last_seq()
    if text == "now":
        return Point(ref, last)
    if text.isdigit():
        seq = int(text)
        if seq > last:
            raise BadRef(f"seq {seq} is past the end of {log.display} (its last event is seq {last})")
        return Point(ref, seq)
    if text == "last":
        text = "cook~0"
    match = _COOK.match(text)
    if match:
        return _cook_end(log, ref, int(match.group(1)))
    match = _COOK_BACK.match(text)
    if match:
        back = int(match.group(1))
        # the cooks table: every cook the store remembers, those whose events compaction folded away too
        with log.read_errors():
            row = log.conn.execute(
                "SELECT cook_id FROM cooks ORDER BY cook_id DESC LIMIT 1 OFFSET ?", (back,)
            ).fetchone()
            held = log.conn.execute("SELECT count(*) FROM cooks").fetchone()[0] if row is None else 0
        if row is None:
            raise BadRef(f"{ref}: {log.display} does not hold {back + 1} cooks (it holds {held})")
        return _cook_end(log, ref, row[0])
    when_ns = _time_ns(text)
    if when_ns is None:
        raise BadRef(
            f"cannot read {ref!r} as a point in the log: give a seq (123), a cook (cook:7), cook~N, "
            "a time (2026-11-30T14:05) or a span ago (2h)"
        )
    return Point(ref, seq_at_time(log, when_ns), time_ns=when_ns)


def resolve_range(log, first: tuple[str, str | None], second: tuple[str, str | None]) -> tuple:
    """(Point or None, Point or None): the two ends of a stretch of the log (``pdg diff REF1 REF2``,
    ``pdg replay --from/--to``, the web view's diff), each given as (what the user calls it, its
    REF or None); ``BadRef`` when the first comes after the second (a stretch read backwards
    describes nothing that happened)."""
    a, b = (resolve(log, ref) if ref is not None else None for _, ref in (first, second))
    if a is not None and b is not None and a.seq > b.seq:
        raise BadRef(
            f"{first[0]} {a.ref} (seq {a.seq}) is after {second[0]} {b.ref} (seq {b.seq}): give the earlier point first"
        )
    return a, b


def state_at(log, ref: str | None):
    """(state, point): the state at ``ref`` (``--at``), or the current state and None: read from
    the store's tables (``pdgstore.timetravel``), never by loading every item."""
    if ref is None:
        return TableState(log), None
    point = resolve(log, ref)
    if before_first_event(point):
        raise BadRef(held_nothing(log, point))
    return state_at_seq(log, point.seq), point


def before_first_event(point: Point) -> bool:
    """Whether ``point`` is a time before the log's first event (the store did not exist yet, or
    held nothing): there is no state then to show, nor history before it to fold. (``0`` as a seq
    is the documented "before the first event", asked for on purpose, and is not refused.)"""
    return point.time_ns is not None and point.seq == 0


def held_nothing(log, point: Point, store: str = "") -> str:
    """The one sentence for a time before the log's first event, as every command taking a REF
    says it: ``<store> held nothing yet at <time> (its first event is at <time>)``; ``store``
    names it (default: the log's name)."""
    row = log.conn.execute("SELECT time_ns FROM events ORDER BY seq LIMIT 1").fetchone()
    asked = point.time_ns or 0
    digits = _digits_apart(asked, row[0]) if row else 0
    first = f"its first event is at {_local(row[0], digits)}" if row else "it holds no event yet"
    return f"{store or log.display} held nothing yet at {_local(asked, digits)} ({first})"


def _digits_apart(a_ns: int, b_ns: int) -> int:
    """The fewest decimals of a second (0, 3, 6 or 9) that tell two different times apart."""
    return next((d for d in (0, 3, 6) if a_ns // 10 ** (9 - d) != b_ns // 10 ** (9 - d)), 9)


def _local(time_ns: int, digits: int = 0) -> str:
    whole = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time_ns // 1_000_000_000))
    return whole + (f".{time_ns % 1_000_000_000:09d}"[: digits + 1] if digits else "")


def _cook_end(log, ref: str, cook_id: int) -> Point:
    if cook_id < 1:
        raise BadRef(f"{ref}: there is no cook {cook_id} (cooks are numbered from 1)")
    span = log.cook_span(cook_id)
    if span is None:
        if cook_id <= _compacted_cooks(log):
            raise BadRef(f"{ref}: the events of cook {cook_id} were folded away by pdg compact")
        raise BadRef(f"{ref}: {log.display} has no cook {cook_id}")
    return Point(ref, span[1], cook_id=cook_id)


def _compacted_cooks(log) -> int:
    """The highest cook id whose events compaction may have removed (0 when none were)."""
    if not log.base_seq():
        return 0
    row = log.conn.execute("SELECT min(cook_id) FROM events WHERE cook_id > 0").fetchone()
    return (row[0] or 1 << 62) - 1


def _time_ns(text: str) -> int | None:
    match = _SPAN.match(text)
    if match:
        return time.time_ns() - int(float(match.group(1)) * _UNITS[match.group(2)] * 1e9)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return int(moment.timestamp() * 1e9)  # naive: local time, as the user's clock reads


def seq_at_time(log, when_ns: int) -> int:
    """The seq of the last event written at or before ``when_ns`` (0 when none was).

    Events are in time order (one writer, wall clock), so this is a binary search on seq that reads
    a handful of rows, not a scan of the log."""
    lo, hi = log.first_seq(), log.last_seq()
    if not hi:
        return 0
    probe = "SELECT seq, time_ns FROM events WHERE seq >= ? ORDER BY seq LIMIT 1"
    first = log.conn.execute(probe, (lo,)).fetchone()
    if first[1] > when_ns:
        base = log.base_seq()
        if base:
            raise BadRef(f"{log.display} no longer holds the history before seq {base + 1} (pdg compact folded it)")
        return 0
    best = first[0]
    while lo <= hi:
        mid = (lo + hi) // 2
        row = log.conn.execute(probe, (mid,)).fetchone()
        if row is None or row[0] > hi:
            hi = mid - 1
        elif row[1] <= when_ns:
            best = row[0]
            lo = row[0] + 1
        else:
            hi = mid - 1
    return best
