"""Seed 003's node-filtered stat function: the file pattern's files get a CRC-32 hash; the files a
python processor writes (their owning item is not a File Pattern's) get the built-in hash.

    pdg cook graph.py && pdg show texts_1 && pdg show copy_1
"""

import shutil

from pdgstore.engine import Graph

graph = Graph("seed003_stat_node")
texts = graph.file_pattern("texts", "in/*.txt")


@graph.python_processor("copy", upstream=texts)
def copy(item):
    dst = f"{item.input_path.stem}.copy.txt"
    shutil.copyfile(item.input_path, dst)
    item.add_output_file(dst)
