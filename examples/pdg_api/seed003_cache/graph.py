"""Seed 003's cache handlers: items that expect a .bgeo file (tag file/geo/bgeo) are checked by
``custom_handler`` when their ``usecustomcaching`` attribute is 1 (a non-empty file is a hit, an
empty one a miss); with 0 it skips to the built-in check. ``simple_handler`` is registered for
.usd files as on the page (no item here expects one).

    pdg cook graph.py                         # writes geo/*.bgeo
    rm -r .pdg && : > geo/1.bgeo && pdg cook graph.py   # a new store: geo_2 (its file empty) runs, 2 cached
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
