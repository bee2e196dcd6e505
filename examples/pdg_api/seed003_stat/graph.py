"""Seed 003's stat function: files tagged file/txt are hashed with their CRC-32 (the hash the
store records, and what decides whether they changed).

    pdg cook graph.py && pdg show notes_1
"""

from pdgstore.engine import Graph

graph = Graph("seed003_stat")
notes = graph.file_pattern("notes", "in/*.txt", tag="file/txt")
