"""What a work item's results were made from, and how to say what changed.

An item's **signature** hashes everything its results depend on: its node's definition (type,
inputs, parameters, code fingerprint, the plain values its function reads), the attributes it starts
with, and the identity of its input files (path, tag and content hash: never the mtime, so a touch
changes nothing), and of its file attributes' files alike (``attrfiles.identity``). A partition's
signature hashes its members and their results. The engine records the signature with each result;
a later cook computes it again and reuses the result when it matches and the item's own files pass
the cache check. Early cutoff falls out of this: an upstream item that reran but made the same
files and attributes leaves its dependents' signatures unchanged.

When a signature differs, ``why`` compares the old record with the new inputs to name the fact that
changed (which file, which attribute, which parameter), for the ``WorkItemDirtied`` event.
"""

from __future__ import annotations

import os

import msgpack
import xxhash
from pdgstore.engine.files import attrfiles

from pdgstore import reasons
from pdgstore.events import HASH, PATH, TAG

_pack = msgpack.Packer(use_bin_type=True).pack


def _digest(value) -> str:
    return xxhash.xxh3_64_hexdigest(_pack(value))


def node_fingerprint(described: dict) -> str:
    """A node's definition (as ``Graph.describe`` records it), hashed; the name is not part of it."""
    return _digest([described["type"], described["inputs"], described["parms"]])


def file_identity(records: list) -> list:
    """(path, tag, hash) of each file record: what a signature hashes of it. Tuples: msgpack writes
    them as the arrays lists make (the signatures stay), and they cost less to make."""
    return [(r[PATH], r[TAG], r[HASH]) for r in records]


#: lists of files this long or longer are hashed a file at a time (``item_signature``)
STREAM_FROM = 1024


def item_signature(node_fp: str, attrs: dict, inputs: list, outputs: list | None = None) -> str:
    """The signature of a processor item: its node, starting attributes and input files (and, for an
    item born cooked, the files it holds): the digest of ``[node_fp, attrfiles.identity(attrs),
    file_identity(inputs), file_identity(outputs) or None]`` packed. The item a gather makes has an
    input per member (100,000 at W(100,000)): then the packing is fed to the hash a file at a
    time, as ``partition_signature`` feeds it a member at a time (the same digest, without the
    list of every file's identity and its bytes held at once)."""
    if len(inputs) < STREAM_FROM and (not outputs or len(outputs) < STREAM_FROM):
        return _digest(
            [node_fp, attrfiles.identity(attrs), file_identity(inputs), file_identity(outputs) if outputs else None]
        )
    packer = msgpack.Packer(use_bin_type=True)
    hasher = xxhash.xxh3_64()
    hasher.update(packer.pack_array_header(4))
    hasher.update(packer.pack(node_fp))
    hasher.update(packer.pack(attrfiles.identity(attrs)))
    _update_with_files(hasher, packer, inputs)
    if outputs:
        _update_with_files(hasher, packer, outputs)
    else:
        hasher.update(packer.pack(None))
    return hasher.hexdigest()


def _update_with_files(hasher, packer: msgpack.Packer, records: list) -> None:
    """Feed ``hasher`` the packing of ``file_identity(records)``, a file at a time."""
    hasher.update(packer.pack_array_header(len(records)))
    pack, update = packer.pack, hasher.update
    for r in records:
        update(pack((r[PATH], r[TAG], r[HASH])))


#: what begins a partition's signature: the scheme below (a sum of one term per member), over its
#: members in work item order (``engine.graph.workitem.work_item_order``; ``m2:`` signed them in
#: the order of (index, id), so a partition signed so may hold them in another: ``signed_before``)
PARTITION_SCHEME = "m3:"
_MASK = (1 << 64) - 1


def partition_signature(node_fp: str, attrs: dict, members: list) -> str:
    """The signature of a partition: its node, its own attributes, how many members it holds, and
    each member's place, id, files (path, tag, hash) and attributes. Why a sum: a partition may hold
    a million members, and a recook after one of them changed must not read them all to sign the
    partition again. The signature is the 64-bit sum of one hash for the partition
    (``_partition_term``) and one per member (``member_term``: its place is in it, so the order
    counts), so a member's change patches it (``patched_partition_signature``) at the cost of that
    member alone. Prefixed with ``PARTITION_SCHEME``: a signature of the scheme before it (one
    digest of the whole packing) is never patched, only made again."""
    total = _partition_term(node_fp, attrs, len(members))
    for index, member in enumerate(members):
        total += member_term(index, member)
    return f"{PARTITION_SCHEME}{total & _MASK:016x}"


