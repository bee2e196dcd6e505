"""PDG's partitioners that combine items across inputs: Partition by Node (with its "Partition
For Each" and "Sort Nodes By") and Partition by Combination (with its "Keep Percentage" and seed).

Both are ``LibraryPartitioner``s (``engine.graph.partitions``): PDG's switches, their parameters
recorded, a partition's key made of what it groups so a parameter change regroups only what it
changes.
"""

from __future__ import annotations

import hashlib
import itertools

from pdgstore.engine.errors import GraphError
from pdgstore.engine.graph.checks import whole
from pdgstore.engine.graph.nodes import NewPartition
from pdgstore.engine.graph.partitions import LibraryPartitioner

NODE_MODES = ("node", "tuple", "combination")
#: PDG's "Sort Nodes By": the input nodes' order, by their input index or alphabetically by name
SORT_NODES_BY = ("input_index", "name")


class PartitionByNode(LibraryPartitioner):
    """PDG's Partition by Node, its "Partition For Each": ``mode="node"`` (one partition per input
    node, holding that node's items), ``"tuple"`` (the N-th item of every input together;
    ``allow_partial`` keeps the tuples some inputs are too short for) or ``"combination"`` (one
    partition per combination of one item from each input). ``sort_nodes_by`` ("Sort Nodes By"):
    the order of the input nodes, so of the partitions (``"node"``) and of each partition's members
    (the others): ``"input_index"`` (as wired, the default) or ``"name"`` (alphabetical)."""

    type_name = "partition_by_node"

    def __init__(
        self, name, inputs, *, mode="node", allow_partial=False, sort_nodes_by="input_index", **switches
    ) -> None:
        super().__init__(name, inputs, **switches)
        if mode not in NODE_MODES:
            raise GraphError(f"partition by node {name}: mode is one of {', '.join(NODE_MODES)}")
        if sort_nodes_by not in SORT_NODES_BY:
            raise GraphError(
                f"partition by node {name}: sort_nodes_by is one of {', '.join(SORT_NODES_BY)}, not {sort_nodes_by!r}"
            )
        self.mode, self.allow_partial, self.sort_nodes_by = mode, bool(allow_partial), sort_nodes_by

    def own_parms(self) -> dict:
        out = {} if self.mode == "node" else {"mode": self.mode, "allow_partial": self.allow_partial}
        if self.sort_nodes_by != "input_index":  # recorded as before otherwise
            out["sort_nodes_by"] = self.sort_nodes_by
        return out

    def sorted_inputs(self) -> list[str]:
        """The input nodes in "Sort Nodes By" order."""
        return sorted(self.inputs) if self.sort_nodes_by == "name" else list(self.inputs)

    def partition(self, ctx, items):
        groups: dict = {}
        for item in items:
            groups.setdefault(item.node, []).append(item)
        inputs = self.sorted_inputs()
        order = {name: i for i, name in enumerate(inputs)}
        if self.mode == "node":
            return [
                NewPartition(key=node, members=m, attrs={"partitionnode": ["string", [node]]})
                for node, m in sorted(groups.items(), key=lambda kv: order.get(kv[0], len(order)))
            ]
        per_input = [groups.get(up, []) for up in inputs]
        if self.mode == "tuple":
            longest = max((len(g) for g in per_input), default=0)
            shortest = min((len(g) for g in per_input), default=0)
            out = []
            for i in range(longest if self.allow_partial else shortest):
                members = [g[i] for g in per_input if i < len(g)]
                out.append(NewPartition(key=["tuple", i], members=members, index=i))
            return out
        return [
            NewPartition(key=["combination", [m.item_id for m in combo]], members=list(combo), index=i)
            for i, combo in enumerate(itertools.product(*per_input))
        ]


class PartitionByCombination(LibraryPartitioner):
    """Partitions of combinations: ``mode="across"``, one item from each input node (every tuple of
    the inputs' product); ``mode="pairs"``, every unordered group of ``size`` items (pairs by default).

    ``keep_percentage`` (PDG's "Keep Percentage", off when None): keep about that percentage of the
    combinations, chosen at random with ``seed``. Each combination's fate is a draw of its own (a
    hash of the seed and its members' ids, ``kept``), not a place in a shuffled list: the same seed
    keeps the same combinations in every cook, and an upstream item added later adds (or not) only
    the combinations it is in, so an incremental recook reruns just those."""

    type_name = "partition_by_combination"

    def __init__(self, name, inputs, *, mode="across", size=2, keep_percentage=None, seed=0, **switches) -> None:
        super().__init__(name, inputs, **switches)
        if mode not in ("across", "pairs"):
            raise GraphError(f"partition by combination {name}: mode is 'across' or 'pairs', not {mode!r}")
        if not isinstance(size, int) or size < 1:
            raise GraphError(f"partition by combination {name}: size is a whole number >= 1")
        if keep_percentage is not None and (
            not isinstance(keep_percentage, (int, float))
            or isinstance(keep_percentage, bool)
            or not 0 <= keep_percentage <= 100
        ):
            raise GraphError(
                f"partition by combination {name}: keep_percentage is a number from 0 to 100, not {keep_percentage!r}"
            )
        whole(f"partition by combination {name}", "seed", seed)
        self.mode, self.size, self.keep_percentage, self.seed = mode, size, keep_percentage, seed

    def own_parms(self) -> dict:
        out = {"mode": self.mode, "size": self.size}
        if self.keep_percentage is not None:  # recorded as before otherwise
            out.update(keep_percentage=self.keep_percentage, seed=self.seed)
        return out

    def partition(self, ctx, items):
        self.why_nothing = ""
        if self.mode == "across":
            per_node = [[i for i in items if i.node == node] for node in self.inputs]
            combos = itertools.product(*per_node)
        else:
            combos = itertools.combinations(items, self.size)
        keep = self.keep_percentage
        out = []
        made = 0
        for combo in combos:
            ids = [m.item_id for m in combo]
            made += 1
            if keep is None or kept(self.seed, ids, keep):
                out.append(NewPartition(key=ids, members=list(combo)))
        if made and not out:
            return self._nothing(f"keep_percentage {keep} kept none of its {made} combinations")
        return out


def kept(seed: int, ids: list[str], percentage: float) -> bool:
    """Whether the combination of the items ``ids`` is one of the ``percentage`` % kept under
    ``seed``: a uniform draw in [0, 1) made from a hash of both, below ``percentage / 100``."""
    digest = hashlib.sha256(repr((seed, ids)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < percentage / 100
