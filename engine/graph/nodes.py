"""The built-in nodes and the two contracts they follow: processors and partitioners.

A **processor** generates work items: from nothing (a root node, once per cook) or from each
upstream work item once that item has cooked (fan-out: zero, one or many children per parent).
Items of a processor whose ``does_work`` is false are born cooked (a file pattern's items only
hold a file); the others are cooked by the node's ``cook(item)`` on a scheduler.

A **partitioner** groups upstream work items into partition items (fan-in). A partition depends on
all its members and cooks (merges them) once they have all cooked. ``needs_cooked_inputs`` says
whether the grouping needs the members' results (partition by attribute does; wait for all does not,
so its partition exists before its members cook).

``generate`` and ``partition`` return ``NewItem``/``NewPartition`` records; the engine gives them
identities, names and events. ``parms()`` is what the log records about a node's definition.
"""

from __future__ import annotations

import fnmatch
import functools
import glob
import math
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pdgstore.engine.errors import GraphError, HandlerError
from pdgstore.engine.files import records as files
from pdgstore.engine.files.cache import check_mode
from pdgstore.engine.graph import attribs, checks
from pdgstore.engine.graph.code import code_fingerprint, plain_reads


@dataclass(slots=True)
class NewItem:
    """A work item a processor wants: ``key`` tells it apart from its siblings (same parent),
    and must not change when unrelated things do; ``outputs`` only for born-cooked items."""

    key: Any
    index: int
    attrs: dict = field(default_factory=dict)
    outputs: list = field(default_factory=list)
    #: attributes of the parent the child does not take (an attribute delete or rename)
    drop: tuple = ()
    #: why the item fails as it is made (a stat handler raised on its file): it is recorded and
    #: failed with this message, its siblings made as usual
    error: str = ""


def child_attrs(parent_attrs: dict, spec: NewItem) -> dict:
    """What a child starts with: its parent's attributes but the NoCopy ones and those it drops,
    then its own."""
    attrs = attribs.inherited(parent_attrs)
    for name in spec.drop:
        attrs.pop(name, None)
    attrs.update(spec.attrs)
    return attrs


@dataclass(slots=True)
class NewPartition:
    """A partition a partitioner wants: ``key`` names the group, ``members`` are item views;
    ``index``: its index when the partitioner sets one (else its place among the partitions)."""

    key: Any
    members: list
    attrs: dict = field(default_factory=dict)
    index: int | None = None


class Node:
    """What every node has: a name, its upstream node names and a description for the log."""

    type_name: str = "node"  # a class names its type; an instance may name a variant (map_by_expression)
    is_partitioner: ClassVar[bool] = False

    #: how its items use the cache (engine.files.cache.CACHE_MODES); not part of its definition's hash
    cache_mode: str = "automatic"
    #: output file expressions (``@attr`` expanded per item) its items are expected to write
    expected_outputs: tuple = ()
    #: the name of the scheduler its items run on (None: the graph's default)
    scheduler: str | None = None
    #: whether its items run as jobs outside the engine (``prepare_job`` fills in their command)
    out_of_process: ClassVar[bool] = False
    #: the line of the graph file that declared it (set by Graph.add; None outside a graph file)
    declared_line: int | None = None

    def __init__(self, name: str, inputs: list[str]) -> None:
        self.name = name
        self.inputs = inputs
        self.graph: Any = None  # the Graph, set by Graph.add
        self.handlers: list[tuple[str, Callable]] = []

    def parms(self) -> dict:
        return {}

    def made_nothing(self, upstream: int) -> str:
        """Why this node made no work item from ``upstream`` upstream items, in words a user can act
        on; '' when nothing is the expected answer. A node that silently makes nothing leaves the
        user guessing whether the cook even reached it: the cook records this as a warning."""
        return ""

    def on(self, event_type: str, handler: Callable) -> Callable:
        """Register ``handler`` for events of ``event_type`` about this node (see engine.cook.handlers)."""
        self.graph.on(event_type, handler, node=self)
        return handler

    @property
    def type(self):
        """PDG's ``node.type`` (``node.type.typeName``: ``file_pattern`` is ``filepattern``)."""
        from pdgstore.engine.pdgapi.items import NodeType

        return NodeType(self.type_name)

    def __repr__(self) -> str:
        return f"<{self.type_name} {self.name}>"


