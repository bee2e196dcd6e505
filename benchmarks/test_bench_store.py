"""Issue 3: the event log's own speed: batched appends, full replay (``pdg check``) and
``pdg status`` on a store of W(10,000)."""

from __future__ import annotations

from conftest import ROUNDS, N, engine_median, pdg, report

from pdgstore import events as ev
from pdgstore.log import EventLog

APPEND_EVENTS = 100_000
APPEND_BATCH = 1_000


def _events(n: int) -> list[ev.Event]:
    """A cook's worth of work item events: generated, scheduled, cooking, cooked, per item."""
    out = []
    seq = 1
    for i in range(n // 4):
        item_id = f"{i:016x}"
        record = [f"out1/f{i:06d}.txt", "file/text", 61, 1_700_000_000_000_000_000 + i, f"{i * 7919:016x}"]
        for e in (
            ev.WorkItemGenerated(seq=seq, time_ns=seq, cook_id=1, graph="wide", item_id=item_id, node="upper",
                                 name=f"upper_{i + 1}", index=i, parents=[f"{i:015x}f"],
                                 inputs=[record], state="uncooked"),
            ev.WorkItemStateChanged(seq=seq + 1, time_ns=seq, cook_id=1, graph="wide", item_id=item_id,
                                    state="scheduled"),
            ev.WorkItemStateChanged(seq=seq + 2, time_ns=seq, cook_id=1, graph="wide", item_id=item_id,
                                    state="cooking"),
            ev.WorkItemCooked(seq=seq + 3, time_ns=seq, cook_id=1, graph="wide", item_id=item_id,
                              outputs=[record], started_ns=seq, duration_ns=1000, signature=f"{i:016x}"),
        ):
            out.append(e)
        seq += 4
    return out


def test_event_append(benchmark, tmp_path):
    """Events per second appended to a real store with ``EventLog.append`` (encoding included), in
    batches of 1,000 (one transaction each, as a cook flushes). Target: at least 100,000 events/s."""
    events = _events(APPEND_EVENTS)
    batches = [events[i:i + APPEND_BATCH] for i in range(0, len(events), APPEND_BATCH)]
    paths = iter(str(tmp_path / f"s{i}" / "pdg.db") for i in range(1000))
    logs = []

    def setup():
        log = EventLog.open(next(paths), writer=True, create=True)
        logs.append(log)
        return (log,), {}

    def append_all(log):
        for batch in batches:
            log.append(batch)

    benchmark.pedantic(append_all, setup=setup, rounds=ROUNDS + 2, iterations=1)
    for log in logs:
        assert log.last_seq() == len(events)
        log.close()
    rate = len(events) / engine_median(benchmark)
    report(benchmark, "event append (batches of 1,000)", rate, "events/s", target=">= 100,000 events/s",
           met=rate >= 100_000)


def test_replay_check(benchmark, cooked):
    """Replay speed of ``pdg check`` on a W(10,000) store (~50,000 events): the events per second of
    its full replay from zero, as the command reports it (``replay_events_per_s`` in its --json).
    The timed figure is the whole command. Target: at least 250,000 events/s."""
    rates = []

    def check():
        result = pdg("check", "--json", cwd=cooked)
        data = result.json()
        assert data["ok"]
        rates.append(data["replay_events_per_s"])
        return result

    benchmark.pedantic(check, rounds=ROUNDS + 2, iterations=1)
    rates.sort()
    rate = rates[len(rates) // 2]
    report(benchmark, f"replay (pdg check, {N}-item store)", rate, "events/s", target=">= 250,000 events/s",
           met=rate >= 250_000, command_s=round(engine_median(benchmark), 3))


def test_status(benchmark, cooked):
    """Wall time of ``pdg status --json`` (a fresh process) on a W(10,000) store: the snapshot plus
    the events after it, never a full replay. Target: under 0.3 s."""

    def status():
        result = pdg("status", "--json", cwd=cooked)
        assert sum(row["total"] for row in result.json()["nodes"]) == 2 * N + 2
        return result

    benchmark.pedantic(status, rounds=ROUNDS + 2, iterations=1)
    seconds = engine_median(benchmark)
    report(benchmark, f"pdg status ({N}-item store)", seconds, "s", target="< 0.3 s", met=seconds < 0.3)
