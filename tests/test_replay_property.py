"""Replay equals the live engine (issue 3, section 2; issue 7), as a hypothesis property.

For random graphs (a DAG of range generators, python processors that fail for chosen indices,
wait-for-all and partition-by-attribute partitioners) and random sequences of cooks (the whole
graph or one target node), with cancels (an event handler cancels after k cooked items), failures
switched on and off between cooks, fewer items from one cook to the next (removals) and event
handlers that raise (cook warnings), after every cook:

    replay_all(log) == the live engine's state == load_state(log)  (the snapshot path)

and, at the end, for every cook: the state ``--at`` its end (``state_at``) equals the live state
recorded when it finished, and replaying its events into a handler (``EventLog.replay``) gives
exactly the sequence a handler registered on the graph saw live.

Each example runs in its own temporary directory (function-scoped fixtures do not reset between
hypothesis examples). Cooks use one worker and flush every loop turn (``tick_s=0``) so a cancel
lands after about k items and examples repeat as far as thread timing allows; the property holds
whatever the timing.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import pdgstore.engine as engine
from pdgstore.engine.cook.loop import Cook
from pdgstore import EventLog, patches, tables
from pdgstore.events import FINISHED_STATES
from pdgstore.state import first_difference

MAX_NODES = 6


# -- what an example is made of --------------------------------------------------------------------
@dataclass(frozen=True)
class NodeSpec:
    kind: str  # range, python, wait, partition
    name: str
    upstream: tuple = ()
    count: int = 0  # range: how many per parent
    fail: frozenset = frozenset()  # python: indices that fail while failures are on
    writes: bool = False  # python: reports an output file
    attribute: str = ""  # partition: what it groups by


@dataclass(frozen=True)
class Op:
    target: int | None  # index of the node to cook, None for the whole graph
    cancel_after: int | None  # the handler cancels after this many items cooked
    failing: bool  # python processors fail for their chosen indices
    shrink: bool  # range generators make one item fewer (items disappear)
    handler_raises: bool = False  # a node_generated handler raises (recorded as cook warnings)


@st.composite
def graph_specs(draw) -> list[NodeSpec]:
    n = draw(st.integers(1, MAX_NODES))
    specs: list[NodeSpec] = []
    fanout = 1  # a bound on items per node, to keep examples small
    for i in range(n):
        name = f"n{i}"
        if i == 0:
            kind = "range"
        else:
            kind = draw(st.sampled_from(["range", "python", "python", "python", "wait", "partition"]))
        if kind == "range":
            upstream = () if i == 0 else draw(st.sampled_from([(), *[(f"n{j}",) for j in range(i)]]))
            count = draw(st.integers(0 if i else 1, 3 if fanout < 9 else 1))
            fanout *= max(count, 1)
            specs.append(NodeSpec("range", name, upstream, count=count))
        elif kind == "python":
            ups = draw(st.lists(st.integers(0, i - 1), min_size=1, max_size=2, unique=True))
            specs.append(NodeSpec(
                "python", name, tuple(f"n{j}" for j in sorted(ups)),
                fail=draw(st.frozensets(st.integers(0, 2), max_size=2)), writes=draw(st.booleans()),
            ))
        elif kind == "wait":
            ups = draw(st.lists(st.integers(0, i - 1), min_size=1, max_size=2, unique=True))
            specs.append(NodeSpec("wait", name, tuple(f"n{j}" for j in sorted(ups))))
        else:
            up = draw(st.integers(0, i - 1))
            specs.append(NodeSpec("partition", name, (f"n{up}",), attribute=draw(st.sampled_from(["value", "bucket"]))))
    return specs


@st.composite
def examples(draw):
    specs = draw(graph_specs())
    ops = draw(st.lists(
        st.builds(
            Op,
            target=st.none() | st.integers(0, len(specs) - 1),
            cancel_after=st.none() | st.integers(0, 4),
            failing=st.booleans(),
            shrink=st.booleans(),
            handler_raises=st.booleans(),
        ),
        min_size=1, max_size=4,
    ))
    return specs, ops


# -- building and cooking ---------------------------------------------------------------------------
def make_processor(spec: NodeSpec, control: dict):
    name, fail, writes = spec.name, spec.fail, spec.writes

    def work(item):
        if control["failing"] and item.index in fail:
            raise RuntimeError(f"{name} fails on index {item.index}")
        item.set_attrib("bucket", item.index % 2)
        item.set_attrib(f"seen_{name}", [item.index, len(item.inputs)])
        if writes:
            os.makedirs("out", exist_ok=True)
            path = f"out/{name}_{item.id}.txt"
            with open(path, "w") as f:
                f.write(f"{item.index} {sorted(r[0] for r in item.inputs)}\n")
            item.add_output_file(path)

    return work


def seen(event) -> tuple:
    """What a handler can tell of an event, but the live cook object (None in a replay)."""
    return (event.type, event.node, event.work_item_id, event.last_state, event.current_state, event.message,
            event.seq, event.cook_id, event.graph, event.data)


def build(specs: list[NodeSpec], op: Op, root: str, control: dict) -> engine.Graph:
    graph = engine.Graph("prop", root=root)
    graph.on("*", lambda event: control["seen"].append(seen(event)))
    for spec in specs:
        if spec.kind == "range":
            count = max(0, spec.count - 1) if op.shrink else spec.count
            graph.range_generate(spec.name, count, upstream=list(spec.upstream) or None, start=spec.count, step=2)
        elif spec.kind == "python":
            graph.python_processor(spec.name, upstream=list(spec.upstream), func=make_processor(spec, control))
        elif spec.kind == "wait":
            graph.wait_for_all(spec.name, list(spec.upstream))
        else:
            graph.partition_by_attribute(spec.name, list(spec.upstream), spec.attribute)
    if op.cancel_after is not None:
        cooked = []

        def cancel_after_k(event):
            if event.current_state in FINISHED_STATES:  # born cooked (added) or cooked
                cooked.append(event.work_item_id)
                if len(cooked) >= op.cancel_after:
                    event.cook.cancel(f"cancelled after {op.cancel_after} items")

        graph.on("work_item_state_change", cancel_after_k)
        graph.on("work_item_add", cancel_after_k)
    if op.handler_raises:
        def raising_handler(event):
            raise ValueError(f"handler fails on {event.node}")

        graph.on("node_generated", raising_handler)
    graph.validate()
    return graph


def _patched(db: str, cook_id: int) -> bool:
    with EventLog.open(db) as log:
        return any(getattr(e, "patched", None) for e in log.events(cook_id=cook_id))


def _removed(db: str, cook_id: int) -> list:
    with EventLog.open(db) as log:
        return list(log.events(cook_id=cook_id, kind="WorkItemRemoved"))


def check_replay(db: str, live: dict, what: str) -> None:
    with EventLog.open(db) as log:
        replayed = log.replay_all().to_plain()
        loaded = log.load_state().to_plain()
        queryable = tables.read_state(log.conn, log.last_seq()).to_plain()
    diff = first_difference(queryable, live)
    assert diff is None, f"after {what}: the projection tables != live state: {diff}"
    diff = first_difference(replayed, live)
    assert diff is None, f"after {what}: replay_all != live state: {diff}"
    diff = first_difference(loaded, live)
    assert diff is None, f"after {what}: load_state (snapshot) != live state: {diff}"
    assert replayed == live and loaded == live


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(examples())
def test_replay_equals_live_state(example):
    """(Lists of two entries or more are written as patches here, ``pdgstore.patches``: the fold,
    the tables, ``--at`` and the replayed handler events must see them whole.)"""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(patches, "PATCH_FROM", 2)
        _replay_equals_live_state(example)


def _replay_equals_live_state(example):
    specs, ops = example
    control = {"failing": False}
    lives, handled = {}, {}
    with tempfile.TemporaryDirectory() as root:
        db = os.path.join(root, ".pdg", "pdg.db")
        for number, op in enumerate(ops, start=1):
            control["failing"] = op.failing
            control["seen"] = handled[number] = []
            graph = build(specs, op, root, control)
            target = specs[op.target].name if op.target is not None else None
            with EventLog.open(db, writer=True, create=True) as log:
                cook = Cook(log, graph, node=target, jobs=1, tick_s=0)
                summary = cook.run()
                live_state = cook.state
                live = live_state.to_plain()
            what = f"cook {number} ({op}, status {summary.status})"
            event(f"cook status {summary.status}")
            event(f"cancelled items: {'some' if summary.counts['cancelled'] else 'none'}")
            event(f"removed items: {'some' if any(e for e in _removed(db, number)) else 'none'}")
            event(f"lists written as patches: {'some' if _patched(db, number) else 'none'}")
            check_replay(db, live, what)
            lives[number] = live
            # a finished cook leaves nothing scheduled or cooking, and its record is closed
            assert summary.cook_id == number
            assert live_state.cooks[number].status == summary.status != "running", what
            stuck = [i.name for i in live_state.items.values() if i.state in ("scheduled", "cooking")]
            assert not stuck, f"after {what}: items left in flight: {stuck}"
            if summary.status == "cancelled":
                unfinished = [i.name for i in live_state.items.values()
                              if i.cook_id == number and i.state in ("uncooked", "waiting")]
                assert not unfinished, f"after {what}: not recorded as cancelled: {unfinished}"
            if not op.failing and op.cancel_after is None:
                assert summary.status == "success", f"{what}: {summary.message}"
            if op.handler_raises:
                assert live_state.cooks[number].warnings == len(summary.warnings) > 0, what
        with EventLog.open(db) as log:
            spans = log.cook_spans()
            for number, live in lives.items():
                first, last = spans[number]
                diff = first_difference(log.state_at(last).to_plain(), live)
                assert diff is None, f"state --at the end of cook {number} != its live state: {diff}"
                replayed = [seen(e) for e in log.replay(first - 1, last)]
                assert replayed == handled[number], f"cook {number}: replayed handler events differ from live"


def test_tuple_valued_node_parameters_replay_equal_live(tmp_path):
    """Tuples are valid arrays in a node's definition (range values, processor parms): the live
    state must hold them as the log gives them back, or replay and live differ."""
    graph = engine.Graph("tuples", root=str(tmp_path))
    seed = graph.range_generate("seed", values=[(1, 2), (3, 4)], attribute="pair")
    graph.python_processor("p", upstream=seed, func=lambda item: None, parms={"size": (640, 480)})
    db = str(tmp_path / ".pdg" / "pdg.db")
    with EventLog.open(db, writer=True, create=True) as log:
        cook = Cook(log, graph, jobs=1)
        assert cook.run().status == "success"
        live = cook.state.to_plain()
    check_replay(db, live, "a cook with tuple parameters")