def one_per_parent(parent, attrs: dict | None = None) -> list[NewItem]:
    """The one item a processor makes from each upstream item (with its index), or once as a root
    node: what a python processor, a command or a script makes."""
    return [NewItem(key=0, index=parent.index if parent is not None else 0, attrs=attrs or {})]


def generate_one_each(self, ctx: GenerateContext, parent) -> list[NewItem]:
    """``generate`` of a processor that makes ``one_per_parent`` with no attributes of its own (a
    python processor, a command, a script): ``Processor.one_each`` knows it by this function."""
    return one_per_parent(parent)


class Processor(Node):
    does_work: ClassVar[bool] = False
    #: ``generate`` reads only its parent's identity, index and attributes, never its results, so a
    #: static cook can know its items before the parent cooks (``engine.cook.static``)
    static_generation: bool = False  # per class, or per instance where its parameters decide

    def generate(self, ctx: GenerateContext, parent) -> list[NewItem]:
        raise NotImplementedError

    def count_ahead(self) -> int | None:
        """The number of items a root makes, where known before making them (None: ask ``generate``)."""
        return None

    def one_each(self) -> bool:
        """Whether ``generate`` makes one item per upstream item, keyed 0, with the upstream item's
        index and no attributes of its own (``generate_one_each``, not overridden): a fresh node's
        items are then laid out without a call per upstream item (``engine.cook.bulk``)."""
        return getattr(self.generate, "__func__", None) is generate_one_each  # (overridden on the instance too)

    def generate_parts(self, ctx: GenerateContext, parent, size: int) -> Iterator[list[NewItem]]:
        """``generate``'s items in lists of about ``size`` (``engine.cook.bulk`` records each
        as the next is made); a failure comes before the first."""
        yield self.generate(ctx, parent)

    def cook(self, item) -> None:
        """Do the item's work (only called when ``does_work``)."""

    def _cache_options(self, cache_mode: str, expected_outputs) -> None:
        """A working processor's cache mode (checked) and expected output files (one or a list)."""
        checks.text(f"node {self.name}", "cache_mode", cache_mode)
        try:
            self.cache_mode = check_mode(cache_mode, self.name)
        except ValueError as exc:
            raise GraphError(str(exc)) from None
        self.expected_outputs = tuple(checks.texts(f"node {self.name}", "expected_outputs", expected_outputs))


class Partitioner(Node):
    """Groups upstream items (fan-in). ``needs_cooked_inputs`` is PDG's "use dynamic partitioning":
    partition once every upstream item cooked (the partitioning reads what they made) instead of
    once they are all generated. ``merge_input_attributes`` ("Merge Input Attributes"): a partition
    takes its members' attributes, the first member's value where several have one."""

    is_partitioner = True
    needs_cooked_inputs: bool = False
    #: whether ``partition`` reads its members' attributes (a wait-for-all and a partition by index
    #: read only which items there are and their indices): a static partitioner's members are then
    #: given to it as they were generated (``engine.cook.as_generated``)
    reads_attributes: ClassVar[bool] = True
    merge_input_attributes: bool = True
    #: PDG's "Merge Output Files" (``MERGE_OUTPUT_FILES``): which members' output files the
    #: partition holds (and so its child's inputs): every member's, the first's, the last's or none
    merge_output_files: str = "all"

    def partition(self, ctx: GenerateContext, items: list) -> list[NewPartition]:
        raise NotImplementedError

    def merged(self, members: list, own: dict) -> tuple[dict, list]:
        """PDG's merge rules for a partition whose members cooked: the attributes (the members' in
        member order, first value wins, NoCopy ones left out, when merging; then the partition's
        own) and the output files (``merge_output_files``: by default every member's, in member
        order)."""
        attrs: dict = {}
        merge = self.merge_input_attributes
        if merge:
            for member in members:
                for name, attr in member.attrs.items():
                    if name not in attrs and not (len(attr) > 2 and "NoCopy" in attr[2]):
                        attrs[name] = attr
        attrs.update(own)
        return attrs, merged_outputs(members, self.merge_output_files)


#: PDG's "Merge Output Files" choices: All Files (the default), First File, Last File, None
MERGE_OUTPUT_FILES = ("all", "first", "last", "none")


