"""``pdg.scheduler``: the submodule Houdini's own Python schedulers take their base class from
(``from pdg.scheduler import PyScheduler``), so a scheduler plugin written that way loads as it is.

Its names are ``engine.pdgapi.scheduler``'s (``PyScheduler`` is ``pdg.Scheduler``), each imported
when first asked for: ``ensure_pdg_module`` puts this module in place as ``pdg.scheduler`` for every
cook, and most cooks never use it.
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the names are, for the type checker; at run time each is imported when first used
    from pdgstore.engine.pdgapi.scheduler import PyScheduler, Scheduler

_SOURCE = "pdgstore.engine.pdgapi.scheduler"

__all__ = ["PyScheduler", "Scheduler"]


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(f"module 'pdg.scheduler' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(_SOURCE), name)
    except AttributeError:
        raise AttributeError(f"module 'pdg.scheduler' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
