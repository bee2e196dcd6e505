"""Why a work item reran: the reason dicts the engine records, and the sentences they read as.

Every decision to rerun an item is a ``WorkItemDirtied`` event whose ``reason`` is a plain dict:

- ``cache_state``: PDG's vocabulary: ``dirty_new`` (no earlier record), ``dirty_empty`` (no
  successful result to reuse), ``dirty_missing`` (an output file is gone), ``dirty_stale`` (what it
  was made from changed, or an output was modified), ``dirty_always`` (its cache mode always
  writes, or a person dirtied it);
- ``cause``: what changed, one of the keys of ``CAUSES``;
- the facts that decided it: ``path`` with ``old_size``/``new_size`` and ``old_hash``/``new_hash``;
  ``node``/``parm`` with ``old``/``new`` values; ``func`` with old/new code fingerprints;
  ``from_item`` (the upstream item whose change this is) and, for partitions, ``added``/``removed``
  member ids, ``reordered`` (the same members in another order) and ``old_scheme`` (nothing
  changed but the scheme it was signed by: ``engine.incremental.signatures.signed_before``).

The constructors below are the one place a reason is made (the engine's decisions, the cache
check, manual dirtying); ``describe`` turns a reason into the clause ``pdg explain`` prints after
"because"; it reads nothing but the dict and a map of item ids to names, so history stays readable
after items are gone.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from pdgstore.events import HASH, SIZE

CACHE_STATES = ("clean", "clean_pending", "dirty_always", "dirty_empty", "dirty_missing", "dirty_new", "dirty_stale")


# -- constructors: one per cause, the keys in the order they are recorded -------------------------
def new() -> dict:
    return {"cause": "new", "cache_state": "dirty_new"}


def node_added(name: str) -> dict:
    """A node the graph's last recorded definitions lack (added, or renamed): each item it makes
    with no record is new for this reason, the cause ``new`` with the node named."""
    return {"cause": "new", "node": name, "cache_state": "dirty_new"}


def script_named(node: str, old: str, new: str) -> dict:
    """A python_script node that names its script ``new`` (relative to the graph's folder, as the
    graph does) where the store recorded ``old``, the absolute path an earlier pdgstore recorded:
    the same script, no change (``signatures.node_changes``); recorded with each item signed again
    under its definition as it is now, without running (``decide.work``)."""
    return {"cause": "script_named", "node": node, "old": old, "new": new, "cache_state": "clean"}


def no_result(state: str) -> dict:
    return {"cause": "no_result", "state": state, "cache_state": "dirty_empty"}


def file_changed(cause: str, path: str, old: list, new: list, cache_state: str = "dirty_stale") -> dict:
    """``cause`` file, input or output_modified: ``old`` and ``new`` are the file's records."""
    return {
        "cause": cause,
        "path": path,
        "old_size": old[SIZE],
        "new_size": new[SIZE],
        "old_hash": old[HASH],
        "new_hash": new[HASH],
        "cache_state": cache_state,
    }


def file_attribute(name: str, path: str, old: list | None, new: list) -> dict:
    """A file attribute's file changed (``engine.files.attrfiles``): ``old`` and ``new`` its records;
    ``old`` None when it had none (missing when recorded, or recorded by an earlier pdgstore)."""
    if old is None:
        reason = {"cause": "file_attribute", "name": name, "path": path, "unrecorded": True}
        return {**reason, "new_size": new[SIZE], "new_hash": new[HASH], "cache_state": "dirty_stale"}
    return {**file_changed("file_attribute", path, old, new), "name": name}


def file_attribute_missing(name: str, path: str) -> dict:
    return {"cause": "file_attribute_missing", "name": name, "path": path, "cache_state": "dirty_missing"}


def input_added(path: str) -> dict:
    return {"cause": "input_added", "path": path, "cache_state": "dirty_stale"}


def input_removed(path: str) -> dict:
    return {"cause": "input_removed", "path": path, "cache_state": "dirty_stale"}


def attribute(name: str, old, new) -> dict:
    return {"cause": "attribute", "name": name, "old": old, "new": new, "cache_state": "dirty_stale"}


def node(name: str) -> dict:
    return {"cause": "node", "node": name, "cache_state": "dirty_stale"}


def code(name: str, func: str, old, new) -> dict:
    return {"cause": "code", "node": name, "func": func, "old": old, "new": new, "cache_state": "dirty_stale"}


def parm(name: str, parm_name: str, old, new) -> dict:
    return {"cause": "parm", "node": name, "parm": parm_name, "old": old, "new": new, "cache_state": "dirty_stale"}


