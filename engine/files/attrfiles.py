"""File attributes' files, recorded and checked as output files are.

Seed 003: "Files stored as work item outputs or attributes have both a size field and an extra
64-bit integer hash that PDG uses to identify if the file is stale", and the stat handlers of a
file's tag apply to them. A file attribute's value is ``[path, tag]`` as it is set; the engine
records its file as a file record, ``[path, tag, size, mtime_ns, hash]`` (``engine.files.records``:
the stat handlers for its tag, given the item that holds it, else XXH3), its path kept as it was
set (``item['cfg'].path`` reads what the item set):

- when the item holding it is made born cooked (``engine.cook.items``, ``engine.cook.bulk``), when
  its work ends (in-process, ``engine.cook.task``; a job's, ``engine.cook.intake``) and when the
  cache stands in for its work: each of its values with no record is recorded (``recorded``), if
  its file is there as a regular file; a missing one is left as it was set;
- a recorded value is checked as an output is: unchanged while its file keeps the (mtime_ns, size)
  recorded (``unchanged``), else the stat cascade decides (``check``): a file modified or gone makes
  the item holding it stale, and the reason names the attribute and the file; a file only touched
  has its record refreshed (``WorkItemRestatted``), and nothing runs;
- a signature hashes a recorded value as ``[path, tag, hash]``, never its mtime or size
  (``identity``, as ``signatures.file_identity`` does an input): the items made from one whose file
  changed have new signatures, and run; a value with no record hashes as ``[path, tag]``, as every
  file attribute did before their files were recorded, so a store's signatures are as they were
  until a value of it is recorded;
- a value with no record whose file is there now (missing when it was recorded, or recorded by a
  pdgstore that kept no records for file attributes) makes the item holding it stale once, so that
  its file is recorded; the reason says so.

A child starts with its parent's attributes, records and all, so every item holding the attribute
holds the record and is checked; a change reaches the items made from the one that set it through
their signatures (``signatures.why`` names the attribute and the file). A graph without file
attributes pays a look at the type of each item's attributes, nothing more: no stat, no hash.
"""

from __future__ import annotations

from stat import S_ISREG

from pdgstore.engine.files import records

from pdgstore import reasons
from pdgstore.events import HASH, MTIME_NS, PATH, SIZE, TAG

FILE = "file"
#: a file record's length: a shorter file value has no record (``[path, tag]``)
RECORDED = 5


def is_file(attr) -> bool:
    """Whether ``attr`` (an attribute, ``[type, values]``) is of type file."""
    return type(attr) is list and len(attr) > 1 and attr[0] == FILE


def holds_files(attrs: dict) -> bool:
    """Whether ``attrs`` holds a file attribute (the one look a graph without them pays: a test of
    each attribute's type, and nothing else)."""
    try:
        for attr in attrs.values():
            if attr[0] == FILE:
                return True
    except (TypeError, IndexError, KeyError):  # not ``[type, values]`` (a test's hand-made item)
        return any(is_file(attr) for attr in attrs.values())
    return False


def identity(attrs: dict) -> list:
    """What a signature hashes of ``attrs``: ``sorted(attrs.items())``, each recorded file value as
    ``[path, tag, hash]`` (a touch, which changes its mtime, changes no signature)."""
    items = sorted(attrs.items())
    try:  # (``holds_files`` inline: every signature asks)
        for attr in attrs.values():
            if attr[0] == FILE:
                return [(name, attr_identity(attr)) for name, attr in items]
    except (TypeError, IndexError, KeyError):
        if holds_files(attrs):
            return [(name, attr_identity(attr)) for name, attr in items]
    return items


def attr_identity(attr: list | None):
    """One attribute as ``identity`` hashes it (a file attribute's records reduced to path, tag, hash)."""
    if not is_file(attr):
        return attr
    assert attr is not None
    values = [[v[PATH], v[TAG], v[HASH]] if len(v) >= RECORDED else v for v in attr[1]]
    return [attr[0], values, *attr[2:]]


def _full(path: str, prefix: str, root: str) -> str:
    if path[:1] == "/":
        return path
    return prefix + path if prefix else records.absolute(path, root)


def _regular(st) -> bool:
    return st is not None and S_ISREG(st.st_mode)


