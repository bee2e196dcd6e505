"""The event codec: every kind round-trips, old payload bytes still decode, and today's bytes are stable.

Golden fixtures: ``tests/data/events/<Kind>.v<N>.msgpack`` holds the payload bytes of ``SAMPLES[kind]``
as payload version N wrote them. Decoding them must give the sample (through the upcasters for old
versions), and encoding the sample today must give the newest fixture byte for byte, so a payload
change that forgot to bump ``v`` fails here. When a payload changes: bump the class's version, add
the upcaster, and commit a new ``<Kind>.v<N+1>.msgpack`` beside the old one (never edit an old one).
"""

from __future__ import annotations

from pathlib import Path

import msgpack
import pytest

from pdgstore import codec
from pdgstore import events as ev
from pdgstore.errors import StoreRefused

DATA = Path(__file__).resolve().parent / "data" / "events"

ENVELOPE = dict(seq=41, time_ns=1_700_000_000_123_456_789, cook_id=7, graph="wordcount")
FILE = ["out1/f0001.txt", "file/text", 1234, 1_700_000_000_000_000_001, "9f86d081884c7d65"]
ATTRS = {
    "words": ["int", [12, -3, 2**40]],
    "ratio": ["float", [0.5, -1.25]],
    "label": ["string", ["héllo", "日本"]],
    "src": ["file", [["in/a.txt", "file/text"]]],
    "meta": ["dict", [{"k": "v", "n": 1, "ok": True}]],
}