def member_term(index: int, member) -> int:
    """A member's part of its partition's signature: its place, id, files and attributes
    (``member``: anything with ``item_id``, ``outputs`` and ``attrs``)."""
    files = [(r[PATH], r[TAG], r[HASH]) for r in member.outputs]
    attrs = attrfiles.identity(member.attrs) if member.attrs else []
    return xxhash.xxh3_64_intdigest(_pack((index, member.item_id, files, attrs)))


def _partition_term(node_fp: str, attrs: dict, count: int) -> int:
    return xxhash.xxh3_64_intdigest(_pack((PARTITION_SCHEME, node_fp, attrfiles.identity(attrs), count)))


def signed_before(signature: str) -> bool:
    """A partition's signature of an earlier scheme (``m2:``...; a processor's is hex, never
    ``m``-prefixed): its members may be in an order the walk no longer gives, so it is not reused
    unchecked (``decide.settled``), and a merge again that finds them in another order says so."""
    return signature[:1] == "m" and not signature.startswith(PARTITION_SCHEME)


def patched_partition_signature(signature: str, changes: list) -> str | None:
    """``signature`` (a partition's, ``partition_signature``) after some members changed in place
    (the same node, own attributes and members, in the same order): ``changes`` lists ``(index,
    before, after)`` of each, ``before`` and ``after`` as ``member_term`` reads them. None for a
    signature of another scheme, which must be made again from every member."""
    if not signature.startswith(PARTITION_SCHEME):
        return None
    try:
        total = int(signature[len(PARTITION_SCHEME) :], 16)
    except ValueError:
        return None
    for index, before, after in changes:
        total += member_term(index, after) - member_term(index, before)
    return f"{PARTITION_SCHEME}{total & _MASK:016x}"


def grown_partition_signature(signature: str, node_fp: str, attrs: dict, count: int, change: tuple) -> str:
    """``signature`` (of a partition of ``count`` members, patched for those remade in place) after
    the members after its first ``kept`` went (``gone``) and ``added`` came in their places
    (``change``: kept, gone, added): its count's term made again, theirs taken out and added, as
    ``partition_signature`` of every member gives it."""
    kept, gone, added = change
    total = int(signature[len(PARTITION_SCHEME) :], 16)
    total += _partition_term(node_fp, attrs, kept + len(added)) - _partition_term(node_fp, attrs, count)
    for index, member in enumerate(gone, start=kept):
        total -= member_term(index, member)
    for index, member in enumerate(added, start=kept):
        total += member_term(index, member)
    return f"{PARTITION_SCHEME}{total & _MASK:016x}"


def _flat(parms, prefix: str = "") -> dict:
    out = {}
    if isinstance(parms, dict):
        for key, value in parms.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    out[prefix[:-1]] = parms
    return out


def node_changes(old_nodes: list, new_nodes: list) -> dict[str, dict]:
    """For each node whose definition changed since ``old_nodes``, the reason (first fact only). A
    node ``old_nodes`` lack (added or renamed since: none when there are none, a graph's first cook)
    is a change too: its items were never made, so no proof that every item is reused (``noop``,
    the no-op manifest) or walk from the items recorded (``delta``) may leave it out."""
    old = {n["name"]: n for n in old_nodes}
    changes = {}
    for node in new_nodes:
        name = node["name"]
        before = old.get(name)
        if before is None:
            if old:
                changes[name] = reasons.node_added(name)
            continue
        fp = node_fingerprint(before)
        if fp == node_fingerprint(node):
            continue
        named = _named_now(before, node)
        if named is not None:  # recorded by an earlier pdgstore: the change is in the rest, if any
            if node_fingerprint(named) == node_fingerprint(node):
                was = before["parms"]["command"][0]
                changes[name] = {**reasons.script_named(name, was, named["parms"]["script"]), "recorded_fp": fp}
                continue
            before = named
        changes[name] = _node_change(name, before, node)
    return changes


