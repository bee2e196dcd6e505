"""Which modules the dask scheduler ships to the workers by value (``cluster.ship_graph_code``):
those whose file lies in the graph's folder, also through a link to it, and nothing else."""

from __future__ import annotations

import importlib
import os
import sys

import pytest

pytest.importorskip("cloudpickle")

from pdgstore.engine.schedulers.dask import cluster  # noqa: E402 - after the skip

pytestmark = pytest.mark.timeout(60)


def test_the_graph_folders_modules_are_shipped_and_no_other(tmp_path, monkeypatch):
    graph_dir, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (graph_dir / "lib").mkdir(parents=True)
    elsewhere.mkdir()
    (graph_dir / "ship_top.py").write_text("A = 1\n")
    (graph_dir / "lib" / "ship_sub.py").write_text("B = 2\n")
    (elsewhere / "ship_not.py").write_text("C = 3\n")
    os.symlink(graph_dir / "lib", tmp_path / "linked")  # the graph's own folder, reached by a link
    (graph_dir / "lib" / "ship_linked.py").write_text("D = 4\n")
    for folder in (graph_dir, graph_dir / "lib", elsewhere, tmp_path / "linked"):
        monkeypatch.syspath_prepend(str(folder))
    names = ["ship_top", "ship_sub", "ship_not"]
    for name in names:
        importlib.import_module(name)
    sys.modules["ship_linked"] = importlib.import_module("ship_linked")
    assert sys.modules["ship_linked"].__file__.startswith(str(tmp_path / "linked"))
    shipped = cluster.ship_graph_code(str(graph_dir))
    try:
        assert sorted(shipped) == ["ship_linked", "ship_sub", "ship_top"]
    finally:
        cluster.unship_graph_code(shipped)
        for name in [*names, "ship_linked"]:
            sys.modules.pop(name, None)