def check_merge_output_files(node: str, value: str) -> str:
    """``value`` if it is one of ``MERGE_OUTPUT_FILES``; else the graph is refused, naming ``node``."""
    if value not in MERGE_OUTPUT_FILES:
        raise GraphError(
            f"partitioner {node}: merge_output_files is one of {', '.join(MERGE_OUTPUT_FILES)}, not {value!r}"
        )
    return value


def merged_outputs(members: list, how: str = "all") -> list:
    """The output files a partition of ``members`` holds under PDG's "Merge Output Files" ``how``:
    every member's in member order ("all"), the first member's or the last member's files
    ("first", "last": all of that one work item's files, as PDG's page says "the output file(s)"),
    or none ("none")."""
    if how == "all":
        return [o for member in members for o in member.outputs]
    if how == "none" or not members:
        return []
    return list((members[0] if how == "first" else members[-1]).outputs)


def _record_file(path: str, root: str, tag: str | None) -> list:
    return files.record(path, root, tag)


@dataclass(slots=True)
class GenerateContext:
    """What generation may use: the graph's name and root, and ``file(path, tag)``, which gives a
    file's record using the stat cascade against what was recorded (no read when unchanged).
    ``stats``: the cook's stats (path -> stat result or None), which ``file`` looks in first; a node
    that stats files to find them adds what it learned, so no file is stat'ed twice."""

    graph: str
    root: str
    file: Callable[[str, str | None], list] = None  # type: ignore[assignment]  # set by the cook
    stats: dict | None = None
    #: ``warn(message)``: a warning the cook records (a CookWarning event); each message once a cook
    warn: Callable[[str], None] | None = None
    warned: set = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.file is None:
            root = self.root
            self.file = lambda path, tag=None: _record_file(path, root, tag)

    def warning(self, message: str) -> None:
        """Record ``message`` as a cook warning (once), e.g. a partition on an attribute no item has."""
        if message in self.warned:
            return
        self.warned.add(message)
        if self.warn is not None:
            self.warn(message)


def left_out(where: str, without: list, what: str) -> str:
    """The warning of a partitioner that leaves out the upstream items without ``what`` it groups
    by (while it groups others: when none has it, it made nothing and says that): how many, and the
    first in member order as an example, so the user can look at one (``pdg show``)."""
    if len(without) == 1:
        return f"{where}: input item {without[0].name} lacks {what} and is left out"
    return f"{where}: {len(without)} input items lack {what} and are left out (the first: {without[0].name})"


# -- processors -----------------------------------------------------------------------------------
class FilePattern(Processor):
    """One work item per file matching a glob (relative to the project root), the file its output."""

    type_name = "file_pattern"

    def __init__(self, name: str, pattern: str, tag: str | None = None) -> None:
        super().__init__(name, [])
        self.pattern = checks.text(f"file pattern {name}", "pattern", pattern)
        self.tag = checks.text(f"file pattern {name}", "tag", tag, none=True)

    def parms(self) -> dict:
        return {"pattern": self.pattern, "tag": self.tag or ""}

    def made_nothing(self, upstream: int) -> str:
        return f"its pattern {self.pattern} matches no file"

    def matches(self, root: str, stats: dict | None = None) -> list[str]:
        """The files the pattern matches now, sorted (absolute paths). ``stats`` may hold stats made
        already (path -> stat_result, or None when missing), so known files are not stat'ed again;
        the stats made here are added to it. A file found by listing its folder is known to be a
        file from the listing (``DirEntry.is_file``), without a stat: the cook stats it when it
        records it, from the same open as its hash (``files.stat_and_hash``)."""
        pattern = self.pattern if os.path.isabs(self.pattern) else os.path.join(root, self.pattern)
        found = []
        for p, entry in _glob(pattern):
            st: os.stat_result | None | Literal[False] = stats.get(p, False) if stats is not None else False
            if st is False and entry is not None:
                try:
                    if entry.is_file():
                        found.append(p)
                except OSError:
                    pass
                continue
            if st is False:
                try:
                    st = os.stat(p)
                except (OSError, ValueError):  # as os.path.isfile: missing, unreadable or unnamable
                    st = None
                if stats is not None:
                    stats[p] = st
            if st is not None and stat.S_ISREG(st.st_mode):
                found.append(p)
        return sorted(found)

    def listed_folder(self, root: str) -> str | None:
        """The one folder whose listing decides the matches (``in/*.txt``: ``<root>/in``), or None
        when the pattern needs more than one listing (wildcards in its folders, ``**``) or none (no
        wildcard). While that folder's entries stay the same, so do the matches of its regular files."""
        pattern = self.pattern if os.path.isabs(self.pattern) else os.path.join(root, self.pattern)
        directory, base = os.path.split(pattern)
        return None if _many_listings(directory, base) else directory

    def generate(self, ctx: GenerateContext, parent) -> list[NewItem]:
        out = []
        for index, path in enumerate(self.matches(ctx.root, ctx.stats)):
            if not _utf8(path):  # os.listdir gave its bytes as surrogates; the log holds UTF-8 only
                shown = os.fsencode(path).decode("utf-8", "backslashreplace")
                raise GraphError(
                    f"file pattern {self.name} matches {shown}, whose name is not valid UTF-8: the log records "
                    "file names as UTF-8; rename the file or narrow the pattern"
                )
            try:
                rec = ctx.file(path, self.tag)
            except HandlerError as exc:  # this file's item fails, not the node
                out.append(NewItem(key=files.relative(path, ctx.root), index=index, error=str(exc)))
                continue
            out.append(NewItem(key=rec[files.PATH], index=index, outputs=[rec]))
        return out


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _many_listings(directory: str, base: str) -> bool:
    """Whether a pattern of ``directory`` and ``base`` is matched otherwise than by listing ``directory``."""
    return glob.has_magic(directory) or "**" in base or not glob.has_magic(base)


