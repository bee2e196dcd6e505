"""The node library as ``Graph`` methods: PDG's common TOPs, each one call in a graph file.

``Graph`` inherits these (``engine.graph.api``); each builds a node from ``generators``,
``partitions``, ``flow`` or ``attribnodes`` and adds it. Upstream nodes are given as Node objects
or names, one or a list. Processors take ``generate_when`` (``engine.graph.when``); partitioners
take ``use_dynamic_partitioning`` and ``merge_input_attributes``. docs/nodes.md shows each with an
example.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pdgstore.engine.errors import GraphError
from pdgstore.engine.graph import attribnodes as a
from pdgstore.engine.graph import combinations as c
from pdgstore.engine.graph import flow as f
from pdgstore.engine.graph import generators as g
from pdgstore.engine.graph import partitions as p
from pdgstore.engine.graph.when import set_generate_when

if TYPE_CHECKING:
    from pdgstore.engine.graph.nodes import Node

#: the library's nodes whose items follow from their inputs and their definition alone (every
#: function they are given is part of it: ``nodes.func_fingerprint``), so the recook shortcuts of
#: ``engine.incremental`` (no-op proof, delta walk) may reuse an item whose inputs did not change
PURE_NODES = (
    g.Wedge,
    g.FrameRange,
    a.AttributeCreate,
    a.AttributeDelete,
    a.AttributeRename,
    a.AttributePromote,
    a.AttributeArray,
    a.AttributeCopy,
    a.PythonScript,
    f.FilterByExpression,
    f.SplitBranch,
    f.Merge,
    f.Sort,
    f.MapBy,
    p.PartitionByFrame,
    p.PartitionByIndex,
    p.PartitionByRange,
    c.PartitionByNode,
    c.PartitionByCombination,
    p.PartitionByComparison,
    p.PartitionByExpression,
    p.PartitionByTile,
)


def _switches(dynamic, merge, merge_output_files="all") -> dict:
    return {
        "use_dynamic_partitioning": dynamic,
        "merge_input_attributes": merge,
        "merge_output_files": merge_output_files,
    }


class NodeLibrary:
    """Mixed into ``Graph``: ``add`` and ``_upstream`` come from there."""

    if TYPE_CHECKING:
        # declared for the type checker only: ``Graph`` (engine.graph.api) defines both

        def add(self, node: Node) -> Node: ...

        @staticmethod
        def _upstream(upstream: Any) -> list[str]: ...

    def _processor(self, node, generate_when):
        set_generate_when(node, generate_when)
        return self.add(node)

    # -- generators ------------------------------------------------------------------------------
    def wedge(self, name: str, upstream=None, *, count: int | None = None, attributes=(), generate_when="automatic"):
        """PDG's Wedge: ``count`` items (times the upstream items, with an input), each with every
        wedge attribute's value for its wedge (``wedge_range``, ``wedge_values``, ``wedge_random``),
        ``wedgeindex``, ``wedgecount`` and ``wedgeattribs``."""
        return self._processor(g.Wedge(name, self._upstream(upstream), count, attributes), generate_when)

    def frame_range(
        self, name: str, upstream=None, *, start=1, end=1, step=1, attribute="frame", generate_when="automatic"
    ):
        """One item per frame start..end (inclusive) by step, with the ``frame`` attribute (times
        the upstream items, with an input)."""
        node = g.FrameRange(name, self._upstream(upstream), start, end, step, attribute=attribute)
        return self._processor(node, generate_when)

    # -- partitioners ----------------------------------------------------------------------------
    def partition_by_frame(
        self,
        name: str,
        upstream,
        *,
        frame_rounding="nearest",
        missing_frame="error",
        frame_as_index=False,
        split_by_attribute=None,
        use_dynamic_partitioning=None,
        merge_input_attributes=True,
        merge_output_files="all",
    ):
        """One partition per (rounded) frame; ``split_by_attribute`` keeps e.g. wedges apart."""
        return self.add(
            p.PartitionByFrame(
                name,
                self._upstream(upstream),
                frame_rounding=frame_rounding,
                missing_frame=missing_frame,
                frame_as_index=frame_as_index,
                split_by_attribute=split_by_attribute,
                **_switches(use_dynamic_partitioning, merge_input_attributes, merge_output_files),
            )
        )

    def partition_by_index(
        self,
        name: str,
        upstream,
        *,
        use_dynamic_partitioning=None,
        merge_input_attributes=True,
        merge_output_files="all",
    ):
        """One partition per index: the N-th items of every input together."""
        return self.add(
            p.PartitionByIndex(
                name,
                self._upstream(upstream),
                **_switches(use_dynamic_partitioning, merge_input_attributes, merge_output_files),
            )
        )

    def partition_by_range(
        self,
        name: str,
        upstream,
        *,
        size=1,
        step=None,
        start=None,
        end=None,
        attribute=None,
        range_type="custom",
        count=None,
        use_dynamic_partitioning=None,
        merge_input_attributes=True,
        merge_output_files="all",
    ):
        """Partitions of ``size`` consecutive indices (or values of ``attribute``), one every ``step``;
        or, by ``range_type``, ``count`` even partitions, partitions of ``size`` items, the first and
        last (``first_last``) or first, middle and last (``first_middle_last``) item of each input."""
        return self.add(
            p.PartitionByRange(
                name,
                self._upstream(upstream),
                size=size,
                step=step,
                start=start,
                end=end,
                attribute=attribute,
                range_type=range_type,
                count=count,
                **_switches(use_dynamic_partitioning, merge_input_attributes, merge_output_files),
            )
        )

    def partition_by_node(
        self,
        name: str,
        upstream,
        *,
        mode="node",
        allow_partial=False,
        sort_nodes_by="input_index",
        use_dynamic_partitioning=None,
        merge_input_attributes=True,
        merge_output_files="all",
    ):
        """One partition per input node (``mode="node"``), per tuple of the N-th items of the inputs
        (``"tuple"``, ``allow_partial`` for inputs of unequal length) or per combination of one
        item of each input (``"combination"``); ``sort_nodes_by`` ("input_index" or "name") orders
        the input nodes."""
        return self.add(
            c.PartitionByNode(
                name,
                self._upstream(upstream),
                mode=mode,
                allow_partial=allow_partial,
                sort_nodes_by=sort_nodes_by,
                **_switches(use_dynamic_partitioning, merge_input_attributes, merge_output_files),
            )
        )

    def partition_by_combination(
        self,
        name: str,
        upstream,
        *,
        mode="across",
        size=2,
        keep_percentage=None,
        seed=0,
        use_dynamic_partitioning=None,
        merge_input_attributes=True,
        merge_output_files="all",
    ):
        """A partition per combination: one item of each input (``across``) or every ``size``-group
        (``pairs``); ``keep_percentage`` keeps about that percentage of them, drawn with ``seed``."""
        return self.add(
            c.PartitionByCombination(
                name,
                self._upstream(upstream),
                mode=mode,
                size=size,
                keep_percentage=keep_percentage,
                seed=seed,
                **_switches(use_dynamic_partitioning, merge_input_attributes, merge_output_files),
            )
        )

    def partition_by_comparison(
        self,
        name: str,
        upstream,
        *,
        attribute=None,
        compare: Callable | None = None,
        keep_unmatched=False,
        use_dynamic_partitioning=None,
        merge_input_attributes=True,
        merge_output_files="all",
    ):
        """Each item of the first input with the items of the others that match it."""
        return self.add(
            p.PartitionByComparison(
                name,
                self._upstream(upstream),
                attribute=attribute,
                compare=compare,
                keep_unmatched=keep_unmatched,
                **_switches(use_dynamic_partitioning, merge_input_attributes, merge_output_files),
            )
        )

    def partition_by_expression(
        self,
        name: str,
        upstream,
        func: Callable,
        *,
        use_dynamic_partitioning=None,
        merge_input_attributes=True,
        merge_output_files="all",
    ):
        """One partition per distinct key ``func(item)`` returns."""
        return self.add(
            p.PartitionByExpression(
                name,
                self._upstream(upstream),
                func,
                **_switches(use_dynamic_partitioning, merge_input_attributes, merge_output_files),
            )
        )

    def partition_by_tile(
        self,
        name: str,
        upstream,
        *,
        tiles,
        bounds=None,
        attribute="P",
        use_dynamic_partitioning=None,
        merge_input_attributes=True,
        merge_output_files="all",
    ):
        """Spatial partitions: the items whose position falls in each tile of a grid over ``bounds``."""
        return self.add(
            p.PartitionByTile(
                name,
                self._upstream(upstream),
                tiles=tiles,
                bounds=bounds,
                attribute=attribute,
                **_switches(use_dynamic_partitioning, merge_input_attributes, merge_output_files),
            )
        )

    # -- attributes ------------------------------------------------------------------------------
    def attribute_create(
        self, name: str, upstream=None, attributes=None, *, flags=None, existing="replace", generate_when="automatic"
    ):
        """Set attributes (``@attr``-expanded strings) on a child of each upstream item."""
        node = a.AttributeCreate(name, self._upstream(upstream), attributes, flags=flags, existing=existing)
        return self._processor(node, generate_when)

    def attribute_delete(self, name: str, upstream, patterns, *, keep=False, generate_when="automatic"):
        """Drop attributes matching ``patterns`` (or keep only them)."""
        return self._processor(a.AttributeDelete(name, self._upstream(upstream), patterns, keep=keep), generate_when)

    def attribute_rename(self, name: str, upstream, renames: dict, *, generate_when="automatic"):
        """Rename attributes, old -> new."""
        return self._processor(a.AttributeRename(name, self._upstream(upstream), renames), generate_when)

    def attribute_promote(
        self, name: str, upstream, attribute: str, *, to="attribute", tag=None, generate_when="automatic"
    ):
        """Output files into a file attribute (``to="attribute"``), or a file attribute into output files."""
        node = a.AttributePromote(name, self._upstream(upstream), attribute, to=to, tag=tag)
        return self._processor(node, generate_when)

    def attribute_array(
        self,
        name: str,
        upstream,
        attribute: str,
        *,
        operation,
        values=(),
        sources=(),
        element=None,
        generate_when="automatic",
    ):
        """Append to an array attribute, concatenate attributes into one, or split one into items."""
        node = a.AttributeArray(
            name,
            self._upstream(upstream),
            attribute,
            operation=operation,
            values=values,
            sources=sources,
            element=element,
        )
        return self._processor(node, generate_when)

    def attribute_copy(
        self, name: str, upstream, source, *, attributes=("*",), match="index", merge_input_attributes=True
    ):
        """Copy attributes onto each upstream item from its matching item of ``source``."""
        target = self._upstream(upstream)
        src = self._upstream(source)
        if len(target) != 1 or len(src) != 1:
            raise GraphError(f"attribute copy {name}: give one upstream node and one source node")
        return self.add(
            a.AttributeCopy(
                name,
                target + src,
                source=src[0],
                attributes=attributes,
                match=match,
                merge_input_attributes=merge_input_attributes,
            )
        )

    # -- routing ---------------------------------------------------------------------------------
    def filter_by_expression(
        self, name: str, upstream, func: Callable, *, keep_matching=True, generate_when="automatic"
    ):
        """Pass on the items for which ``func(item)`` is true (false, with ``keep_matching=False``)."""
        node = f.FilterByExpression(name, self._upstream(upstream), func, keep_matching=keep_matching)
        return self._processor(node, generate_when)

    def split(
        self, name: str, upstream, func: Callable | None = None, *, count: int | None = None, generate_when="automatic"
    ):
        """Two nodes, ``name`` (the items ``func`` selects, or the first ``count`` indices) and
        ``name_else`` (the others), as PDG's Split's two outputs; returns both."""
        up = self._upstream(upstream)
        chosen = self._processor(f.SplitBranch(name, up, func=func, count=count, selected=True), generate_when)
        rest = self._processor(f.SplitBranch(f"{name}_else", up, func=func, count=count, selected=False), generate_when)
        return chosen, rest

    def merge(self, name: str, upstream, *, generate_when="automatic"):
        """Every item of every upstream node, passed on (several inputs into one node)."""
        return self._processor(f.Merge(name, self._upstream(upstream)), generate_when)

    def sort(
        self,
        name: str,
        upstream,
        *,
        attributes=(),
        key: Callable | None = None,
        reverse=False,
        use_dynamic_partitioning=None,
    ):
        """The upstream items in order of ``attributes`` (or ``key(item)``); their index is their place."""
        return self.add(
            f.Sort(
                name,
                self._upstream(upstream),
                attributes=attributes,
                key=key,
                reverse=reverse,
                use_dynamic_partitioning=use_dynamic_partitioning,
            )
        )

    def map_by_index(self, name: str, upstream, target, *, merge_input_attributes=True):
        """Each ``target`` item waits for the upstream items with its index."""
        return self._mapper(name, upstream, target, None, merge_input_attributes)

    def map_by_expression(self, name: str, upstream, target, func: Callable, *, merge_input_attributes=True):
        """Each ``target`` item waits for the upstream items ``func(source, target)`` maps to it."""
        if not callable(func):
            raise GraphError(f"map by expression {name}: give a function (source, target) -> bool")
        return self._mapper(name, upstream, target, func, merge_input_attributes)

    def _mapper(self, name, upstream, target, func, merge):
        sources = self._upstream(upstream)
        targets = self._upstream(target)
        if len(targets) != 1:
            raise GraphError(f"mapper {name}: give one target node")
        return self.add(
            f.MapBy(
                name,
                sources + targets,
                target=targets[0],
                func=func,
                use_dynamic_partitioning=func is not None,
                merge_input_attributes=merge,
            )
        )
