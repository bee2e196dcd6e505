"""Seed 003's cache handlers: items that expect a .bgeo file (tag file/geo/bgeo) are checked by
``custom_handler`` when their ``usecustomcaching`` attribute is 1 (a non-empty file is a hit, an
empty one a miss); with 0 it skips to the built-in check. .usd files go to ``simple_handler``.

    pdg cook graph.py       # writes geo/*.bgeo and scene.usd, then cooks from cache
"""

import os

from pdgstore.engine import Graph

graph = Graph("seed003_cache")
flags = graph.range_generate("flags", values=[0, 1, 1], attribute="usecustomcaching")


@graph.python_processor("geo", upstream=flags, expected_outputs=["geo/@pdg_index.bgeo"])
def geo(item):
    os.makedirs("geo", exist_ok=True)
    with open(item.path(f"geo/{item.index}.bgeo"), "w") as f:
        f.write("geometry")
    with open("ran.log", "a") as f:
        f.write(f"{item.name}\n")
