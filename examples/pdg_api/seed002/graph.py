"""Seed 002's custom scheduler (``pdg/types/custom_scheduler.py``) running python script jobs.

    pdg cook graph.py && pdg show job_1     # status: and log: lines name the scheduler's URIs
"""

from pdgstore.engine import Graph

graph = Graph("seed002", overrides=None)
count = graph.parm("count", 3)
sleep = graph.parm("sleep", 0.0)
farm = graph.scheduler("farm", "CustomScheduler", tick_period=0.05)
numbers = graph.range_generate("numbers", count)


@graph.python_processor("setup", upstream=numbers)
def setup(item):
    item.set_attrib("sleep", sleep)


graph.python_script("job", setup, "job.py", scheduler="farm")
