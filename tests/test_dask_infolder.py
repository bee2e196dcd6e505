"""``engine/schedulers/dask/infolder.py``: a worker's Python items run in their project's folder,
the items of one project together, another project's after them, and the worker's own folder back
once none runs. Real threads and real folders; no Dask needed (on a cluster: test_dask_scheduler,
test_dask_cli)."""

from __future__ import annotations

import os
import threading

import pytest

from pdgstore.engine.schedulers.dask import infolder

pytestmark = pytest.mark.timeout(30)


class Item(threading.Thread):
    """A Python item of ``root`` on a worker thread: it enters, notes the current folder, and stays
    until ``release`` is set."""

    def __init__(self, root, log: list) -> None:
        super().__init__(daemon=True)
        self.root, self.log = str(root), log
        self.inside = threading.Event()
        self.release = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with infolder.project_folder(self.root):
                self.log.append((self.root, os.getcwd()))
                self.inside.set()
                assert self.release.wait(20)
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            self.error = exc
            self.inside.set()


@pytest.fixture
def home(tmp_path):
    """The test process's folder before and after (a test that fails inside must not leave it elsewhere)."""
    before = os.getcwd()
    yield before
    os.chdir(before)


def test_items_of_one_project_run_together_in_it_and_the_folder_comes_back(tmp_path, home):
    log: list = []
    a, b = Item(tmp_path, log), Item(tmp_path, log)
    a.start()
    b.start()
    assert a.inside.wait(10) and b.inside.wait(10)  # both inside at once
    assert log == [(str(tmp_path), str(tmp_path))] * 2
    a.release.set()
    a.join(10)
    assert os.getcwd() == str(tmp_path)  # b still runs there
    b.release.set()
    b.join(10)
    assert os.getcwd() == home and a.error is None and b.error is None


def test_another_project_waits_and_is_not_passed_by_the_first(tmp_path, home):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    log: list = []
    first = Item(one, log)
    first.start()
    assert first.inside.wait(10)
    other = Item(two, log)
    other.start()
    assert not other.inside.wait(0.3)  # the folder is project one's while its item runs
    late = Item(one, log)
    late.start()
    assert not late.inside.wait(0.3)  # project two came first: one's next item waits behind it
    first.release.set()
    assert other.inside.wait(10)
    assert not late.inside.wait(0.3)
    other.release.set()
    assert late.inside.wait(10)
    late.release.set()
    for item in (first, other, late):
        item.join(10)
        assert item.error is None
    assert log == [(str(one), str(one)), (str(two), str(two)), (str(one), str(one))]
    assert os.getcwd() == home


def test_a_folder_missing_here_is_named_and_the_next_item_goes_in(tmp_path, home):
    log: list = []
    missing = Item(tmp_path / "not-mounted", log)
    missing.start()
    missing.join(10)
    assert isinstance(missing.error, OSError)
    assert f"the project folder {tmp_path / 'not-mounted'} cannot be entered on this worker" in str(missing.error)
    fine = Item(tmp_path, log)
    fine.start()
    assert fine.inside.wait(10)
    fine.release.set()
    fine.join(10)
    assert log == [(str(tmp_path), str(tmp_path))] and os.getcwd() == home
