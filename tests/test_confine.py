"""``Confine.resolve`` remembers each folder as a path names it, so a cook's outputs into one folder
cost an ``lstat`` each and no path arithmetic: what it answers is what resolving each path from
scratch answers, for any path shape (``..``, ``.``, doubled slashes, absolute paths, symlinks to a
folder or a file, inside or out), asked in any order."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdgstore.engine.files.confine import Confine

PARTS = ["out1", "sub", "deeper", "..", ".", "", "escape", "link_in", "x.txt", "passwd", "to_file"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    base = tmp_path_factory.mktemp("confine")
    root, outside = base / "project", base / "outside"
    for folder in (root / "out1", root / "sub" / "deeper", outside):
        folder.mkdir(parents=True)
    (outside / "secret.txt").write_text("no\n")
    (root / "escape").symlink_to(outside)
    (root / "link_in").symlink_to(root / "out1")
    (root / "out1" / "passwd").symlink_to(outside / "secret.txt")
    (root / "sub" / "to_file").symlink_to(root / "out1" / "x.txt")
    return str(root)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.booleans(), st.lists(st.sampled_from(PARTS), min_size=1, max_size=4)), max_size=12))
def test_a_remembered_folder_resolves_as_a_fresh_resolve_does(project, paths):
    confine = Confine(project)
    for absolute, parts in paths:
        path = "/".join(parts)
        if absolute:
            path = os.path.join(project, path)
        fresh = Confine(project).resolve(path)  # a new one remembers nothing: resolved from scratch
        assert confine.resolve(path) == fresh, path
        assert confine.resolve(path) == fresh, path  # asked again: from what it remembered
        assert confine.problem(path) == Confine(project).problem(path)


def test_the_real_folder_is_remembered_by_the_name_the_path_gives(project):
    confine = Confine(project)
    assert confine.problem("link_in/a.txt") == ""
    assert confine.resolve("link_in/a.txt") == os.path.join(os.path.realpath(project), "out1", "a.txt")
    assert "outside the project" in confine.problem("escape/a.txt")
    assert "outside the project" in confine.problem("out1/passwd")  # a file symlink out, in a known folder