def _glob(pattern: str) -> list[tuple[str, os.DirEntry | None]]:
    """``glob.glob(pattern, recursive=True)``, each path with its ``DirEntry`` when it has one; a
    pattern with wildcards in its last part only (the common ``in/*.txt``) is one directory listing
    filtered by ``fnmatch``, as glob does it, without glob's per-name overhead (a file pattern is
    matched on every cook)."""
    directory, base = os.path.split(pattern)
    if _many_listings(directory, base):
        return [(p, None) for p in glob.glob(pattern, recursive=True)]
    match = _name_matcher(base)
    hidden = base.startswith(".")  # glob leaves hidden files out unless asked
    prefix = directory + os.sep
    try:
        with os.scandir(directory) as listing:  # filtered as it is read: a folder may hold a million names
            return [(prefix + e.name, e) for e in listing if (hidden or e.name[:1] != ".") and match(e.name)]
    except OSError:
        return []


@functools.lru_cache(maxsize=64)
def _name_matcher(base: str):
    """``fnmatch``'s test of a name against ``base`` (case-sensitive, as on POSIX), compiled once."""
    return re.compile(fnmatch.translate(base)).match


class PythonProcessor(Processor):
    """Runs ``func(item)`` in-process once per upstream item (or once, with no upstream). The
    function reads attributes and input files, sets attributes and reports output files through
    the ``WorkItem`` it is given. ``parms`` are node parameters, ``@attr``-expanded per item."""

    type_name = "python_processor"
    does_work = True
    static_generation = True

    def __init__(
        self,
        name: str,
        inputs: list[str],
        func: Callable,
        parms: dict | None = None,
        *,
        cache_mode: str = "automatic",
        expected_outputs=(),
    ) -> None:
        super().__init__(name, inputs)
        if not callable(func):
            raise GraphError(f"python processor {name}: func must be callable, not {type(func).__name__}")
        self.func = func
        self.node_parms = dict(parms or {})
        self._cache_options(cache_mode, expected_outputs)

    def parms(self) -> dict:
        return {
            "func": f"{getattr(self.func, '__module__', '?')}.{getattr(self.func, '__qualname__', '?')}",
            "code": code_fingerprint(self.func),
            "parms": self.node_parms,
            "reads": plain_reads(self.func),
            "expected_outputs": list(self.expected_outputs),
        }

    generate = generate_one_each

    def cook(self, item) -> None:
        self.func(item)


# -- partitioners ---------------------------------------------------------------------------------
class WaitForAll(Partitioner):
    """One partition holding every upstream item; it cooks when they all have."""

    type_name = "wait_for_all"
    reads_attributes = False

    def partition(self, ctx: GenerateContext, items: list) -> list[NewPartition]:
        return [NewPartition(key="all", members=items)] if items else []


