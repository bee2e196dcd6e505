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
from pdgstore.engine.pdgapi.items import Attribute, NodeRef, WorkItem
from pdgstore.engine.pdgapi.scheduler import PyScheduler, Scheduler
from pdgstore.engine.schedulers.contract import AcceptResult as acceptResult
from pdgstore.engine.schedulers.contract import ScheduledItem
from pdgstore.engine.schedulers.contract import ScheduleResult as scheduleResult
from pdgstore.engine.schedulers.contract import TickResult as tickResult

Node = NodeRef

__all__ = [
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