def members(added: list, removed: list, changed: list, *, reordered: bool = False, old_scheme: bool = False) -> dict:
    """``reordered``: the members both merges held are in another order (the first member's
    attribute wins a merge, and the files follow member order). ``old_scheme``: it was signed by an
    earlier pdgstore (``signatures.signed_before``), recorded when that is all that changed."""
    reason: dict = {"cause": "members", "cache_state": "dirty_stale"}
    if added:
        reason["added"] = added
    if removed:
        reason["removed"] = removed
    if changed:
        reason["changed"] = changed
        reason["from_item"] = changed[0]
    if reordered:
        reason["reordered"] = True
    if old_scheme and len(reason) == 2:
        reason["old_scheme"] = True
    return reason


def output_modified(path: str, old: list, new: list) -> dict:
    """An output found changed; the cook adds ``written_by`` when another work item records that
    file too (``engine.cook.sameoutputs``): ``describe`` names it."""
    return {
        "cause": "output_modified",
        "cache_state": "dirty_stale",
        "path": path,
        "old_size": old[SIZE],
        "new_size": new[SIZE],
        "old_hash": old[HASH],
        "new_hash": new[HASH],
    }


def output_missing(path: str) -> dict:
    return {"cause": "output_missing", "cache_state": "dirty_missing", "path": path}


def output_taken(path: str, owner: str, owner_name: str) -> dict:
    """An expected file that exists but is the recorded output of another work item (``owner``, its
    id; ``owner_name``, its name then, said once it is gone): not this item's result, so the cache
    check does not take it (``engine.cook.owners``)."""
    return {
        "cause": "output_taken",
        "cache_state": "dirty_missing",
        "path": path,
        "owner": owner,
        "owner_name": owner_name,
    }


def cache_miss(path: str, handler: str) -> dict:
    return {"cause": "cache_miss", "cache_state": "dirty_missing", "path": path, "handler": handler}


def cache_mode(mode: str) -> dict:
    return {"cause": "cache_mode", "mode": mode, "cache_state": "dirty_always"}


def user(message: str) -> dict:
    return {"cause": "user", "cache_state": "dirty_always", "message": message}


def appended(batch: str, first_sub: str) -> dict:
    """A sub-item the job of ``batch`` appended (``appendSubItem``): new, it runs for what its batch
    ran for, which its batch's first sub-item ``first_sub`` says (the chain ``pdg explain`` follows)."""
    return {"cause": "appended", "batch": batch, "from_item": first_sub, "cache_state": "dirty_new"}


def upstream() -> dict:
    return {"cause": "upstream", "cache_state": "dirty_stale"}


def upstream_cancelled(item_id: str, cook_id: int, result_state: str) -> dict:
    """A result (in ``result_state``) below ``item_id``, which cook ``cook_id`` was to run again (a
    change reached it) and was cancelled before it finished: what the result was made from may be
    stale. Recorded again with ``kept`` when what it depends on came out the same after all."""
    return {
        "cause": "upstream_cancelled",
        "from_item": item_id,
        "cook": cook_id,
        "result_state": result_state,
        "cache_state": "dirty_stale",
    }


def from_item(reason: dict, producer: str | None) -> dict:
    """``reason`` naming the upstream item whose change it is (the chain ``pdg explain`` follows)."""
    if producer:
        reason["from_item"] = producer
    return reason


# What a recorded result (``WorkItemCooked.reason``) says about how it was had without running.
def accepted() -> dict:
    """A result a person accepted (``pdg accept``), confirmed under the signature of this cook."""
    return {"accepted": True}


def from_cache(mode: str, paths: list) -> dict:
    """Cooked from the cache: its expected files stood in for running it."""
    return {"cache_mode": mode, "files": paths}


# -- sentences ------------------------------------------------------------------------------------
def _short(h) -> str:
    return str(h)[:12] if h else "none"


def _value(v) -> str:
    return repr(v) if not isinstance(v, str) else repr(v)


def _file_change(what: str, r: dict, whose: str = "") -> str:
    facts = []
    if r.get("old_size") != r.get("new_size"):
        facts.append(f"size {r.get('old_size')} -> {r.get('new_size')}")
    if r.get("old_hash") != r.get("new_hash"):
        facts.append(f"hash {_short(r.get('old_hash'))} -> {_short(r.get('new_hash'))}")
    tail = ": " + ", ".join(facts) if facts else ""
    return f"{what} {r['path']}{whose} changed{tail}"


