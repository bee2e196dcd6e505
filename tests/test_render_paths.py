"""``render.here_all`` gives each path what ``render.here`` gives it, from wherever the user stands.

Its fast path cuts the current directory off a path plainly below it; every other path (outside it,
with ``.`` or ``..`` parts, a doubled or trailing slash) goes through ``os.path.relpath``. Drawn
paths mix all of those, and the current directory is the root, a folder, or one inside it."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdgstore.cli import render

pytestmark = pytest.mark.timeout(120)

parts = st.sampled_from(["a", "b", ".", "..", "", ".hidden", "x.txt", "c d", "out1"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(paths=st.lists(st.lists(parts, min_size=1, max_size=6), max_size=8), where=st.sampled_from(["", "a", "a/b"]))
def test_many_paths_read_as_each_alone(tmp_path, monkeypatch, paths, where):
    base = str(tmp_path)
    cwd = os.path.join(base, where) if where else base
    os.makedirs(cwd, exist_ok=True)
    monkeypatch.chdir(cwd)
    absolute = ["/".join([base, *p]) for p in paths] + [cwd, cwd + "/", "/", "/etc/passwd"]
    assert render.here_all(absolute) == [render.here(p) for p in absolute]


def test_from_the_root_every_path_is_below(monkeypatch):
    monkeypatch.chdir("/")
    paths = ["/etc/passwd", "/a/./b", "/a//b", "/"]
    assert render.here_all(paths) == [render.here(p) for p in paths] == ["etc/passwd", "a/b", "a/b", "."]
