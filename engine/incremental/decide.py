"""Whether a work item runs, and why: every decision of a cook, as pure functions.

This is the one module that decides. Each function takes facts (the item's previous record, the
signature it would be made from, its node's cache mode and the reason its node changed, the stat
results of its files, the cache check's answer) and returns a ``Decision``: the action, the reason
(recorded with ``WorkItemDirtied`` and shown by ``pdg cook --dry-run``), the events to append, in
order, and the result to record. Nothing here reads a file, the clock or the store, calls a user's
handler or starts anything: the cook (``engine.cook.items``) gathers the facts and carries the
decision out, and a dry run simply does not carry it out (``tests/test_decide.py`` tests the
decisions with no disk and no clock).

A decision may need a fact that costs something to have: the item's expected output files
(expanding the node's expressions for it) or the cache check of its files (which calls the user's
cache handlers), or which other item records a file a cache hit would take. Then it says so
(``NEED_EXPECTED``, ``NEED_CACHE_CHECK`` with the files to check, ``NEED_OWNERS`` with the files
to look up), and the caller asks again with the fact, as dask.distributed's worker state machine
hands back instructions for its caller to carry out.

The outcomes, by kind of item:

- an item with work (a processor's): reuse it, cook it from the cache, fail it without running
  (cache mode always read and its files are missing), or run it;
- an item born cooked (a file pattern's), and a partition once its members cooked: reuse it, or
  record its new result at once (update);
- every kind: a recorded item that is clean (it finished, was not dirtied or accepted by hand, its
  files have their recorded (mtime_ns, size)) and whose parents were not remade is reused without
  computing its signature, in nodes where that is known to be safe (``engine.incremental.noop``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from pdgstore.engine.files import attrfiles
from pdgstore.engine.incremental import held, scriptpath
from pdgstore.engine.incremental.signatures import signed_before, why, why_members

from pdgstore import events as ev
from pdgstore import reasons
from pdgstore.events import DONE_STATES, HASH, MTIME_NS, PATH, SIZE
from pdgstore.state import ACCEPTED

# actions: what becomes of the item
REUSE = "reuse"  # keep its recorded result
UPDATE = "update"  # an item without work: its new result is recorded now
RUN = "run"  # queue it to run
CACHE = "cache"  # its expected files stand in for running it
FAIL = "fail"  # it fails without running
REMOVE = "remove"  # the node did not generate it again
# requests: the decision needs one more fact; the caller finds it and asks again
NEED_EXPECTED = "need_expected"
NEED_CACHE_CHECK = "need_cache_check"
NEED_OWNERS = "need_owners"  # the files a cache hit would take that the item did not record: whose are they?


class Decision(NamedTuple):
    """What becomes of one item. ``events``: (event class, fields) to append first, in order;
    ``result``: the fields of the ``WorkItemCooked`` that records the outcome now (UPDATE of a
    partition, CACHE, FAIL), without its ``started_ns``, which the caller stamps; ``files``: for
    NEED_CACHE_CHECK, the file records to check."""

    action: str
    reason: dict | None = None
    events: tuple = ()
    result: dict | None = None
    files: list | None = None


_REUSED = Decision(REUSE)
_NEED_EXPECTED = Decision(NEED_EXPECTED)


# -- facts every kind of item shares -----------------------------------------------------------------
def record_of(item):
    """The record a decision weighs, None when there is none worth it: an item only announced
    (recorded before its parents cooked, by a cook or ``--generate-only``) or a partition placed but
    never merged is decided as new; one ``held`` below a cancel, as the result it holds."""
    if (
        item is not None
        and item.state in ("uncooked", "waiting")
        and not item.signature
        and not item.reason
        and not item.outputs
    ):
        return None
    return held.as_result(item) if item is not None and item.state == "dirty" and held.is_held(item) else item


def announced_as(item, new: dict) -> bool:
    """``item``, the recorded one, is ``new`` exactly as it was announced and never cooked since
    (``--generate-only``'s static items, an interrupted cook's): running it needs no second
    ``WorkItemGenerated``, which would record the same fields again (``without_generation``)."""
    return (
        item is not None
        and item.state == "uncooked"  # only announced (``record_of``), and not a placed partition
        and record_of(item) is None
        and not new["outputs"]
        and item.node == new["node"]
        and item.name == new["name"]
        and item.index == new["index"]
        and item.parents == new["parents"]
        and item.inputs == new["inputs"]
        and item.attrs == new["attrs"]
    )


def without_generation(decision: Decision) -> Decision:
    """``decision`` about an item ``announced_as`` it is generated now: its events but the generation."""
    events = decision.events
    if len(events) == 1 and events[0][0] is ev.WorkItemGenerated:  # a run (``_run``): each static item's
        return Decision(decision.action, decision.reason, (), decision.result, decision.files)
    return decision._replace(events=tuple(e for e in events if e[0] is not ev.WorkItemGenerated))


def settled(item) -> bool:
    """An item that finished and was not dirtied or accepted by hand since: what ``unchanged`` asks
    before it looks at the item's files (an item not settled is not reused, whatever its files).
    A partition signed by an earlier scheme is not (``signatures.signed_before``): its members may
    be in an order the walk no longer gives, which only partitioning them again tells."""
    signature = item.signature
    return (
        item.state in DONE_STATES
        and signature not in ("", ACCEPTED)
        and not item.reason
        and not signed_before(signature)
    )


def unchanged(item, stats: dict, root: str, changed: set | None = None) -> bool:
    """An item that is ``settled`` and whose files (outputs, and its file attributes' files:
    ``attrfiles.unchanged``) still have their recorded (mtime_ns, size) in ``stats`` (absolute path
    -> stat result or None). ``changed``: the recorded paths a stat scan already found changed,
    looked up instead of the stats."""
    if not settled(item):
        return False
    if changed is not None:
        for o in item.outputs:
            if o[PATH] in changed:
                return False
        return attrfiles.untouched(item.attrs, changed)
    get = stats.get
    prefix = root if root.endswith("/") else root + "/"
    for o in item.outputs:
        path = o[PATH]
        st = get(path if path[:1] == "/" else prefix + path)
        if st is None or st.st_mtime_ns != o[MTIME_NS] or st.st_size != o[SIZE]:
            return False
    return attrfiles.unchanged(item.attrs, stats, root)


def clean(prev, parents: list, stats: dict, root: str, remade: set) -> bool:
    """``prev`` can be reused as it is: it and its files are ``unchanged``, and it has the same
    parents, none of them remade in this cook (so its starting attributes and inputs are the same)."""
    if prev.parents != parents or not unchanged(prev, stats, root):
        return False
    return not any(p in remade for p in parents)


def born_as_recorded(prev, new: dict, stats: dict, root: str, remade: set) -> bool:
    """An item born cooked is the one recorded: the same files, inputs and attributes, and clean."""
    return (
        prev.outputs == new["outputs"]
        and prev.inputs == new["inputs"]
        and prev.attrs == new["attrs"]
        and clean(prev, new["parents"], stats, root, remade)
    )


def stale_reason(prev, node_reason: dict | None, since: Callable[[], dict | None] | None = None) -> dict | None:
    """The reason every kind of item shares: its node changed, or it has no result to reuse. A
    node's reason is the one dict for all its items (no reason is ever changed once made: each is
    packed into its event as it is recorded); a copy each cost 136 bytes an item, a recook after a
    code change at W(1,000,000) about 140 MB.

    A reason says what changed since the item's last result. An item that was dirtied, regenerated
    to run (its record holds the attempt's attributes and inputs, and no signature) and did not
    finish (cancelled, failed, its cook died) keeps the reason of that attempt, the change since its
    last result, brought up to date by what changed since the attempt (``node_reason``, else
    ``since()``, the item's own change from the attempt's record, None for none): ``since_result``.
    A node the last recorded definitions lack (``reasons.node_added``), or that names its script
    otherwise alone (``reasons.script_named``), names no change of a recorded item: that item's
    signature tells whether it was made under the definition it has now (or the recorded one)."""
    if not redefines(node_reason):
        node_reason = None
    if prev.state in DONE_STATES:
        return node_reason
    earlier = prev.reason
    if not attempted(prev):  # never attempted after a change, or dirtied by hand since its result
        return node_reason or (dict(earlier) if earlier else reasons.no_result(prev.state))
    fresh = node_reason if node_reason is not None else since() if since is not None else None
    return since_result(earlier, fresh, prev.state)


def redefines(node_reason: dict | None) -> bool:
    """Whether ``node_reason`` changes what its node's recorded items were made from (``stale_reason``)."""
    return node_reason is not None and node_reason["cause"] not in ("new", "script_named")


def attempted(prev) -> bool:
    """``prev`` was dirtied and regenerated to run, and did not finish: its record holds the
    attributes and inputs of that attempt (a ``WorkItemGenerated`` with no signature), not those of
    its last result."""
    return prev.state not in DONE_STATES and bool(prev.reason) and not prev.signature


#: the facts that name what a reason's cause changed: two reasons with the same cause and these are
#: about the same thing (``since_result``)
_SUBJECT = {
    "attribute": ("name",),
    "parm": ("node", "parm"),
    "code": ("node", "func"),
    "file": ("path",),
    "input": ("path",),
    "output_modified": ("path",),
    "file_attribute": ("name", "path"),
}
#: the facts of a reason that hold the value before the change
_BEFORE = ("old", "old_size", "old_hash")


def since_result(earlier: dict, fresh: dict | None, state: str) -> dict:
    """What changed since the last result of an item in ``state`` (not done) that ``earlier`` dirtied
    and that did not finish since, given ``fresh``, what changed after that attempt. Nothing since
    (None): ``earlier``. The same fact again: that fact, from its value at the last result
    (``earlier``'s before) to its value now (``fresh``'s after, and ``fresh``'s ``from_item``, whose
    change is in this cook, for ``pdg explain``'s chain); back at its value at the last result, or
    ``earlier`` never had a result: no result to reuse. Another fact: ``fresh``, a change since the
    last result too, and the one whose chain is in this cook."""
    cause = earlier.get("cause", "")
    if cause in ("new", "no_result"):
        return reasons.no_result(state)
    if fresh is None:
        return dict(earlier)
    keys = _SUBJECT.get(cause)
    if keys is None or fresh.get("cause") != cause or any(fresh.get(k) != earlier.get(k) for k in keys):
        return fresh
    folded = {**fresh, **{k: earlier[k] for k in _BEFORE if k in earlier}}
    if all(folded.get(k) == folded.get("new" + k[3:]) for k in _BEFORE if k in folded):
        return reasons.no_result(state)  # changed back: what remains is that the attempt did not finish
    return folded


def new_item(node_reason: dict | None) -> dict:
    """Why an item with no record is made: it is new, and so is its node when the graph's last
    recorded definitions lack it (``node_reason`` is ``reasons.node_added``'s: ``pdg explain`` and
    the dry run name it)."""
    return node_reason if node_reason is not None and node_reason["cause"] == "new" else reasons.new()


def runs_anyway(recorded, *, mode: str, node_reason: dict | None, expects_files: bool) -> dict | None:
    """The reason an item with work runs whatever the items it depends on make (what ``work``
    decides once they cooked), for a dry run, which stops deciding where they would run first:
    an item with no result to reuse (cancelled, failed, dirtied, never cooked), whose node changed
    or always writes. None when that depends on what they make (early cutoff), or on the cache
    check of its expected files. ``recorded``: its record, as the store holds it."""
    prev = record_of(recorded)
    if mode == "always_read":
        return None  # its files decide: taken from them, or failed without running
    if prev is None:  # decided as new: run, unless its expected files pass the cache check
        return None if expects_files and mode != "always_write" else new_item(node_reason)
    if mode == "always_write":
        return reasons.cache_mode(mode)
    if mode == "automatic":
        if node_reason is None and attempted(prev):  # its change since the attempt is what they make
            return reasons.no_result(prev.state)
        return stale_reason(prev, node_reason)
    if prev.state not in DONE_STATES and not expects_files:  # no file to take instead of running
        return reasons.no_result(prev.state)
    return None


def reuse(
    prev, name: str, index: int, outputs: list | None = None, signature: str = "", attrs: dict | None = None
) -> Decision:
    """Keep ``prev``'s results: follow its new position, refresh the records of files only touched
    (``outputs``, when they were checked; ``attrs``, file attributes with their records as they are
    now: ``attrfiles``), and confirm under ``signature`` a result a person accepted."""
    events: list[tuple[type[ev.Event], dict]] = []
    item_id = prev.item_id
    if prev.name != name or prev.index != index:
        events.append((ev.WorkItemRenumbered, {"item_id": item_id, "name": name, "index": index}))
    restat = outputs if outputs is not None and outputs != prev.outputs else None
    refreshed = attrfiles.refreshed(prev.attrs, attrs) if attrs else None
    if held.marked(prev):  # a held item's result recorded again, its mark gone (``held``)
        events.append((ev.WorkItemCooked, held.restored(prev, restat, refreshed)))
    elif restat is not None or refreshed:  # (v2: with attrs, outputs [] keeps the item's)
        fields = {"item_id": item_id, "outputs": restat or [], **({"attrs": refreshed} if refreshed else {})}
        events.append((ev.WorkItemRestatted, fields))
    if prev.signature == ACCEPTED and signature:
        accepted = {
            "item_id": item_id,
            "state": prev.state,
            "outputs": list(prev.outputs),
            "started_ns": prev.started_ns,
            "duration_ns": prev.duration_ns,
            "signature": signature,
            "reason": reasons.accepted(),
        }
        events.append((ev.WorkItemCooked, accepted))
    return Decision(REUSE, None, tuple(events)) if events else _REUSED


def removed(item_id: str, cook_id: int, why: str = "") -> Decision:
    """A recorded item its node did not generate again in this cook; ``why``: what the caller found
    of the cause (its file is gone, its parent was removed), else the plain fact."""
    message = why or f"cook {cook_id} did not generate it again"
    events = ((ev.WorkItemRemoved, {"item_id": item_id, "reason": message}),)
    return Decision(REMOVE, {"message": message}, events)


# -- an item born cooked (a file pattern's) --------------------------------------------------------
def born(prev, new: dict, signature: str, node_reason: dict | None) -> Decision:
    """``new``: the ``WorkItemGenerated`` fields of the item as generated now (item_id, node, name,
    index, parents, attrs, inputs, outputs)."""
    if prev is not None and prev.state in DONE_STATES and prev.signature in (signature, ACCEPTED):
        return reuse(prev, new["name"], new["index"], new["outputs"], signature, new["attrs"])
    generated = (ev.WorkItemGenerated, {**new, "state": "cooked_success", "signature": signature})
    if prev is None:
        return Decision(UPDATE, new_item(node_reason), (generated,))
    reason = stale_reason(prev, node_reason) or _file_reason(prev, new)
    return Decision(UPDATE, reason, ((ev.WorkItemDirtied, {"item_id": new["item_id"], "reason": reason}), generated))


def _file_reason(prev, new: dict) -> dict:
    before = {o[PATH]: o for o in prev.outputs}
    for o in new["outputs"]:
        old = before.get(o[PATH])
        if old is not None and (old[HASH] != o[HASH] or old[SIZE] != o[SIZE]):
            return reasons.file_changed("file", o[PATH], old, o)
    return _input_reason(prev, new)


def _attempt_change(prev, new: dict) -> dict | None:
    """What changed in ``new``'s inputs or attributes since ``prev`` recorded them, None for nothing."""
    reason = _input_reason(prev, new)
    return None if reason["cause"] == "upstream" else reason


def _input_reason(prev, new: dict) -> dict:
    parents = new["parents"]
    producers = dict.fromkeys((r[PATH] for r in new["inputs"]), parents[0] if parents else "")
    return why(prev, new["attrs"], new["inputs"], producers, parents[0] if parents else None)


# -- an item with work (a processor's) -------------------------------------------------------------
def work(
    prev,
    new: dict,
    *,
    mode: str,
    signature: str,
    node_reason: dict | None,
    expected: list | None = None,
    check=None,
    taken: tuple | None = None,
    attr_files: tuple | None = None,
) -> Decision:
    """``new``: as for ``born`` (its outputs empty); ``mode``: the node's cache mode; ``expected``:
    the ``[path, tag]`` of the files its node expects it to write (None: not known yet); ``check``:
    the cache check's answer (``engine.files.cache.CacheCheck``) on the files this asked for;
    ``taken``: for the files of a hit the item did not record (``NEED_OWNERS``), ``(path, id, name)``
    of one that another work item records (``engine.cook.owners``), ``()`` for none. Such a file is
    that item's output, not this one's: not a hit (the item runs, or fails in cache mode always read).
    ``attr_files``: ``attrfiles.check``'s answer on ``prev``'s file attributes (why its files make it
    stale, and the attributes with their records as they are now), None when it holds none."""
    name = new["name"]
    if prev is None:
        if expected is None:
            return _NEED_EXPECTED
        if mode == "always_read" and not expected:
            return _fail(
                new,
                f"cache mode always read: work item {name} of node {new['node']} has no expected output files to read",
            )
        if expected and mode != "always_write":
            if check is None:
                return Decision(NEED_CACHE_CHECK, files=expected)
            if check.hit and taken is None:
                return Decision(NEED_OWNERS, files=expected)
            if check.hit and not taken:
                return _cached(new, mode, check.records, signature)
            reason = _taken_reason(taken) if check.hit else check.reason
            if mode == "always_read":
                return _fail(new, missing_message(name, reason, taken))
            if check.hit:  # why it runs is recorded: "it is new" would hide that its file is another's
                return _run(new, None, reason, told=True)
        return _run(new, None, new_item(node_reason))
    if mode == "always_write":
        return _run(new, prev, reasons.cache_mode(mode))
    reason = stale_reason(prev, node_reason, lambda: _attempt_change(prev, new)) if mode == "automatic" else None
    named = scriptpath.signed_as_recorded(prev, new, node_reason)  # (recorded by an earlier pdgstore)
    if reason is None and mode == "automatic" and prev.signature not in (signature, ACCEPTED) and not named:
        reason = _input_reason(prev, new)
    if reason is None and mode == "automatic" and attr_files is not None and prev.signature != ACCEPTED:
        reason = attr_files[0]  # a file attribute's file changed: as an input file (accepted: refreshed)
    if reason is not None:
        return _run(new, prev, reason)
    if expected is None:
        return _NEED_EXPECTED
    wanted = list(prev.outputs) if prev.state in DONE_STATES else []
    recorded = {e[PATH] for e in wanted}
    fresh = [e for e in expected if e[PATH] not in recorded]  # (its name moved: ``out/@pdg_name.txt``)
    wanted += fresh
    if mode != "automatic" and not wanted:
        reason = reasons.no_result(prev.state)
    elif check is None:
        return Decision(NEED_CACHE_CHECK, files=wanted)
    elif check.hit and fresh and taken is None:
        return Decision(NEED_OWNERS, files=fresh)
    elif check.hit and not taken:
        if prev.state in DONE_STATES and prev.signature in (signature, ACCEPTED):
            kept = attrfiles.kept(attr_files, prev.signature == ACCEPTED)
            return reuse(prev, name, new["index"], check.records, signature, kept)
        if named:  # signed again, without running
            result = scriptpath.signed_again(prev, check.records, signature, node_reason)
            return Decision(UPDATE, result["reason"], reuse(prev, name, new["index"]).events, result)
        return _cached(new, mode, check.records, signature)
    else:
        reason = _taken_reason(taken) if check.hit else check.reason
    if mode == "always_read":
        return _fail(new, missing_message(name, reason, taken))
    return _run(new, prev, reason)


def _taken_reason(taken: tuple | None) -> dict:
    assert taken, "only a file another item records makes a hit run"
    return reasons.output_taken(*taken)


def _generated(new: dict) -> tuple:
    return (ev.WorkItemGenerated, {**new, "state": "uncooked", "signature": ""})


def _run(new: dict, prev, reason: dict, *, told: bool = False) -> Decision:
    """``told``: ``reason`` is recorded for an item with no record too (else only its generation: a
    new item's plain reason is that it is new, which ``pdg explain`` finds from the log)."""
    if prev is None and not told:
        return Decision(RUN, reason, (_generated(new),))
    dirtied = (ev.WorkItemDirtied, {"item_id": new["item_id"], "reason": reason})
    return Decision(RUN, reason, (_generated(new), dirtied))


def _cached(new: dict, mode: str, records: list, signature: str) -> Decision:
    result = {
        "item_id": new["item_id"],
        "state": "cooked_cache",
        "outputs": records,
        "duration_ns": 0,
        "signature": signature,
        "reason": reasons.from_cache(mode, [r[PATH] for r in records]),
    }
    return Decision(CACHE, {"cache_mode": mode}, (_generated(new),), result)


def _fail(new: dict, message: str) -> Decision:
    return Decision(FAIL, {"message": message}, (_generated(new),), failure(new["item_id"], message))


def failure(item_id: str, message: str) -> dict:
    """The result of an item that fails without running (its ``started_ns`` is the caller's now)."""
    return {"item_id": item_id, "state": "cooked_fail", "duration_ns": 0, "error": message}


def failed(item_id: str, message: str, events: tuple = ()) -> Decision:
    """An item that fails without running, for a reason found outside the decision (a handler or a
    scheduler raised, an expected output did not expand)."""
    return Decision(FAIL, {"message": message}, events, failure(item_id, message))


def generated_only(new: dict) -> tuple:
    """The event that records a work item as generated and not cooked (before it fails)."""
    return (_generated(new),)


def missing_message(name: str, reason: dict | None, taken: tuple | None = None) -> str:
    """Why an item in cache mode always read fails: which expected file is missing or changed, or
    is another's (``taken``: its path, id and name, as ``work`` is given it)."""
    reason = reason or {}
    path = reason.get("path", "?")
    how = "is missing" if reason.get("cause") != "output_modified" else "was modified"
    if reason.get("cause") == "cache_miss":
        how = f"was refused by cache handler {reason.get('handler')}"
    if reason.get("cause") == "output_taken" and taken:
        how = f"was recorded as the output of another work item ({taken[2]}, id {taken[1]})"
    return f"cache mode always read: expected output {path} of work item {name} {how}"


# -- a partition -----------------------------------------------------------------------------------
def placed(prev, new: dict) -> tuple:
    """The events that place a partition (``new``: its fields, its members as ``parents`` and its
    own attributes as ``attrs``) before its members cooked: renumber the recorded one if it merged
    the same members with the same attributes, else record it as generated and waiting."""
    if (
        prev is not None
        and (prev.state in DONE_STATES or stale_members(prev) is not None)
        and prev.parents == new["parents"]
        and all(prev.attrs.get(k) == v for k, v in new["attrs"].items())
    ):
        if prev.name != new["name"] or prev.index != new["index"]:
            return ((ev.WorkItemRenumbered, {"item_id": prev.item_id, "name": new["name"], "index": new["index"]}),)
        return ()
    return ((ev.WorkItemGenerated, {**new, "inputs": [], "outputs": [], "state": "waiting", "signature": ""}),)


def stale_members(prev) -> list | None:
    """[member id, outputs, attributes] from before, of the members a cook of one node remade, of a
    partition it left dirty for them (its reason's ``was``: ``engine.incremental.vouch``), which is
    placed as it is and merged in place (``engine.cook.inplace``); None for any other item."""
    reason = prev.reason if prev is not None and prev.state == "dirty" else None
    if not reason or reason.get("cause") != "upstream":
        return None
    return reason.get("was")


def merged_in_place(prev, changed: list, attrs: dict, outputs: list, signature: str) -> Decision:
    """``merged`` of a partition whose members are the recorded ones, in the same order, and of
    which only ``changed`` (ids, in member order) were remade: what ``merged`` decides, from the
    merge and signature patched for those members (``engine.cook.inplace``) instead of made again
    from every member."""
    if prev.signature in (signature, ACCEPTED):
        return reuse(prev, prev.name, prev.index, outputs, signature)
    reason = reasons.members([], [], changed)
    result = {
        "item_id": prev.item_id,
        "state": "cooked_success",
        "attrs": attrs,
        "outputs": outputs,
        "duration_ns": 0,
        "signature": signature,
    }
    return Decision(UPDATE, reason, ((ev.WorkItemDirtied, {"item_id": prev.item_id, "reason": reason}),), result)


def keeps_signature(item, prev, remade: set) -> bool:
    """A partition placed as recorded whose members are the same, none remade: what it merged is
    unchanged, so its signature is (no need to hash its members' files again)."""
    return (
        item is prev
        and not prev.reason
        and prev.state in DONE_STATES
        and prev.signature not in ("", ACCEPTED)
        and not signed_before(prev.signature)
        and not any(m in remade for m in prev.parents)
    )


def merge_members(members: list, own: dict) -> tuple[dict, list]:
    """The plain merge: the members' attributes (first value wins), then the partition's own; every
    member's files, in member order. A partitioner may merge its own way (``Partitioner.merged``)."""
    attrs: dict = {}
    outputs: list = []
    for member in members:
        for name, attr in member.attrs.items():
            attrs.setdefault(name, attr)
        outputs.extend(member.outputs)
    attrs.update(own)
    return attrs, outputs


def merged(
    item,
    prev,
    members: list,
    own: dict,
    signature: str,
    node_reason: dict | None,
    remade: set,
    merge: Callable[[list, dict], tuple[dict, list]] = merge_members,
) -> Decision:
    """A partition whose members all cooked: reuse it if they are what it merged last time, else
    ``merge`` them (its node's rule: ``Partitioner.merged``) into it."""
    if held.same(item, prev) and prev.state in DONE_STATES and prev.signature in (signature, ACCEPTED):
        # the members' files are the same, but one rerun (cut off early) or touched has new stats
        attrs, outputs = merge(members, own)  # the node's rule ("Merge Output Files"), as when merged
        return reuse(prev, prev.name, prev.index, outputs, signature, attrs)
    events: tuple = ()
    if prev is not None:
        stale = stale_members(prev) if node_reason is None else None
        if stale is not None:  # a cook of one node remade these members: what changed is they did
            reason = why_members(
                prev.parents, [m.item_id for m in members], remade.union(member[0] for member in stale)
            )
        else:
            now, old_scheme = [m.item_id for m in members], signed_before(prev.signature)
            reason = stale_reason(prev, node_reason) or why_members(prev.parents, now, remade, old_scheme)
        events = ((ev.WorkItemDirtied, {"item_id": item.item_id, "reason": reason}),)
    else:
        reason = new_item(node_reason)
    attrs, outputs = merge(members, own)
    result = {
        "item_id": item.item_id,
        "state": "cooked_success",
        "attrs": attrs,
        "outputs": outputs,
        "duration_ns": 0,
        "signature": signature,
    }
    return Decision(UPDATE, reason, events, result)