class PartitionByAttribute(Partitioner):
    """One partition per distinct value of ``attribute`` among the (cooked) upstream items; the
    partition carries that value. Items without the attribute are left out, with a cook warning
    (``left_out``) when other items have it (when none has, the node made nothing and says so).

    PDG's variants: ``attribute`` may be a list (one partition per distinct combination of their
    values, each carried); ``range_size`` groups a numeric attribute by value ranges instead of
    distinct values (``[k * size, (k + 1) * size)``: the partition carries ``<attribute>range``)."""

    type_name = "partition_by_attribute"

    def __init__(
        self,
        name: str,
        inputs: list[str],
        attribute,
        *,
        use_dynamic_partitioning: bool = True,
        merge_input_attributes: bool = True,
        range_size: float | None = None,
        merge_output_files: str = "all",
    ) -> None:
        super().__init__(name, inputs)
        names = checks.texts(f"partition by attribute {name}", "attribute", attribute or ())
        if not names or not all(isinstance(a, str) and a for a in names) or len(set(names)) != len(names):
            raise GraphError(f"partition by attribute {name}: give an attribute name, or a list of distinct names")
        if range_size is not None and (
            not isinstance(range_size, (int, float)) or isinstance(range_size, bool) or range_size <= 0
        ):
            raise GraphError(f"partition by attribute {name}: range_size is a number > 0, not {range_size!r}")
        self.attribute = attribute if isinstance(attribute, str) else names
        self.names = names
        self.range_size = range_size
        self.needs_cooked_inputs = bool(use_dynamic_partitioning)
        self.merge_input_attributes = bool(merge_input_attributes)
        self.merge_output_files = check_merge_output_files(name, merge_output_files)

    def parms(self) -> dict:
        out: dict[str, Any] = {"attribute": self.attribute}
        if self.merge_output_files != "all":  # recorded as before otherwise
            out["merge_output_files"] = self.merge_output_files
        if not self.needs_cooked_inputs or not self.merge_input_attributes:  # recorded as before otherwise
            out.update(
                use_dynamic_partitioning=self.needs_cooked_inputs, merge_input_attributes=self.merge_input_attributes
            )
        if self.range_size is not None:
            out["range_size"] = self.range_size
        return out

    def made_nothing(self, upstream: int) -> str:
        if not upstream:
            return ""  # nothing upstream: that node says why
        return f"none of its {upstream} upstream items has {self._wanted()}"

    def _wanted(self, every: bool = True) -> str:
        """What an item needs to be partitioned, as a sentence names it: what it has (``every``), or
        what it lacks (one of several is enough to leave it out)."""
        several = f"{'all' if every else 'one'} of the attributes {self.names}"
        what = f"the attribute {self.names[0]!r}" if len(self.names) == 1 else several
        return f"a number in {what}" if self.range_size is not None else what

    def _key(self, attr):
        """The group an attribute value falls in: its value (a file's path, a dict's items), or
        with ``range_size`` the start of its value range (None: not a number)."""
        value = attribs.value_of(attr)
        if self.range_size is not None:
            if attr[0] not in ("int", "float") or not attr[1]:
                return None
            return math.floor(value / self.range_size) * self.range_size
        key = value.path if isinstance(value, attribs.File) else value
        if isinstance(key, dict):
            key = repr(sorted(key.items()))
        return (attr[0], key)

    def partition(self, ctx: GenerateContext, items: list) -> list[NewPartition]:
        groups: dict[Any, list] = {}
        without = []
        for item in items:
            keys = []
            for attribute in self.names:
                attr = item.attrs.get(attribute)
                key = None if attr is None else self._key(attr)
                if key is None:
                    without.append(item)
                    break
                keys.append(key)
            else:
                groups.setdefault(tuple(keys), []).append(item)
        if without and groups:
            ctx.warning(left_out(f"partition by attribute {self.name}", without, self._wanted(every=False)))
        out = []
        for keys, members in sorted(groups.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
            first = members[0]
            if self.range_size is None:
                attrs = {a: list(first.attrs[a]) for a in self.names}
                key = [keys[0][0], keys[0][1]] if len(keys) == 1 else [list(k) for k in keys]
            else:
                attrs = {f"{a}range": attribs.typed([low, low + self.range_size]) for a, low in zip(self.names, keys)}
                key = ["range", self.range_size, *keys]
            out.append(NewPartition(key=key, members=members, attrs=attrs))
        return out
