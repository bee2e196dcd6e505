"""C(n): ``n`` work items each running ``command`` out-of-process on the local scheduler (2 slots).

    numbers (range generator: n items)  ->  run (command processor: ``command`` per item)

``pdg cook commands.py`` runs 1,000 ``true``; ``--set command="sleep 30"`` makes it a cancel
test (Ctrl-C must leave no process behind). The scheduler takes no ``max_items`` limit per tick
(PDG's default of 30 per 0.5 s tick would cap it at 60 jobs a second): jobs that end are reported
at once, so the only limit is the 2 slots, as for ``xargs -P2``.
"""

from pdgstore.engine import Graph

graph = Graph("commands")
n = graph.parm("n", 1000, help="how many commands to run")
command = graph.parm("command", "true", help="the command each item runs")
graph.scheduler("local", slots=2, max_retries=0, max_items=None)
numbers = graph.range_generate("numbers", n)
graph.command("run", numbers, command)
