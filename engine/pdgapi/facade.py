"""What ``import pdg`` gives: PDG's Python names for the engine's own objects, so code from PDG's
pages runs. (The installed ``pdg`` package re-exports this module; a types plugin's ``import pdg``
gets it even where a project's own ``pdg/types/`` folder would shadow the package: see
``engine.pdgapi.ensure_pdg_module``.)

Everything here is the engine's (no copies): ``pdg.scheduleResult`` is the enum the engine's
schedulers return (``scheduleResult.Succeeded is ScheduleResult.SUCCEEDED``), ``pdg.File`` the
engine's file, ``pdg.TypeRegistry`` the registry types plugins fill, ``pdg.WorkItem`` the view
handlers receive, ``pdg.Scheduler`` a scheduler base whose camelCase callbacks (``onSchedule``,
``onTick`` ...) the engine calls. What Houdini's ``pdg`` has and the engine does not (nodes you
create from Python, the UI) is not here; ``docs/pdg_api.md`` lists what is.
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the names are, for the type checker; at run time each is imported when first used
    from pdgstore.engine.files.filetypes import CacheResult as cacheResult
    from pdgstore.engine.files.filetypes import TransferPair, TypeRegistry
    from pdgstore.engine.graph.attribs import File
    from pdgstore.engine.pdgapi.context import Graph, GraphContext
    from pdgstore.engine.pdgapi.enums import (
        attribFlag,
        attribType,
        batchActivation,
        cookType,
        fileType,
        workItemCookType,
        workItemLogType,
        workItemState,
        workItemType,
    )
    from pdgstore.engine.pdgapi.items import Attribute, WorkItem
    from pdgstore.engine.pdgapi.items import NodeRef as Node
    from pdgstore.engine.pdgapi.scheduler import PyScheduler, Scheduler
    from pdgstore.engine.pdgapi.setters import AttribError
    from pdgstore.engine.schedulers.contract import AcceptResult as acceptResult
    from pdgstore.engine.schedulers.contract import ScheduledItem
    from pdgstore.engine.schedulers.contract import ScheduleResult as scheduleResult
    from pdgstore.engine.schedulers.contract import TickResult as tickResult

_ENUMS = "pdgstore.engine.pdgapi.enums"
_CONTRACT = "pdgstore.engine.schedulers.contract"

#: each name -> (the module that defines it, its name there). Imported when first asked for (PEP 562):
#: every cook puts this module in place as ``pdg`` before it runs the graph file
#: (``ensure_pdg_module``), and most graph files never touch it, so a cook does not pay for loading
#: PDG's scheduler base and what it brings (the job runner).
_EXPORTS = {
    "AttribError": ("pdgstore.engine.pdgapi.setters", "AttribError"),
    "Attribute": ("pdgstore.engine.pdgapi.items", "Attribute"),
    "File": ("pdgstore.engine.graph.attribs", "File"),
    "Graph": ("pdgstore.engine.pdgapi.context", "Graph"),
    "GraphContext": ("pdgstore.engine.pdgapi.context", "GraphContext"),
    "Node": ("pdgstore.engine.pdgapi.items", "NodeRef"),
    "PyScheduler": ("pdgstore.engine.pdgapi.scheduler", "PyScheduler"),
    "ScheduledItem": (_CONTRACT, "ScheduledItem"),
    "Scheduler": ("pdgstore.engine.pdgapi.scheduler", "Scheduler"),
    "TransferPair": ("pdgstore.engine.files.filetypes", "TransferPair"),
    "TypeRegistry": ("pdgstore.engine.files.filetypes", "TypeRegistry"),
    "WorkItem": ("pdgstore.engine.pdgapi.items", "WorkItem"),
    "acceptResult": (_CONTRACT, "AcceptResult"),
    "attribFlag": (_ENUMS, "attribFlag"),
    "attribType": (_ENUMS, "attribType"),
    "batchActivation": (_ENUMS, "batchActivation"),
    "cacheResult": ("pdgstore.engine.files.filetypes", "CacheResult"),
    "cookType": (_ENUMS, "cookType"),
    "fileType": (_ENUMS, "fileType"),
    "scheduleResult": (_CONTRACT, "ScheduleResult"),
    "tickResult": (_CONTRACT, "TickResult"),
    "workItemCookType": (_ENUMS, "workItemCookType"),
    "workItemLogType": (_ENUMS, "workItemLogType"),
    "workItemState": (_ENUMS, "workItemState"),
    "workItemType": (_ENUMS, "workItemType"),
}


def __getattr__(name: str):
    if name == "scheduler":  # the submodule (``pdg.scheduler.PyScheduler``; see ``ensure_pdg_module``)
        return importlib.import_module("pdgstore.engine.pdgapi.pdgscheduler")
    where = _EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where[0]), where[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "AttribError",
    "Attribute",
    "File",
    "Graph",
    "GraphContext",
    "Node",
    "PyScheduler",
    "ScheduledItem",
    "Scheduler",
    "TransferPair",
    "TypeRegistry",
    "WorkItem",
    "acceptResult",
    "attribFlag",
    "attribType",
    "batchActivation",
    "cacheResult",
    "cookType",
    "fileType",
    "scheduleResult",
    "tickResult",
    "workItemCookType",
    "workItemLogType",
    "workItemState",
    "workItemType",
]
