"""Seed 000's two job samples, run as out-of-process jobs on the local scheduler.

    pdg cook graph.py && pdg show pdgjson_job_1     # runtime_attrib = test value
"""

from pdgstore.engine import Graph

graph = Graph("seed000")
numbers = graph.range_generate("numbers", 2, attribute="myintattrib")
graph.python_script("pdgjson_job", numbers, "pdgjson_job.py")
graph.python_script("pdgcmd_job", numbers, "pdgcmd_job.py")
