"""What a node records of its function's code (``engine.graph.code``): the function, the helpers of
its own module it calls, and the project's local modules it uses (a function imported from one, or
the module used by name), so editing any of them reruns its items; Python's own modules, installed
packages and pdgstore are not followed."""

from __future__ import annotations

import importlib
import json
import os
import sys

import pytest

from pdgstore.engine.graph.code import _local, code_fingerprint

pytestmark = pytest.mark.timeout(60)


def _load(folder, name: str, source: str):
    (folder / f"{name}.py").write_text(source)
    sys.modules.pop(name, None)
    importlib.invalidate_caches()
    return importlib.import_module(name)


@pytest.fixture
def local(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("fp_helper", "fp_user"):
        sys.modules.pop(name, None)


USER = """
import fp_helper
from fp_helper import scale

def by_module(n):
    return fp_helper.scale(n)

def by_name(n):
    return scale(n)

def neither(n):
    return json.dumps(os.sep) + str(n)

import json, os
"""


def test_editing_a_local_module_changes_the_functions_that_use_it(local):
    _load(local, "fp_helper", "def scale(n):\n    return n\n\ndef other():\n    return 1\n")
    user = _load(local, "fp_user", USER)
    before = {f: code_fingerprint(getattr(user, f)) for f in ("by_module", "by_name", "neither")}
    _load(local, "fp_helper", "def scale(n):\n    return n\n\ndef other():\n    return 2\n")
    user = _load(local, "fp_user", USER)
    after_other = {f: code_fingerprint(getattr(user, f)) for f in ("by_module", "by_name", "neither")}
    # the module used by name is hashed whole; a function imported from it, by its own code only
    assert after_other["by_module"] != before["by_module"]
    assert after_other["by_name"] == before["by_name"] and after_other["neither"] == before["neither"]
    _load(local, "fp_helper", "def scale(n):\n    return 2 * n\n\ndef other():\n    return 2\n")
    user = _load(local, "fp_user", USER)
    after_scale = {f: code_fingerprint(getattr(user, f)) for f in ("by_module", "by_name", "neither")}
    assert after_scale["by_module"] != after_other["by_module"] and after_scale["by_name"] != after_other["by_name"]
    assert after_scale["neither"] == before["neither"]


def test_python_installed_packages_and_pdgstore_are_not_the_projects(local):
    import msgpack

    import pdgstore.engine

    assert not _local(json) and not _local(os) and not _local(msgpack) and not _local(pdgstore.engine)
    assert _local(_load(local, "fp_helper", "X = 1\n"))
