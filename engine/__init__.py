"""engine: what acts. Turns graph definitions into work items, cooks them, and records every change
as events through pdgstore. It never writes SQL itself.

The public API a graph file or a library user needs::

    from pdgstore.engine import Graph, File, cook_file, cook_graph
"""

import importlib

#: each public name and the module that defines it: imported when first asked for (PEP 562), so a
#: command that needs one part (``pdg status`` reads the store; it never cooks) does not pay for
#: importing the whole engine at start-up
_EXPORTS = {
    "Cook": "pdgstore.engine.cook.loop",
    "CookSummary": "pdgstore.engine.cook.loop",
    "Graph": "pdgstore.engine.graph.api",
    "File": "pdgstore.engine.graph.attribs",
    "wedge_random": "pdgstore.engine.graph.generators",
    "wedge_range": "pdgstore.engine.graph.generators",
    "wedge_string": "pdgstore.engine.graph.generators",
    "wedge_values": "pdgstore.engine.graph.generators",
    "NewItem": "pdgstore.engine.graph.nodes",
    "NewPartition": "pdgstore.engine.graph.nodes",
    "Partitioner": "pdgstore.engine.graph.nodes",
    "Processor": "pdgstore.engine.graph.nodes",
    "WorkItem": "pdgstore.engine.graph.workitem",
    "attribFlag": "pdgstore.engine.pdgapi.enums",
    "cook_file": "pdgstore.engine.project",
    "cook_graph": "pdgstore.engine.project",
    "find_store": "pdgstore.engine.project",
    "open_store": "pdgstore.engine.project",
    "AcceptResult": "pdgstore.engine.schedulers.contract",
    "ScheduledItem": "pdgstore.engine.schedulers.contract",
    "Scheduler": "pdgstore.engine.schedulers.contract",
    "ScheduleResult": "pdgstore.engine.schedulers.contract",
    "TickResult": "pdgstore.engine.schedulers.contract",
    "DaskScheduler": "pdgstore.engine.schedulers.dask",
    "InProcessScheduler": "pdgstore.engine.schedulers.inprocess",
    "LocalScheduler": "pdgstore.engine.schedulers.local",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "Graph",
    "File",
    "attribFlag",
    "wedge_range",
    "wedge_values",
    "wedge_random",
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
