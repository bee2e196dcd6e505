"""engine: what acts. Turns graph definitions into work items, cooks them, and records every change
as events through pdgstore. It never writes SQL itself.

The public API a graph file or a library user needs::

    from pdgstore.engine import Graph, File, cook_file, cook_graph
"""

from pdgstore.engine.cook.loop import Cook, CookSummary
from pdgstore.engine.graph.api import Graph
from pdgstore.engine.graph.attribs import File
from pdgstore.engine.graph.generators import wedge_random, wedge_range, wedge_string, wedge_values
from pdgstore.engine.graph.nodes import NewItem, NewPartition, Partitioner, Processor
from pdgstore.engine.graph.workitem import WorkItem
from pdgstore.engine.pdgapi.enums import attribFlag
from pdgstore.engine.project import cook_file, cook_graph, find_store, open_store
from pdgstore.engine.schedulers.contract import AcceptResult, ScheduledItem, Scheduler, ScheduleResult, TickResult
from pdgstore.engine.schedulers.dask import DaskScheduler  # registers "dask"; imports distributed only when used
from pdgstore.engine.schedulers.inprocess import InProcessScheduler
from pdgstore.engine.schedulers.local import LocalScheduler

__all__ = [
    "Graph",
    "File",
    "attribFlag",
    "wedge_range",
    "wedge_values",
    "wedge_random",
    "wedge_string",
    "WorkItem",
    "Cook",
    "CookSummary",
    "cook_file",
    "cook_graph",
    "find_store",
    "open_store",
    "Processor",
    "Partitioner",
    "NewItem",
    "NewPartition",
    "Scheduler",
    "ScheduleResult",
    "TickResult",
    "AcceptResult",
    "ScheduledItem",
    "InProcessScheduler",
    "LocalScheduler",
    "DaskScheduler",
]
