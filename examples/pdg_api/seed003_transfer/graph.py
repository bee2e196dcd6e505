"""Seed 003's transfer handler: the local scheduler runs jobs in ``scratch/``, so each job's input
files are transferred there first by ``transferCopy``; a second run finds them cached (the handler
gets back the mtime it returned as the cache id).

    pdg cook graph.py && ls scratch/in
"""

import sys

from pdgstore.engine import Graph

graph = Graph("seed003_transfer")
graph.scheduler("scratch", "local", working_dir="scratch", slots=2)
texts = graph.file_pattern("texts", "in/*.txt")
graph.command("count", texts, [sys.executable, "-c", "print('counted')"], scheduler="scratch",
              cache_mode="always_write")
