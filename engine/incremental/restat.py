"""A recook after files were touched: their content is what the store recorded.

A ``touch`` of every input, a checkout that rewrote files it did not change, a copy that kept no
times: the manifest's stat scan (``manifest.try_noop``) then finds most recorded files changed, and
the cook used to walk every item to learn that none had (W(100,000): 11.7 s and 539 MB, against
2.3 s and 75 MB for the plain loop's change run, which hashes the same files). ``refresh`` sorts
the changed files, hashing each once, into those only touched (their recorded size and content
hash) and those whose content changed, and finds, in one pass of the store's rows, the items
listing a touched file among their outputs, with those records made current: what the walk records
for them is a ``WorkItemRestatted`` (its records with the new mtime), so that the next stat matches
again.

- Every changed file only touched: nothing can run, every item is reused as in a no-op, and
  ``try_noop`` records the restats with the no-op's events and the refreshed manifest, in one
  transaction.
- Some changed in content too: the cook records the restats first (``Recorder.restatted``) and its
  delta walk starts from the changed files alone (``delta.Scan.restats``).

The walk does it all, as before, for a type with a stat handler (PDG's handler is handed the item),
a changed path that no item lists or that the manifest lists twice, a file that cannot be read, or
two items recording one file with another content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from stat import S_ISREG

from pdgstore.engine.files import records as files
from pdgstore.engine.graph.api import Graph

from pdgstore import tables
from pdgstore.cookstate import outputs_holding
from pdgstore.events import HASH, PATH, SIZE
from pdgstore.log import EventLog


@dataclass
class Refresh:
    """What a cook after touches records: each item listing a touched file, with the records of its
    touched files as they are now (in the store's order), each touched file's new record by its
    place in the manifest's columns, and the files whose content changed (absolute paths: none, or
    the cook's to walk from)."""

    items: list[tuple[str, list]]
    records: dict[int, list]
    #: the items' rows with their outputs as they are now (``prepared.updated_row``'s form: the
    #: ``body`` None where the item keeps a long list, which only the fold writes)
    rows: list[tuple[str, bytes | None, bytes | None]]
    modified: set[str] = field(default_factory=set)


def refresh(
    log: EventLog, graph: Graph, recorded: list[str], absolute: list[str], sizes: list[int], stats: dict, changed: set
) -> Refresh | None:
    """Sort the files of ``changed`` (absolute paths: the scan's) into those only touched, with the
    items to record restatted, and those whose content changed (``modified``); None when that cannot
    be told without the walk. The manifest's columns: ``recorded``, its paths as the events record
    them, ``absolute``, the same made absolute (the keys of the scan's ``stats``), and ``sizes``,
    their recorded sizes."""
    if graph.types.stat_handlers:
        return None
    place: dict[str, int] = {}  # the recorded path of each file that may be only touched -> its place
    modified: dict[str, int] = {}  # the recorded path of each file whose content changed -> its place
    for at, full in enumerate(absolute):
        if full in changed:
            st = stats[full]
            path = recorded[at]
            if path in place or path in modified:
                return None  # listed twice
            if st is None or not S_ISREG(st.st_mode) or st.st_size != sizes[at]:
                modified[path] = at  # gone, no longer a file, or another size: its content changed
            else:
                place[path] = at
    if len(place) + len(modified) != len(changed):
        return None
    if not place:
        return Refresh([], {}, [], set(changed))
    root = graph.root
    ats = sorted(place.values())  # each file hashed once, in the manifest's order (the disk's, often)
    hashed = files.hash_many([absolute[at] for at in ats], [sizes[at] for at in ats])
    if None in hashed:
        return None  # one could not be read: the walk says why
    digests = dict(zip(ats, hashed, strict=True))
    current: dict[str, list] = {}  # recorded path -> its record now, once its content proved the same
    items: list[tuple[str, list]] = []
    rows: list[tuple[str, bytes | None, bytes | None]] = []
    for item_id, body, detail, outputs in outputs_holding(log.conn, graph.name, set(place)):
        fresh, refreshed = list(outputs), False
        for k, o in enumerate(outputs):
            path = o[PATH]
            if path not in place or path in modified:
                continue
            now = current.get(path)
            if now is None:
                at = place[path]
                verdict, now = files.check(o, root, types=graph.types, st=stats[absolute[at]], digest=digests[at])
                if verdict == files.MODIFIED:
                    modified[path] = at  # the same size, another content
                    continue
                if verdict != files.TOUCHED or now is None:
                    return None
                current[path] = now
            if o[HASH] != now[HASH] or o[SIZE] != now[SIZE]:
                return None  # recorded otherwise by another item: the walk sorts it out
            fresh[k], refreshed = now, True
        if not refreshed:
            continue  # it lists only files whose content changed: the walk's
        items.append((item_id, fresh))  # (a file of it whose content changed keeps its record: the walk's)
        packed = tables.body_with_outputs(body, fresh)
        rows.append((item_id, packed, detail if packed is not None else None))
    if len(current) + len(modified) != len(changed):
        return None  # a changed file no item lists (the manifest may keep a path no item holds)
    records = {place[path]: record for path, record in current.items()}
    return Refresh(items, records, rows, {absolute[at] for at in modified.values()})
