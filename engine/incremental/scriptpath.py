"""A python_script item recorded by an earlier pdgstore, which named the script by its absolute path.

A python_script node's definition names its script as the graph does, relative to the graph's
folder (``engine.graph.commands.PythonScriptProcessor``), so a project moved or copied elsewhere has
the same definition. An earlier pdgstore recorded the script's absolute path in the ``command``
instead: the first cook after the upgrade finds the definition changed in that alone
(``signatures.node_changes`` gives ``reasons.script_named``, with the recorded definition's
fingerprint), which is no change of what the items were made from. Rerunning every item once (10^5
jobs in a large store) would be the cost of a path's spelling, so an item that finished under the
recorded definition, from the attributes and input files it has now, is signed again under the
definition as it is now without running (``decide.work``: an update, its files passing the cache
check as a reused item's do); ``pdg explain`` says why. Any other change (its inputs, the script's
bytes, an argument) is decided as usual: the item runs, for that change.
"""

from __future__ import annotations

from pdgstore.engine.incremental.signatures import item_signature

from pdgstore.events import DONE_STATES


def signed_as_recorded(prev, new: dict, node_reason: dict | None) -> bool:
    """``prev`` finished under its node's recorded definition, which names its script otherwise
    alone (``node_reason``: ``reasons.script_named``), from the attributes and input files ``new``
    has now: its results are what running it now would make."""
    return (
        node_reason is not None
        and node_reason["cause"] == "script_named"
        and prev.state in DONE_STATES
        and prev.signature == item_signature(node_reason["recorded_fp"], new["attrs"], new["inputs"])
    )


def signed_again(prev, records: list, signature: str, node_reason: dict | None) -> dict:
    """The ``WorkItemCooked`` fields (but ``started_ns``) that record ``prev``'s result again under
    ``signature`` (``signed_as_recorded``): its files as the cache check found them (``records``),
    and why in its ``reason``, which ``pdg explain`` reads."""
    return {
        "item_id": prev.item_id,
        "state": prev.state,
        "outputs": records,
        "duration_ns": prev.duration_ns,
        "signature": signature,
        "reason": {k: v for k, v in (node_reason or {}).items() if k != "recorded_fp"},
    }
