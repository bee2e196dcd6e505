"""PDG's type registry: the tag hierarchy, which handler and viewer a tag gets, types plugins from
``PDG_PATH`` and from installed packages (the ``pdgstore.types`` entry-point group), and the look on
``sys.path`` that spares a graph load importing ``importlib.metadata`` when none declares one."""

from __future__ import annotations

import os
import sys
import zipfile
from importlib.machinery import PathFinder

from pdgstore.engine.files.filetypes import TypeRegistry, may_declare_plugins, tag_chain

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


def test_tags_form_a_hierarchy_and_the_most_specific_registration_comes_first():
    assert tag_chain("file/image/png") == ["file/image/png", "file/image", "file"]
    registry = TypeRegistry()
    general, image, png, later_png = (lambda *a: 0), (lambda *a: 0), (lambda *a: 0), (lambda *a: 0)
    registry.register_stat_handler("file", general)
    registry.register_stat_handler("file/image", image)
    registry.register_stat_handler("file/image/png", png)
    registry.register_stat_handler("file/image/png", later_png)  # a later plugin overrides an earlier one
    assert registry.handlers_for(registry.stat_handlers, "file/image/png") == [
        ("file/image/png", later_png), ("file/image/png", png), ("file/image", image), ("file", general)]
    assert registry.handlers_for(registry.stat_handlers, "file/text") == [("file", general)]
    assert registry.handlers_for(registry.cache_handlers, "file/image/png") == []
    assert {"file/image/png", "file/image", "file"} <= registry.tags


def test_extension_tags_and_viewers_follow_the_hierarchy():
    registry = TypeRegistry()
    registry.addExtensionTag(".usd, .USDA", "file/geo/usd")  # PDG's name; several extensions at once
    registry.add_tag_viewer("file/geo", "usdview")
    assert registry.tag_for("scene/a.usda") == registry.tag_for("b.usd") == "file/geo/usd"
    assert registry.tag_for("notes.unknownext") == "file"
    assert registry.viewer_for("file/geo/usd") == "usdview" and registry.viewer_for("file/text") is None
    registry.add_tag_viewer("file", "less")
    assert registry.viewer_for("file/text") == "less" and registry.viewer_for("file/geo/usd") == "usdview"


def test_plugins_load_from_each_folder_of_pdg_path_and_the_project_once(tmp_path, monkeypatch):
    shared, project = tmp_path / "shared", tmp_path / "project"
    for folder, ext in ((shared, ".aa"), (project, ".bb")):
        (folder / "pdg" / "types").mkdir(parents=True)
        (folder / "pdg" / "types" / "tags.py").write_text(
            f"def register_types(registry):\n    registry.add_extension_tag({ext!r}, 'file/{ext[1:]}')\n")
    monkeypatch.setenv("PDG_PATH", f"{shared}{os.pathsep}{tmp_path / 'missing'}{os.pathsep}{project}")
    registry = TypeRegistry.of_project(str(project))  # the project is on PDG_PATH too: loaded once
    assert registry.tag_for("x.aa") == "file/aa" and registry.tag_for("x.bb") == "file/bb"
    assert registry.loaded == [str(shared / "pdg" / "types" / "tags.py"), str(project / "pdg" / "types" / "tags.py")]
