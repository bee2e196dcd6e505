"""Types plugins from installed packages (the ``pdgstore.types`` entry-point group), and the look
on ``sys.path`` that spares a graph load importing ``importlib.metadata`` when none declares one."""

from __future__ import annotations

import sys
import zipfile
from importlib.machinery import PathFinder

from engine.filetypes import TypeRegistry, may_declare_plugins

PLUGIN = '''
def register_types(registry):
    registry.add_extension_tag(".fk", "file/fake")
'''


def _install(site, entry_points: str) -> None:
    """A package installed the way pip leaves one: its module and a ``.dist-info`` folder."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "fakeplug.py").write_text(PLUGIN)
    info = site / "fakeplug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_an_installed_package_registers_types_through_its_entry_point(tmp_path, monkeypatch):
    _install(tmp_path / "site", "[console_scripts]\nfake = fakeplug:main\n\n[pdgstore.types]\nfake = fakeplug:register_types\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert may_declare_plugins()
    registry = TypeRegistry()
    registry.load_plugins(search_path="")
    assert registry.tag_for("data/x.fk") == "file/fake"
    assert registry.loaded == ["entry point fake"] and registry.warnings == []


def test_an_entry_point_that_fails_is_a_warning_naming_it(tmp_path, monkeypatch):
    _install(tmp_path / "site", "[pdgstore.types]\nbroken = fakeplug:no_such_function\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    registry = TypeRegistry()
    registry.load_plugins(search_path="")
    assert registry.loaded == []
    (warning,) = registry.warnings
    assert warning.startswith("types plugin broken (fakeplug:no_such_function) failed to load: AttributeError")


def test_the_look_finds_the_group_only_where_it_is_declared(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "meta_path", [PathFinder])
    _install(tmp_path / "other", "[console_scripts]\nfake = fakeplug:main\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "other"), str(tmp_path / "missing")])
    assert not may_declare_plugins()
    archive = tmp_path / "bundle.zip"  # a zip on the path: only importlib.metadata can look inside
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("x.py", "")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "other"), str(archive)])
    assert may_declare_plugins()


def test_an_import_hook_that_finds_distributions_is_left_to_importlib_metadata(tmp_path, monkeypatch):
    class Hook:
        @staticmethod
        def find_distributions(context=None):
            return iter(())

    monkeypatch.setattr(sys, "meta_path", [Hook, PathFinder])
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert may_declare_plugins()
