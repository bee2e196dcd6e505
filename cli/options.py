"""Options, and the checks of their values, shared by several commands: defined once."""

from __future__ import annotations

import click
from pdgstore.engine.errors import UnknownNode

from pdgstore import queries

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (stable keys) instead of a table.")
at_option = click.option(
    "--at",
    "at",
    metavar="REF",
    help="As the store was at REF: a seq (123), a cook (cook:7), cook~N (N cooks ago), a time "
    "(2026-11-30T14:05) or a span ago (2h).",
)
db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False),
    envvar="PDG_DB",
    help="The store to use (default: .pdg/pdg.db here or in a parent directory; or $PDG_DB).",
)


def require_node(state, node: str) -> None:
    """Refuse a NODE argument that names no node the store knows (defined or with items)."""
    names = [n for _, n in queries.node_order(state)]
    if node not in names:
        raise UnknownNode(f"the store has no node {node} (its nodes: {', '.join(names) or 'none'})")
