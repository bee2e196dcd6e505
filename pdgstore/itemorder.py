"""The order a node's items are listed in: work item order, kept by an index (schema 5).

Why: the items table's rows are in generation order (``ord``, the seq of the event that made an
item), and a recook appends what it makes: an item made again after its removal, or new among the
others (an input added between two), came last in ``pdg items`` after a recook, though a first
cook lists it in its place. Work item order (``engine.graph.workitem.work_item_order``) is the
number N of an item's name ``<node>_<N>``, which a cook gives by the item's place and which a
recook keeps; items of one N (a suffixed ``<node>_<N>_<k>``) follow in generation order.

``items_place`` indexes (``GRAPH/NODE``, N), both computed by SQL (an index on expressions: no
column, nothing to write but the index entry), so a node's listing walks the index in that order
and streams its rows, costing what it returns; its rowid, ``ord``, orders the ties. Its first key
is the expression ``NODE_KEY``, not the columns graph and node: SQLite uses an index on an
expression only for a query that names the expression, so the other queries of a node's rows
(``graph = ? AND node = ?``, in the order ``items_node`` gives) go on as they did, and the listing
alone asks for this order. (A node's name holds no "/": the key is one node's.)
"""

from __future__ import annotations

#: N of a name ``<node>_<N>`` or ``<node>_<N>_<k>``: the digits after the node's name and "_", as
#: SQLite casts them (0 for a name without them, which the engine never gives)
PLACE = "CAST(substr(name, length(node) + 2) AS INTEGER)"

#: a node's key, as ``queries.GRAPH_SEPARATOR`` joins it: what the listing's query names
NODE_KEY = "graph || '/' || node"

#: the index of schema 5 (``pdgstore.schema.MIGRATIONS``)
PLACE_SQL = f"""
CREATE INDEX items_place ON items ({NODE_KEY}, {PLACE});
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
