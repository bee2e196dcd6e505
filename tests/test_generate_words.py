"""``pdg cook --generate-only``: the table's "generate when" column says each node's mode in the
word its ``--json`` gives (``all_upstream_generated``, not "static", for a processor; a
partitioner's ``static`` or ``dynamic``), so a reader of one can read the other.
"""

from __future__ import annotations

import json

import pytest

STATIC_AND_NOT = """
from pdgstore.engine import Graph, wedge_values

graph = Graph("page")
wedge = graph.wedge("wedge", attributes=[wedge_values("n", [1, 2, 3])])
frames = graph.frame_range("frames", wedge, start=1, end=2)
later = graph.frame_range("later", frames, start=1, end=2, generate_when="each_upstream_cooked")
graph.python_processor("shade", upstream=frames, func=lambda item: None)
graph.partition_by_attribute("by_n", "shade", "n")
done = graph.wait_for_all("done", frames)
"""


@pytest.mark.timeout(60)
def test_generate_only_table_says_each_nodes_mode_as_its_json_does(project):
    project.write("page.py", STATIC_AND_NOT)
    data = json.loads(project.pdg("cook", "page.py", "--generate-only", "--json").stdout)
    modes = {name: row["mode"] for name, row in data["generated"].items()}
    assert modes["wedge"] == modes["frames"] == "all_upstream_generated"
    assert modes["later"] == "each_upstream_cooked" and modes["by_n"] == "dynamic" and modes["done"] == "static"
    table = project.pdg_process("cook", "page.py", "--generate-only")  # a pipe: one row per line
    assert table.returncode == 0, table.stderr
    assert "generate when" in table.stdout
    rows = {line.split()[0]: line.split()[-1] for line in table.stdout.splitlines() if line.split()[:1] != []}
    for name, mode in modes.items():
        assert rows.get(name) == mode, (name, table.stdout)
