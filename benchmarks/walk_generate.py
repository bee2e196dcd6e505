"""``pdg ARGS...`` with the bulk generation of ``engine.cook.bulk`` turned off (its nodes, partitions
and items recorded ahead, ``bulk.in_bulk``): the item-by-item
walk, the baseline the generation benchmark times in the same run (``test_bench_generate.py``)."""

import sys

from pdgstore.cli.main import main
from pdgstore.engine.cook import bulk

bulk.plan = lambda walk: []
bulk.in_bulk = lambda walk: False

if __name__ == "__main__":
    sys.argv[0] = "pdg"
    sys.exit(main())