def _named_now(before: dict, after: dict) -> dict | None:
    """A python_script node's recorded definition ``before`` as it names its script now, None when
    it names it so already (or is another node's). An earlier pdgstore recorded the script's
    absolute path in the ``command`` (the graph's folder then, joined with the ``script`` the graph
    names), now the script as the graph names it: when every other fact is the same, the script's
    hash among them, the items it made stand, as after moving the project (``reasons.script_named``,
    with the recorded definition's fingerprint, under which ``decide.work`` finds them and signs
    them again)."""
    if before["type"] != "python_script" or after["type"] != "python_script":
        return None
    old, script = before["parms"], after["parms"].get("script")
    was, now = old.get("command") or [""], after["parms"].get("command") or [""]
    if not isinstance(script, str) or os.path.isabs(script) or now[0] != script or not isinstance(was[0], str):
        return None
    if not (os.path.isabs(was[0]) and was[0].endswith(os.sep + script)):
        return None
    return {**before, "parms": {**old, "command": [script, *was[1:]]}}


def _node_change(name: str, before: dict, after: dict) -> dict:
    if before["type"] != after["type"] or before["inputs"] != after["inputs"]:
        return reasons.node(name)
    old_p, new_p = _flat(before["parms"]), _flat(after["parms"])
    if old_p.get("code") != new_p.get("code"):
        return reasons.code(name, after["parms"].get("func", ""), old_p.get("code"), new_p.get("code"))
    for key in sorted(set(old_p) | set(new_p)):
        if old_p.get(key) != new_p.get(key):
            parm = key.split(".", 1)[1] if key.startswith(("parms.", "reads.")) else key
            return reasons.parm(name, parm, old_p.get(key), new_p.get(key))
    return reasons.node(name)


def why(prev, attrs: dict, inputs: list, producers: dict[str, str], parent: str | None = None) -> dict:
    """Why a processor item whose node is unchanged has a new signature: the first input file or
    starting attribute that differs from its record. ``producers`` maps a file path to the item id
    that made it, ``parent`` is the item that handed its attributes down (for the chain ``pdg
    explain`` follows)."""
    old_inputs = {r[PATH]: r for r in prev.inputs}
    new_inputs = {r[PATH]: r for r in inputs}
    for path, rec in new_inputs.items():
        old = old_inputs.get(path)
        if old is None:
            return reasons.from_item(reasons.input_added(path), producers.get(path))
        if old[HASH] != rec[HASH] or old[TAG] != rec[TAG]:
            return reasons.from_item(reasons.file_changed("input", path, old, rec), producers.get(path))
    for path in old_inputs:
        if path not in new_inputs:
            return reasons.input_removed(path)
    for name, value in sorted(attrs.items()):
        old = prev.attrs.get(name)
        if old != value and attrfiles.attr_identity(old) != attrfiles.attr_identity(value):  # (not a touch)
            reason = attrfiles.why(name, old, value) or reasons.attribute(name, _plain_attr(old), _plain_attr(value))
            return reasons.from_item(reason, parent)
    return reasons.upstream()


def _plain_attr(attr):
    if attr is None:
        return None
    values = attr[1] if not attrfiles.is_file(attr) else [v[:2] for v in attr[1]]  # (path and tag: the value)
    return values[0] if len(values) == 1 else values


def why_members(prev_parents: list, now: list[str], changed_now: set, old_scheme: bool = False) -> dict:
    """Why a partition's signature changed: members (``now``: their ids) added, removed, or remade
    in this cook, or the same members in another order (a partition merged before members were
    ordered in work item order, ``signed_before``, or whose upstream items were renumbered).
    ``old_scheme``: its signature was ``signed_before``, which alone may have changed it."""
    before = set(prev_parents)
    after = set(now)
    added = [i for i in now if i not in before]
    removed = [i for i in prev_parents if i not in after]
    changed = [i for i in now if i in changed_now and i in before]
    kept_before = [i for i in prev_parents if i in after]
    reordered = kept_before != [i for i in now if i in before]
    return reasons.members(added, removed, changed, reordered=reordered, old_scheme=old_scheme)
