"""Transfer handlers and the cache-id contract of seed 003, on real files and a real store."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from pdgstore.engine.files import records as files
from pdgstore.engine.errors import HandlerError
from pdgstore.engine.files.filetypes import TransferPair, TypeRegistry
from pdgstore.engine.cook.recorder import Recorder
from pdgstore.engine.files.transfer import Transfers
from pdgstore.engine.graph.workitem import WorkItem
from pdgstore.log import EventLog


@dataclass
class FarmScheduler:
    """What a transfer needs of a scheduler: its name and its working directory."""

    name: str
    working_dir: str


@pytest.fixture
def setup(tmp_path):
    root = tmp_path / "project"
    (root / "in").mkdir(parents=True)
    (root / "in/a.txt").write_text("alpha\n")
    (root / "in/b.png").write_bytes(b"\x89PNG fake")
    db = str(tmp_path / "store.db")

    def make(types: TypeRegistry):
        log = EventLog.open(db, writer=True, create=True)
        state = log.load_state()
        recorder = Recorder(log, state, graph="g")
        transfers = Transfers(types, state, recorder, str(root))
        inputs = [files.record("in/a.txt", str(root), types=types), files.record("in/b.png", str(root), types=types)]
        item = WorkItem(item_id="i1", name="render_1", index=0, node="render", attrs={}, inputs=inputs, outputs=[],
                        root=str(root), read_only=True)
        return log, state, recorder, transfers, item

    return root, db, make


def test_default_copy_uses_and_records_the_cache_id(setup, tmp_path):
    root, db, make = setup
    farm = FarmScheduler("farm", str(tmp_path / "scratch"))
    log, state, recorder, transfers, item = make(TypeRegistry())
    done = transfers.transfer_inputs(item, farm)
    recorder.flush()
    assert [(t.path, t.status, t.handler) for t in done] == [("in/a.txt", "success", "built-in copy"),
                                                              ("in/b.png", "success", "built-in copy")]
    assert (tmp_path / "scratch/in/a.txt").read_text() == "alpha\n"
    mtime = os.stat(root / "in/a.txt").st_mtime_ns
    assert state.transfers["farm"]["in/a.txt"] == mtime
    log.close()
    # a new process (a later cook) finds the ids in the log: the copies are current, nothing moves
    log, state, recorder, transfers, item = make(TypeRegistry())
    assert state.transfers == log.replay_all().transfers
    assert [t.status for t in transfers.transfer_inputs(item, farm)] == ["cached", "cached"]
    # a changed file is copied again with its new id
    (root / "in/a.txt").write_text("alpha, changed\n")
    st = os.stat(root / "in/a.txt")
    os.utime(root / "in/a.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert transfers.transfer(item.inputs[0], item, farm).status == "success"
    assert (tmp_path / "scratch/in/a.txt").read_text() == "alpha, changed\n"
    log.close()


def test_no_transfer_when_the_working_dir_is_the_project(setup):
    root, db, make = setup
    log, state, recorder, transfers, item = make(TypeRegistry())
    assert transfers.transfer_inputs(item, FarmScheduler("local", str(root))) == []
    log.close()


def test_handlers_by_tag_most_specific_first_with_cache_ids(setup, tmp_path):
    root, db, make = setup
    calls = []

    def images(src, dst, file, work_item, scheduler, cache_id):
        calls.append(("images", file.path, cache_id, work_item.name, scheduler.name))
        if cache_id == 7:
            return TransferPair.cached()
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(src, "rb") as f, open(dst, "wb") as g:
            g.write(f.read())
        return TransferPair.success(7)

    def everything_else(src, dst, file, work_item, scheduler, cache_id):
        calls.append(("skip", file.path, cache_id, work_item.name, scheduler.name))
        return TransferPair.skip()

    types = TypeRegistry()
    types.register_transfer_handler("file", everything_else)
    types.register_transfer_handler("file/image", images)
    farm = FarmScheduler("farm", str(tmp_path / "scratch"))
    log, state, recorder, transfers, item = make(types)
    done = {t.path: (t.status, t.handler) for t in transfers.transfer_inputs(item, farm)}
    assert done["in/b.png"][0] == "success" and done["in/b.png"][1].endswith("images")
    assert done["in/a.txt"] == ("success", "built-in copy")  # the file handler skipped: the default copied
    assert calls == [("skip", "in/a.txt", 0, "render_1", "farm"), ("images", "in/b.png", 0, "render_1", "farm")]
    recorder.flush()
    calls.clear()
    assert transfers.transfer(item.inputs[1], item, farm).status == "cached"
    assert calls == [("images", "in/b.png", 7, "render_1", "farm")]  # the stored id handed back
    log.close()


def test_use_mod_time_skips_the_handler_until_the_file_is_newer(setup, tmp_path):
    root, db, make = setup
    calls = []

    def copy(src, dst, file, work_item, scheduler, cache_id):
        calls.append(cache_id)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(src, "rb") as f, open(dst, "wb") as g:
            g.write(f.read())
        return TransferPair.success()

    types = TypeRegistry()
    types.register_transfer_handler("file/text", copy, use_mod_time=True)
    farm = FarmScheduler("farm", str(tmp_path / "scratch"))
    log, state, recorder, transfers, item = make(types)
    assert transfers.transfer(item.inputs[0], item, farm).status == "success"
    assert transfers.transfer(item.inputs[0], item, farm).status == "cached"
    assert calls == [0]
    st = os.stat(root / "in/a.txt")
    os.utime(root / "in/a.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert transfers.transfer(item.inputs[0], item, farm).status == "success"
    assert calls == [0, st.st_mtime_ns]
    log.close()


def test_raising_or_failing_handler_names_handler_tag_and_file(setup, tmp_path):
    root, db, make = setup

    def broken(src, dst, file, work_item, scheduler, cache_id):
        raise PermissionError("share is read-only")

    def refuses(src, dst, file, work_item, scheduler, cache_id):
        return TransferPair.failure()

    farm = FarmScheduler("farm", str(tmp_path / "scratch"))
    types = TypeRegistry()
    types.register_transfer_handler("file/text", broken)
    log, state, recorder, transfers, item = make(types)
    with pytest.raises(HandlerError, match=r"transfer handler .*broken for tag file/text raised on in/a.txt: "
                                           r"PermissionError: share is read-only"):
        transfers.transfer(item.inputs[0], item, farm)
    types.register_transfer_handler("file/text", refuses)
    with pytest.raises(HandlerError, match=r"refuses for tag file/text failed to transfer in/a.txt"):
        transfers.transfer(item.inputs[0], item, farm)
    os.remove(root / "in/a.txt")
    with pytest.raises(HandlerError, match=r"cannot transfer in/a.txt for work item render_1: the file is missing"):
        transfers.transfer(item.inputs[0], item, farm)
    log.close()
