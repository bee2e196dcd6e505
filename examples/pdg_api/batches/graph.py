"""PDG's batch work items: the frames of a range, rendered three to a job (``batch_size=3``).

Each batch is one job (``render.py``) that cooks its sub-items one by one and reports each of them
(``subindex``) as it goes, so what depends on a frame (``after``) cooks while its batch still runs.
The first batch also appends one more sub-item (``appendSubItem``).

    pdg cook graph.py && pdg status && pdg show render_1
"""

import sys

from pdgstore.engine import Graph

graph = Graph("batches")
graph.scheduler("local", slots=2, max_retries=0, tick_period=0.05)
frames = graph.range_generate("frames", 5)
graph.python_script("render", frames, "render.py", batch_size=3)
graph.command("after", "render", [sys.executable, "-c", "print('after')"])
