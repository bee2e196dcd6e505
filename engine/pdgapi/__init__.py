"""PDG's own Python names over the engine's objects: what ``import pdg`` gives (see ``pdg/``)."""

import importlib
import sys


def ensure_pdg_module() -> None:
    """Make ``import pdg`` in user code (a types plugin, a graph file) give PDG's API.

    PDG projects keep plugins in a ``pdg/types/`` folder: with the project's folder on ``sys.path``
    that folder is a namespace package named ``pdg`` that would shadow the installed module (an
    editable install's finder is asked only after the path). So the facade is put in place first.
    It is imported by name (the low modules that call this must not depend on it), and it loads
    each of its names only when first used, so putting it in place costs a cook next to nothing."""
    module = sys.modules.get("pdg")
    if module is None or getattr(module, "__file__", None) is None:
        sys.modules["pdg"] = importlib.import_module("pdgstore.engine.pdgapi.facade")
        # its submodule, as Houdini's pdg has it (``from pdg.scheduler import PyScheduler``): the
        # import system finds a submodule in sys.modules before it asks whether ``pdg`` is a package
        sys.modules["pdg.scheduler"] = importlib.import_module("pdgstore.engine.pdgapi.pdgscheduler")