#: kind -> an event of that kind whose every payload field differs from its default
SAMPLES: dict[str, ev.Event] = {
    "GraphLoaded": ev.GraphLoaded(
        **ENVELOPE, path="graphs/wordcount.py", root="..",
        nodes=[{"name": "texts", "type": "file_pattern", "inputs": [], "parms": {"pattern": "texts/*.txt"}},
               {"name": "count", "type": "python_processor", "inputs": ["texts"], "parms": {}}],
        parms={"min_length": 3, "scale": 1.5, "title": "Words", "verbose": False},
        working_dirs=["/scratch/wordcount"],
    ),
    "CookStarted": ev.CookStarted(**ENVELOPE, node="count", jobs=8, pid=4242, overrides={"min_length": "5"}),
    "CookStaticPlanned": ev.CookStaticPlanned(**ENVELOPE, items=11, dependencies=10, ready=3,
                                              dynamic_nodes=["by_value", "after"]),
    "CookFinished": ev.CookFinished(
        **ENVELOPE, status="failed", message="2 items failed",
        counts={"ran": 40, "reused": 2, "failed": 2, "cancelled": 0}, consistent=True, nodes=["count", "report"],
    ),
    "CookWarning": ev.CookWarning(**ENVELOPE, about="count", message="handler on_done raised ValueError: boom"),
    "NodeDirtied": ev.NodeDirtied(**ENVELOPE, node="count", reason="cook 7 regenerates it"),
    "NodeGenerated": ev.NodeGenerated(**ENVELOPE, node="count", count=20),
    "NodeCooked": ev.NodeCooked(**ENVELOPE, node="count", failed=2),
    "WorkItemGenerated": ev.WorkItemGenerated(
        **ENVELOPE, item_id="a1b2c3d4e5f60718", node="count", name="count_3", index=3,
        parents=["0011223344556677"], attrs=ATTRS, inputs=[FILE], outputs=[FILE, FILE], state="cooked_success",
        signature="7d793037a0760186", patched={"inputs": [[3, 4, [FILE]]], "parents": [[0, 0, ["8899aabbccddeeff"]]]},
    ),
    "WorkItemsGenerated": ev.WorkItemsGenerated(
        **ENVELOPE, node="count", state="cooked_success", ids=["a1b2c3d4e5f60718", "b1b2c3d4e5f60718"],
        names=["count_1", "count_2"], indexes=[0, 1], parents=[["0011223344556677"], ["8899aabbccddeeff"]],
        attrs=[ATTRS, {"words": ["int", [3]]}], inputs=[[FILE], []], outputs=[[FILE, FILE], [FILE]],
        signatures=["7d793037a0760186", "5d41402abc4b2a76"],
    ),
    "WorkItemStateChanged": ev.WorkItemStateChanged(
        **ENVELOPE, item_id="a1b2c3d4e5f60718", state="cooked_cancel", message="interrupted (Ctrl-C)",
    ),
    "WorkItemCooked": ev.WorkItemCooked(
        **ENVELOPE, item_id="a1b2c3d4e5f60718", state="cooked_fail", attrs={"words": ["int", [12]]},
        outputs=[FILE], started_ns=1_700_000_000_100_000_000, duration_ns=2_500_000,
        error="ZeroDivisionError: division by zero",
        traceback='Traceback (most recent call last):\n  File "g.py", line 9\nZeroDivisionError: division by zero\n',
        signature="5d41402abc4b2a76", reason={"cache_mode": "always_read", "files": ["out1/f0001.txt"]},
        patched={"outputs": [[7, 8, [FILE]], [9, 12, []]]},
    ),
    "WorkItemRemoved": ev.WorkItemRemoved(
        **ENVELOPE, item_id="a1b2c3d4e5f60718", reason="regeneration of texts did not produce it",
    ),
    "WorkItemDirtied": ev.WorkItemDirtied(
        **ENVELOPE, item_id="a1b2c3d4e5f60718",
        reason={"cache_state": "dirty_stale", "cause": "input", "path": "in/a.txt", "old_size": 54, "new_size": 61,
                "old_hash": "1a2b3c4d5e6f7081", "new_hash": "92a3b4c5d6e7f809", "from_item": "0011223344556677"},
    ),
    "WorkItemRestatted": ev.WorkItemRestatted(
        **ENVELOPE, item_id="a1b2c3d4e5f60718", outputs=[FILE], attrs={"cfg": ["file", [FILE]]},
    ),
    "WorkItemRenumbered": ev.WorkItemRenumbered(**ENVELOPE, item_id="a1b2c3d4e5f60718", name="count_4", index=4),
    "WorkItemAccepted": ev.WorkItemAccepted(
        **ENVELOPE, item_id="a1b2c3d4e5f60718", outputs=[FILE], message="accepted by hand (pdg accept)",
    ),
    "FileTransferred": ev.FileTransferred(**ENVELOPE, path="in/a.txt", scheduler="local", cache_id=1_700_000_000),
    "LogCompacted": ev.LogCompacted(**ENVELOPE, cut=120_000, events=119_990, bytes_before=52_428_800),
    "CookTriggered": ev.CookTriggered(
        **ENVELOPE, by="watch", files=["in/a.txt", "in/b.txt"], count=3, watch=12, schedule="4",
        message="3 changed files",
    ),
    "WatchStarted": ev.WatchStarted(**ENVELOPE, path="/p/wordcount.py", node="count", mode="poll", poll_s=2.5,
                                    pid=4242),
    "WatchStopped": ev.WatchStopped(**ENVELOPE, watch=12, cooks=5, message="interrupted (Ctrl-C)"),
    "WatchModeChanged": ev.WatchModeChanged(**ENVELOPE, watch=12, mode="native", poll_s=1.0,
                                            message="inotify watch limit reached: polling every 1 s instead"),
    "ScheduleAdded": ev.ScheduleAdded(**ENVELOPE, schedule="4", path="/p/wordcount.py", node="count",
                                      cron="0 2 * * *", every_s=900.0, overrides={"min_length": "5"}),
    "ScheduleChanged": ev.ScheduleChanged(**ENVELOPE, schedule="4", cron="*/5 * * * *", every_s=60.0),
    "ScheduleRemoved": ev.ScheduleRemoved(**ENVELOPE, schedule="4"),
    "ScheduleFired": ev.ScheduleFired(**ENVELOPE, schedule="4", due_ns=1_700_000_000_000_000_000, late_s=0.25,
                                      missed=2),
    "ScheduleMissed": ev.ScheduleMissed(**ENVELOPE, schedule="4", count=3, first_ns=1_700_000_000_000_000_000,
                                        last_ns=1_700_000_900_000_000_000, message="run once now"),
    "ScheduleSkipped": ev.ScheduleSkipped(**ENVELOPE, schedule="4", due_ns=1_700_000_000_000_000_000,
                                          message="the store stayed busy"),
    "JobStarted": ev.JobStarted(
        **ENVELOPE, item_id="a1b2c3d4e5f60718", scheduler="local", attempt=2, pid=4242,
        log_uri="file:///p/.pdg/logs/render_3.log",
    ),
    "JobEnded": ev.JobEnded(**ENVELOPE, item_id="a1b2c3d4e5f60718", exit_code=-9, outcome="retry",
                            message="killed after its timeout of 2.0 s"),
    "WorkItemAttribSet": ev.WorkItemAttribSet(**ENVELOPE, item_id="a1b2c3d4e5f60718", name="words",
                                              attr=["int", [12, -3]]),
    "WorkItemOutputAdded": ev.WorkItemOutputAdded(**ENVELOPE, item_id="a1b2c3d4e5f60718", outputs=[FILE]),
    "WorkItemLogged": ev.WorkItemLogged(**ENVELOPE, item_id="a1b2c3d4e5f60718", level="warning",
                                        text="frame 3 took the slow path"),
}

