"""The order a node's items are listed in: work item order, kept by an index (schema 5).

Why: the items table's rows are in generation order (``ord``, the seq of the event that made an
item), and a recook appends what it makes: an item made again after its removal, or new among the
others (an input added between two), came last in ``pdg items`` after a recook, though a first
cook lists it in its place. Work item order (``engine.graph.workitem.work_item_order``) is the
number N of an item's name ``<node>_<N>``, which a cook gives by the item's place and which a
recook keeps; items of one N (a suffixed ``<node>_<N>_<k>``) follow in generation order.

``items_place`` indexes (graph, node, N) with N computed from the name by SQL (an index on an
expression: no column, nothing to write but the index entry), so a node's listing walks the index
in that order and streams its rows, costing what it returns; its rowid, ``ord``, orders the ties.
"""

from __future__ import annotations

#: N of a name ``<node>_<N>`` or ``<node>_<N>_<k>``: the digits after the node's name and "_", as
#: SQLite casts them (0 for a name without them, which the engine never gives)
PLACE = "CAST(substr(name, length(node) + 2) AS INTEGER)"

#: the index of schema 5 (``pdgstore.schema.MIGRATIONS``)
PLACE_SQL = f"""
CREATE INDEX items_place ON items (graph, node, {PLACE});
"""

#: how a node's rows are ordered: the index's order, ``ord`` the rowid that follows its key
ORDER_BY = f"{PLACE}, ord"


def place(node: str, name: str) -> int:
    """``PLACE`` in Python, for a state held in memory: the leading digits after ``node`` and "_"
    in ``name``, as a number (0 when there are none)."""
    rest = name[len(node) + 1 :]
    end = 0
    while end < len(rest) and "0" <= rest[end] <= "9":
        end += 1
    return int(rest[:end]) if end else 0