def recorded(
    attrs: dict, root: str, types, item=None, *, before: dict | None = None, known: dict | None = None
) -> dict:
    """name -> the attribute with each of its values that has no record recorded, for each file
    attribute of ``attrs`` that gained one; {} when none did. ``before``: the attributes the item's
    last record held: a file that still has the (mtime_ns, size) recorded there keeps that record,
    unread. ``known``: (path, tag) -> the record made for another item in this cook (a file many
    items name is hashed once, while its stat matches), used only where no stat handler could tell
    the items apart."""
    out: dict = {}
    for name, attr in attrs.items():
        if not is_file(attr):
            continue
        values = attr[1]
        if all(len(v) >= RECORDED for v in values):
            continue
        was = before.get(name) if before else None
        old = was[1] if was is not None and is_file(was) else ()
        fresh = []
        for at, v in enumerate(values):
            if len(v) < RECORDED:
                v = _record(v, root, types, item, old[at] if at < len(old) else None, known)
            fresh.append(v)
        if fresh != values:
            out[name] = [attr[0], fresh, *attr[2:]]
    return out


def _record(value: list, root: str, types, item, old: list | None, known: dict | None) -> list:
    """``value`` (``[path, tag]``) with its file's record, or as it is when the file is not there."""
    path, tag = value[PATH], value[TAG] if len(value) > 1 else FILE
    if not path:
        return value
    key = (path, tag)
    st = records.stat_or_none(records.absolute(path, root))
    if not _regular(st):
        return value
    assert st is not None
    if known is not None and not types.stat_handlers and key in known:
        old = known[key]  # recorded for another item in this cook: unread again if it is as then
    if (
        old is not None
        and len(old) >= RECORDED
        and (old[PATH], old[TAG]) == key
        and (old[MTIME_NS], old[SIZE]) == (st.st_mtime_ns, st.st_size)
    ):
        rec = list(old)  # the stat cascade's first step: the file is as last recorded
    else:
        made = records.record(path, root, tag or None, types=types, item=item, st=st)
        rec = [path, made[TAG], *made[SIZE:]]
    if known is not None:
        known[key] = rec
    return rec


def unchanged(attrs: dict, stats, root: str) -> bool:
    """Whether every file of ``attrs``' file attributes is as recorded: a recorded one with the
    (mtime_ns, size) recorded in ``stats`` (absolute path -> stat result or None), one with no
    record still not there (``stats`` answers for any path: ``delta.LazyStats``)."""
    if not holds_files(attrs):
        return True
    prefix = records.root_prefix(root) or ""
    get = stats.get
    for v in _named(attrs):
        st = get(_full(v[PATH], prefix, root))
        if len(v) < RECORDED:
            if _regular(st):
                return False
        elif st is None or st.st_mtime_ns != v[MTIME_NS] or st.st_size != v[SIZE]:
            return False
    return True


def named(attrs: dict):
    """Each value of ``attrs``' file attributes that names a file: ``[path, tag]``, or its record
    (``RECORDED`` long) once its file was recorded (what ``pdg watch`` watches: ``engine.live``)."""
    return _named(attrs) if holds_files(attrs) else iter(())


def _named(attrs: dict):
    """Each value of ``attrs``' file attributes that names a file (a path, recorded or not)."""
    for attr in attrs.values():
        if is_file(attr):
            for v in attr[1]:
                if v[PATH]:
                    yield v


def untouched(attrs: dict, changed: set) -> bool:
    """Whether none of ``attrs``' recorded files is among ``changed`` (recorded paths, relative to
    the root: a stat scan's, which found every other recorded file as recorded)."""
    return not any(v[PATH] in changed for v in _named(attrs))


