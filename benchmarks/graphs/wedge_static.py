"""A static graph of 2N work items for issue 19's generation benchmark: a wedge of N variants and a
python processor under it, static (Generate When: automatic), so ``pdg cook --generate-only``
generates and records every item without running any."""

from pdgstore.engine import Graph, wedge_range

graph = Graph("wedge_static")
count = graph.parm("count", 100_000, help="wedge count")
wedge = graph.wedge("wedge", count=count, attributes=[wedge_range("seed", 0, 1000)])


@graph.python_processor("work", upstream=wedge)
def work(item):
    item.set_attrib("double", item["seed"] * 2)