#: the values the upcasters give fields a kind gained after v1 (kind -> {field: value})
UPCAST_DEFAULTS = {
    "GraphLoaded": {"working_dirs": []},
    "CookFinished": {"consistent": False, "nodes": None},
    "WorkItemGenerated": {"signature": "", "patched": {}},
    "WorkItemCooked": {"signature": "", "reason": {}, "patched": {}},
    "WorkItemRestatted": {"attrs": {}},
}
#: (kind, v) of an intermediate version -> the values the upcasters give fields added after v
UPCAST_LATER = {
    ("CookFinished", 2): {"nodes": None},
    ("WorkItemGenerated", 2): {"patched": {}},
    ("WorkItemCooked", 2): {"patched": {}},
}


def golden_path(kind: str, version: int) -> Path:
    return DATA / f"{kind}.v{version}.msgpack"


def row_of(kind: str, payload: bytes) -> tuple:
    sample = SAMPLES[kind]
    return (sample.seq, sample.time_ns, sample.cook_id, sample.graph, kind, sample.subject, payload)


KINDS = sorted(ev.REGISTRY)


def test_every_kind_has_a_sample_and_golden_bytes():
    """A new event kind must come with a sample here and a committed fixture in tests/data/events/."""
    assert sorted(SAMPLES) == KINDS
    missing = [
        golden_path(kind, v).name
        for kind, cls in ev.REGISTRY.items()
        for v in range(1, cls.version + 1)
        if not golden_path(kind, v).is_file()
    ]
    assert not missing, f"golden fixtures missing from {DATA}: {missing}"


@pytest.mark.parametrize("kind", KINDS)
def test_samples_set_every_payload_field(kind):
    """A fixture only guards the fields whose value it carries: each sample sets them all."""
    sample = SAMPLES[kind]
    assert type(sample) is ev.REGISTRY[kind]
    defaults = type(sample)()
    same = [name for name in sample.payload_fields if getattr(sample, name) == getattr(defaults, name)]
    assert not same, f"{kind} sample leaves {same} at their defaults"


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip(kind):
    sample = SAMPLES[kind]
    row = codec.to_row(sample)
    assert row[:6] == (sample.seq, sample.time_ns, sample.cook_id, sample.graph, kind, sample.subject)
    assert isinstance(row[6], bytes)
    back = codec.from_row(row)
    assert type(back) is type(sample)
    assert back == sample
    assert vars(back) == vars(sample)


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_of_defaults(kind):
    event = ev.REGISTRY[kind](seq=1)
    assert codec.from_row(codec.to_row(event)) == event


@pytest.mark.parametrize("kind", KINDS)
def test_payload_carries_its_version(kind):
    payload = msgpack.unpackb(codec.to_row(SAMPLES[kind])[6], raw=False)
    assert payload["v"] == ev.REGISTRY[kind].version
    assert set(payload) == {"v", *ev.REGISTRY[kind].payload_fields}


@pytest.mark.parametrize("kind", KINDS)
def test_golden_v1_decodes_to_the_sample(kind):
    """The first bytes ever written for a kind still decode: the fields they carry as the sample's,
    the fields added since as their upcasters say."""
    golden = golden_path(kind, 1).read_bytes()
    added = UPCAST_DEFAULTS.get(kind, {})
    v1_fields = {k: v for k, v in SAMPLES[kind].payload().items() if k not in added}
    # the bytes themselves, read without our codec: a msgpack map of the fields plus "v": 1
    assert msgpack.unpackb(golden, raw=False) == {"v": 1, **v1_fields}
    event = codec.from_row(row_of(kind, golden))
    sample = SAMPLES[kind]
    assert event == type(sample)(**{**vars(sample), **added})
    for name in ev.REGISTRY[kind].payload_fields:
        assert getattr(event, name) == added.get(name, getattr(SAMPLES[kind], name)), name