def check(attrs: dict, root: str, types, item, stats) -> tuple[dict | None, dict]:
    """The stat cascade on the files of ``attrs``' file attributes, for ``item`` (its stat handlers'
    argument): (why the item holding them is stale, None when it is not; name -> the attribute with
    the records as they are now, for each whose records changed). A file modified or gone, or one
    with no record that is there now, is a reason; one only touched is only refreshed."""
    reason: dict | None = None
    fresh_attrs: dict = {}
    prefix = records.root_prefix(root) or ""
    for name, attr in attrs.items():
        if not is_file(attr):
            continue
        values = list(attr[1])
        changed = False
        for at, v in enumerate(values):
            path = v[PATH]
            if not path:
                continue
            st = stats.get(_full(path, prefix, root))
            if len(v) < RECORDED:
                if not _regular(st):
                    continue
                current = _record(v, root, types, item, None, None)
                reason = reason or reasons.file_attribute(name, path, None, current)
            else:
                verdict, now = records.check(v, root, types=types, item=item, st=st)
                if verdict == records.SAME:
                    continue
                if verdict == records.MISSING or now is None:
                    reason = reason or reasons.file_attribute_missing(name, path)
                    continue
                current = [path, *now[TAG:]]
                if verdict == records.MODIFIED:
                    reason = reason or reasons.file_attribute(name, path, v, current)
            values[at], changed = current, True
        if changed:
            fresh_attrs[name] = [attr[0], values, *attr[2:]]
    return reason, fresh_attrs


def kept(found: tuple | None, accepted: bool) -> dict | None:
    """What of ``check``'s answer ``found`` a reused item keeps: the records of files only touched,
    or of any, for a result a person accepted; none when a file changed and the item is reused all
    the same (a cache mode other than automatic): its record stays, and the change is found again."""
    if found is None or (found[0] is not None and not accepted):
        return None
    return found[1]


def refreshed(before: dict, attrs: dict) -> dict:
    """Those file attributes of ``attrs`` whose records differ from ``before``'s (a reused item's)."""
    return {name: attr for name, attr in attrs.items() if is_file(attr) and before.get(name) != attr}


def why(name: str, old: list | None, new: list) -> dict | None:
    """Why a file attribute ``name`` differs from ``old`` (its value in the item's last record):
    the first of its files whose record changed, when the paths are the same; None otherwise (the
    caller says the value changed)."""
    if old is None or not is_file(old) or not is_file(new) or len(old[1]) != len(new[1]):
        return None
    for was, now in zip(old[1], new[1], strict=True):
        if (was[PATH], was[TAG]) != (now[PATH], now[TAG]):
            return None
        if len(now) < RECORDED:
            continue
        if len(was) < RECORDED:
            return reasons.file_attribute(name, now[PATH], None, now)
        if was[HASH] != now[HASH] or was[SIZE] != now[SIZE]:
            return reasons.file_attribute(name, now[PATH], was, now)
    return None


def manifest_listing(graph, state) -> dict | None:
    """What the no-op manifest keeps of the files of the file attributes of ``graph``'s items (a
    partitioner's are its members'; ``engine.incremental.manifest``): each recorded (path as
    recorded: relative to the root when under it, mtime_ns, size) once, in three columns, and the
    paths of those with no record; None when no item holds a file attribute (the state finds the
    items that do without decoding the others: ``State.attrs_with_files``)."""
    root = graph.root
    seen: set = set()
    paths: list[str] = []
    mtimes: list[int] = []
    sizes: list[int] = []
    missing: set[str] = set()
    for name in graph.topological_order():
        if graph.nodes[name].is_partitioner:
            continue
        for attrs in state.attrs_with_files(graph.name, name):
            for v in _named(attrs):
                path = records.relative(v[PATH], root)
                if len(v) < RECORDED:
                    missing.add(path)
                elif (path, v[MTIME_NS], v[SIZE]) not in seen:
                    seen.add((path, v[MTIME_NS], v[SIZE]))
                    paths.append(path)
                    mtimes.append(v[MTIME_NS])
                    sizes.append(v[SIZE])
    if not paths and not missing:
        return None
    return {"paths": paths, "mtimes": mtimes, "sizes": sizes, "missing": sorted(missing)}


def listing_changed(listing: dict | None, root: str) -> bool:
    """Whether a file of ``listing`` (``manifest_listing``'s) changed: a recorded one no longer has
    its (mtime_ns, size), or one with no record is there now as a regular file."""
    if not listing:
        return False
    prefix = records.root_prefix(root) or ""
    full = [_full(p, prefix, root) for p in listing["paths"]]
    if records.stat_changed(full, listing["mtimes"], listing["sizes"])[1]:
        return True
    return any(_regular(records.stat_or_none(_full(p, prefix, root))) for p in listing["missing"])
