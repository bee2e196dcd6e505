"""engine: what acts. Turns graph definitions into work items, cooks them, and records every change
as events through pdgstore. It never writes SQL itself.

The public API a graph file or a library user needs::

    from engine import Graph, File, cook_file, cook_graph
"""

from engine.attribs import File
from engine.cook import Cook, CookSummary
from engine.graph import Graph
from engine.inprocess import InProcessScheduler
from engine.local import LocalScheduler
from engine.scheduler import AcceptResult, ScheduledItem, ScheduleResult, Scheduler, TickResult
from engine.nodes import NewItem, NewPartition, Partitioner, Processor
from engine.project import cook_file, cook_graph, find_store, open_store
from engine.workitem import WorkItem

__all__ = [
    "Graph", "File", "WorkItem", "Cook", "CookSummary", "cook_file", "cook_graph", "find_store", "open_store",
    "Processor", "Partitioner", "NewItem", "NewPartition",
    "Scheduler", "ScheduleResult", "TickResult", "AcceptResult", "ScheduledItem", "InProcessScheduler",
    "LocalScheduler",
]