@pytest.mark.parametrize("kind, version", sorted(UPCAST_LATER))
def test_golden_intermediate_versions_decode_to_the_sample(kind, version):
    """Bytes of a version between the first and today's decode to the sample, with the fields
    added since as their upcasters say."""
    golden = golden_path(kind, version).read_bytes()
    added = UPCAST_LATER[(kind, version)]
    fields = {k: v for k, v in SAMPLES[kind].payload().items() if k not in added}
    assert msgpack.unpackb(golden, raw=False) == {"v": version, **fields}
    event = codec.from_row(row_of(kind, golden))
    assert event == type(SAMPLES[kind])(**{**vars(SAMPLES[kind]), **added})


def test_every_intermediate_version_is_checked():
    expected = {(kind, v) for kind, cls in ev.REGISTRY.items() for v in range(2, cls.version)}
    assert expected == set(UPCAST_LATER)


@pytest.mark.parametrize("kind", KINDS)
def test_encoding_today_gives_the_golden_bytes(kind):
    """An unnoticed payload change (a field added, renamed, reordered or re-typed) fails here: bump
    the kind's ``v``, add its upcaster and a new fixture instead."""
    version = ev.REGISTRY[kind].version
    golden = golden_path(kind, version).read_bytes()
    assert codec.encode_payload(SAMPLES[kind]) == golden
    assert codec.to_row(SAMPLES[kind]) == row_of(kind, golden)


def test_a_payload_missing_a_field_gets_its_default():
    blob = msgpack.packb({"v": 1, "item_id": "abc", "state": "cooked_success"}, use_bin_type=True)
    event = codec.from_row((3, 1, 1, "g", "WorkItemStateChanged", "abc", blob))
    assert event == ev.WorkItemStateChanged(seq=3, time_ns=1, cook_id=1, graph="g", item_id="abc",
                                            state="cooked_success", message="")


def test_unknown_kind_is_refused():
    blob = msgpack.packb({"v": 1, "x": 1}, use_bin_type=True)
    with pytest.raises(StoreRefused, match="NoSuchKindYet"):
        codec.from_row((1, 1, 1, "g", "NoSuchKindYet", "s", blob))


@pytest.mark.parametrize("kind", KINDS)
def test_newer_payload_version_is_refused(kind):
    cls = ev.REGISTRY[kind]
    payload = msgpack.unpackb(codec.encode_payload(SAMPLES[kind]), raw=False)
    payload["v"] = cls.version + 1
    row = row_of(kind, msgpack.packb(payload, use_bin_type=True))
    with pytest.raises(StoreRefused) as err:
        codec.from_row(row)
    assert kind in str(err.value)
    assert str(cls.version + 1) in str(err.value)


def test_duplicate_kind_is_refused_and_registry_untouched():
    before = dict(ev.REGISTRY)
    try:
        with pytest.raises(TypeError, match="CookStarted"):

            @ev.register("CookStarted", subject="graph")
            @ev.record
            class Impostor(ev.Event):
                node: str = ""

        assert ev.REGISTRY == before
        assert ev.REGISTRY["CookStarted"] is ev.CookStarted
        assert ev.CookStarted.kind == "CookStarted"
    finally:
        ev.REGISTRY.clear()
        ev.REGISTRY.update(before)


@pytest.mark.parametrize("kind", KINDS)
def test_new_event_makes_the_event_and_row_the_two_steps_make(kind):
    """``codec.new_event`` (the recorder's one-pass path) gives what constructing the event and
    ``to_row`` give, for the sample and for the kind's defaults (fresh lists and dicts each time)."""
    sample = SAMPLES[kind]
    cls = type(sample)
    fields = {name: getattr(sample, name) for name in cls.field_names if name not in ("seq", "time_ns")}
    made, row = codec.new_event(cls, sample.seq, sample.time_ns, 99, "other", fields)
    assert made == sample and row == codec.to_row(sample)
    bare, bare_row = codec.new_event(cls, 1, 2, 3, "g", {})
    assert bare == cls(seq=1, time_ns=2, cook_id=3, graph="g") and bare_row == codec.to_row(bare)
    again, _ = codec.new_event(cls, 1, 2, 3, "g", {})
    for name, _factory in cls._factories:
        assert getattr(again, name) is not getattr(bare, name)


def test_new_event_refuses_an_unknown_field():
    with pytest.raises(TypeError, match="has no field 'nope'"):
        codec.new_event(ev.WorkItemStateChanged, 1, 2, 3, "g", {"item_id": "a", "nope": 1})