CAUSES: dict[str, Callable[[dict, Callable[[str], str]], str]] = {
    "new": lambda r, name: f"node {r['node']} is new in the graph" if r.get("node") else "it is new",
    "no_result": lambda r, name: f"it has no result to reuse (it was {r.get('state', 'not cooked')})",
    "file": lambda r, name: _file_change("its file", r),
    "file_missing": lambda r, name: f"its file {r['path']} is gone",
    "input": lambda r, name: _file_change("its input", r),
    "file_attribute": lambda r, name: _file_attribute(r),
    "file_attribute_missing": lambda r, name: f"the file {r['path']} of its file attribute {r['name']} is missing",
    "input_added": lambda r, name: f"it has a new input {r['path']}",
    "input_removed": lambda r, name: f"its input {r['path']} is gone",
    "attribute": lambda r, name: f"its attribute {r['name']} changed: {_value(r.get('old'))} -> {_value(r.get('new'))}",
    "parm": lambda r, name: (
        f"parameter {r['parm']} of {r['node']} changed: {_value(r.get('old'))} -> {_value(r.get('new'))}"
    ),
    "code": lambda r, name: (
        f"the code of {r.get('func') or r['node']} changed: {_short(r.get('old'))} -> {_short(r.get('new'))}"
    ),
    "node": lambda r, name: f"node {r['node']} changed",
    "script_named": lambda r, name: (
        f"node {r['node']} names its script {r['new']} relative to the graph's folder, where an earlier"
        f" pdgstore recorded {r['old']}: the same script"
    ),
    "members": lambda r, name: _members(r, name),
    "output_missing": lambda r, name: f"its output {r['path']} is missing",
    "output_modified": lambda r, name: _file_change("its output", r) + _written_by(r, name),
    "output_taken": lambda r, name: f"its expected file {r['path']} was recorded as the output of {_owner(r, name)}",
    "cache_miss": lambda r, name: f"cache handler {r.get('handler')} reported a miss for {r['path']}",
    "cache_mode": lambda r, name: f"its node's cache mode is {r.get('mode')}",
    "user": lambda r, name: f"it was dirtied by hand ({r.get('message') or 'pdg dirty'})",
    "upstream": lambda r, name: "what it was made from changed",
    "appended": lambda r, name: (
        f"its batch {r['batch']}'s job appended it (appendSubItem): the batch ran for what {name(r['from_item'])} ran for"
    ),
    "upstream_cancelled": lambda r, name: (
        f"cook {r.get('cook', '')} was cancelled before {name(r['from_item'])}, upstream of it, ran again"
    ),
}


def _written_by(r: dict, name: Callable[[str], str]) -> str:
    """An output another item records too (``written_by``: ``engine.cook.sameoutputs``)."""
    other = r.get("written_by")
    return f"; work item {name(other)} writes the same file" if other else ""


def _file_attribute(r: dict) -> str:
    if r.get("unrecorded"):
        return (
            f"the file {r['path']} of its file attribute {r['name']} is there now, with no size or hash recorded"
            f" (missing when recorded, or recorded by an earlier pdgstore): size {r.get('new_size')},"
            f" hash {_short(r.get('new_hash'))}"
        )
    return _file_change("the file", r, f" of its file attribute {r['name']}")


def _owner(r: dict, name: Callable[[str], str]) -> str:
    """The item whose output a file was: by its name now, else (gone since) by its name then, as
    without a map of names (``describe``'s default)."""
    owner = r["owner"]
    shown = name(owner)
    if shown != owner:
        return f"work item {shown}"
    return f"work item {r.get('owner_name') or owner}" + (" (since removed)" if name is not str else "")


def _members(r: dict, name: Callable[[str], str]) -> str:
    parts = []
    if r.get("added"):
        parts.append("added " + ", ".join(name(i) for i in r["added"]))
    if r.get("removed"):
        parts.append("removed " + ", ".join(name(i) for i in r["removed"]))
    if r.get("changed"):
        parts.append("changed " + ", ".join(name(i) for i in r["changed"]))
    if r.get("reordered"):
        if not parts:
            return "its members are the same, now in another order (work item order)"
        parts.append("reordered")
    if r.get("old_scheme"):
        return "it was merged by an earlier pdgstore (signed otherwise); its members and their order are the same"
    return "its members changed: " + "; ".join(parts) if parts else "its members changed"


def describe(reason: dict, name: Callable[[str], str] = str, path: Callable[[str], str] = str) -> str:
    """The clause for ``reason`` ("its input in/a.txt changed: size 54 -> 61, hash ... -> ..."),
    its file named by ``path`` (by default as recorded, relative to the project: ``shown``)."""
    if "path" in reason and path is not str:
        reason = {**reason, "path": path(reason["path"])}
    render = CAUSES.get(reason.get("cause", ""), CAUSES["upstream"])
    try:
        return render(reason, name)
    except KeyError:  # a reason missing a fact still reads as something
        return CAUSES["upstream"](reason, name)


def shown(root: str, here: Callable[[str], str] | None) -> Callable[[str], str]:
    """How a reason names a file of the project at ``root``: as recorded (relative to the project),
    or, given ``here`` (the command line's: an absolute path as the user names it from where they
    stand), through it, as every other path a command prints."""
    if here is None:
        return str
    return lambda path: here(os.path.join(root, path))
