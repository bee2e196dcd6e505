"""Seed 003's custom tags: .py files are tagged file/text/pythonscript; file/bgeo opens in gplay.

    pdg cook graph.py && pdg show scripts_1     # its file's tag: file/text/pythonscript
"""

from pdgstore.engine import Graph

graph = Graph("seed003_tags")
scripts = graph.file_pattern("scripts", "in/*.py")
