"""Generate When: when a processor makes its work items (seed 004), and which nodes are static.

PDG's modes, in snake_case, on every processor (``generate_when=``):

- ``automatic`` (the default): static when the node can generate statically and every input is
  static, or when it has no input; otherwise each upstream item is cooked.
- ``all_upstream_generated`` (PDG's "All Upstream Items are Generated", ``static``): the node's
  items are made as soon as its upstream items exist, before they cook, so they are known (and
  counted) ahead. Only a node whose ``generate`` reads nothing a parent makes by cooking can
  (``static_generation``); asking it of another is refused.
- ``all_upstream_cooked`` ("All Upstream Items are Cooked"): the node waits until every upstream
  item has cooked, then makes all its items at once.
- ``each_upstream_cooked`` ("Each Upstream Item is Cooked", ``dynamic``): one parent's children are
  made as soon as that parent cooks.

A partitioner is static unless it uses dynamic partitioning; a Wait for All is static even over
dynamic inputs, since it always makes one item (seed 004: it "can convert a dynamic number of work
items to a static number (one)").
"""

from __future__ import annotations

from pdgstore.engine.errors import GraphError

MODES = ("automatic", "all_upstream_generated", "all_upstream_cooked", "each_upstream_cooked")
ALIASES = {"static": "all_upstream_generated", "dynamic": "each_upstream_cooked"}


def set_generate_when(node, mode: str) -> None:
    """Give ``node`` its Generate When mode (refusing what it cannot do)."""
    mode = ALIASES.get(mode, mode)
    if mode not in MODES:
        raise GraphError(
            f"node {node.name}: generate_when is one of {', '.join(MODES)} (or static, dynamic), not {mode!r}"
        )
    if mode == "all_upstream_generated" and not getattr(node, "static_generation", False):
        raise GraphError(
            f"node {node.name} cannot generate statically (its items depend on what its inputs cook); "
            "use each_upstream_cooked or all_upstream_cooked"
        )
    node.generate_when = mode


def effective_modes(graph, order: list[str]) -> dict[str, str]:
    """Every processor's mode with ``automatic`` resolved, and each partitioner as ``static`` or
    ``dynamic``: what a cook and ``--generate-only`` go by. ``order`` is topological."""
    out: dict[str, str] = {}
    static: dict[str, bool] = {}
    for name in order:
        node = graph.nodes[name]
        inputs_static = all(static.get(up, False) for up in node.inputs)
        if node.is_partitioner:
            is_static = node.type_name == "wait_for_all" or (not node.needs_cooked_inputs and inputs_static)
            out[name] = "static" if is_static else "dynamic"
            static[name] = is_static
            continue
        mode = getattr(node, "generate_when", "automatic")
        if not node.inputs:
            mode = "all_upstream_generated"
        elif mode == "automatic":
            can = getattr(node, "static_generation", False) and inputs_static
            mode = "all_upstream_generated" if can else "each_upstream_cooked"
        out[name] = mode
        static[name] = mode == "all_upstream_generated" and inputs_static
    return out
