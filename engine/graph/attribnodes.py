"""Nodes that edit work item attributes: create, delete, rename, promote, array, copy, and the
in-process Python script.

Create, delete, rename, promote and array are processors that do no work: each makes one child
per upstream item (array's split makes one per element), born cooked, carrying the parent's
attributes as edited and its files. Copy needs the items of a second input, so it is a
partitioner: each target item waits for its matching source item and takes the named attributes
from it. The Python script runs a snippet on the in-process pool with ``work_item`` bound, as
PDG's Python Script TOP does when it evaluates in-process.
"""

from __future__ import annotations

import fnmatch
import hashlib
from typing import Any

from pdgstore.engine.errors import GraphError, HandlerError
from pdgstore.engine.graph import attribs, checks
from pdgstore.engine.graph.nodes import (
    GenerateContext,
    NewItem,
    NewPartition,
    Processor,
    generate_one_each,
    one_per_parent,
)
from pdgstore.engine.graph.partitions import LibraryPartitioner, group_key


class AttributeCreate(Processor):
    """Set ``attributes`` (name -> value) on a child of each upstream item (one item without an
    input). A string value is ``@attr``-expanded against the parent; ``flags`` (name -> flag
    names) gives attributes flags; ``existing="keep"`` leaves an attribute the parent has."""

    type_name = "attribute_create"

    def __init__(self, name, inputs, attributes: dict, *, flags: dict | None = None, existing: str = "replace"):
        super().__init__(name, inputs)
        if not isinstance(attributes, dict) or not attributes:
            raise GraphError(f"attribute create {name}: give attributes as a dict name -> value")
        if existing not in ("replace", "keep"):
            raise GraphError(f"attribute create {name}: existing is 'replace' or 'keep', not {existing!r}")
        self.flags = {k: attribs.check_flags(v) for k, v in (flags or {}).items()}
        unknown = sorted(set(self.flags) - set(attributes))
        if unknown:
            raise GraphError(f"attribute create {name}: flags for {unknown[0]}, which it does not create")
        self.attributes = {}
        for key, value in attributes.items():
            try:
                self.attributes[key] = attribs.typed(value)
            except TypeError as exc:
                raise GraphError(f"attribute create {name}, attribute {key}: {exc}") from None
        self.existing = existing
        # a value that reads the parent (``@attr``) must wait for the parent's cooked attributes
        self.static_generation = not any("@" in str(v) for v in attributes.values()) and existing == "replace"

    def parms(self) -> dict:
        return {"attributes": self.attributes, "flags": self.flags, "existing": self.existing}

    def generate(self, ctx: GenerateContext, parent) -> list[NewItem]:
        attrs = {}
        for key, attr in self.attributes.items():
            if self.existing == "keep" and parent is not None and key in parent.attrs:
                continue
            if attr[0] == "string" and parent is not None:
                values = [attribs.expand(v, item=parent, node=self.name, parm=key) for v in attr[1]]
                attr = ["string", values]
            attrs[key] = attribs.with_flags(attr, self.flags.get(key))
        return one_per_parent(parent, attrs)


class AttributeDelete(Processor):
    """Drop the attributes matching ``patterns`` (fnmatch, e.g. ``wedge*``) from each upstream
    item's child; with ``keep=True`` keep only those."""

    type_name = "attribute_delete"

    def __init__(self, name, inputs, patterns, *, keep: bool = False) -> None:
        super().__init__(name, inputs)
        self.patterns = checks.texts(f"attribute delete {name}", "patterns", patterns)
        if not self.patterns:
            raise GraphError(f"attribute delete {name}: give attribute names or patterns")
        self.keep = bool(keep)

    def parms(self) -> dict:
        return {"patterns": self.patterns, "keep": self.keep}

    def generate(self, ctx, parent):
        if parent is None:
            return []
        matching = {n for n in parent.attrs if any(fnmatch.fnmatchcase(n, p) for p in self.patterns)}
        drop = set(parent.attrs) - matching if self.keep else matching
        return [NewItem(key=0, index=parent.index, drop=tuple(sorted(drop)))]


class AttributeRename(Processor):
    """Rename attributes (``renames``: old -> new) on each upstream item's child; an attribute the
    parent does not have is a recorded warning, not a silent no-op."""

    type_name = "attribute_rename"

    def __init__(self, name, inputs, renames: dict) -> None:
        super().__init__(name, inputs)
        if not isinstance(renames, dict) or not renames:
            raise GraphError(f"attribute rename {name}: give renames as a dict old name -> new name")
        self.renames = {str(k): str(v) for k, v in renames.items()}

    def parms(self) -> dict:
        return {"renames": self.renames}

    def generate(self, ctx, parent):
        if parent is None:
            return []
        attrs, drop = {}, []
        for old, new in self.renames.items():
            if old not in parent.attrs:
                ctx.warning(f"attribute rename {self.name}: work item {parent.name} has no attribute {old!r}")
                continue
            attrs[new] = parent.attrs[old]
            drop.append(old)
        return [NewItem(key=0, index=parent.index, attrs=attrs, drop=tuple(drop))]


class AttributePromote(Processor):
    """Move data between attributes and output files: ``to="output"`` adds the files of the file
    (or string) attribute ``attribute`` to the child's output files; ``to="attribute"`` puts the
    parent's output files (those tagged ``tag``, if given) into the file attribute ``attribute``."""

    type_name = "attribute_promote"

    def __init__(self, name, inputs, attribute: str, *, to: str = "attribute", tag: str | None = None) -> None:
        super().__init__(name, inputs)
        if to not in ("attribute", "output"):
            raise GraphError(f"attribute promote {name}: to is 'attribute' or 'output', not {to!r}")
        checks.text(f"attribute promote {name}", "attribute", attribute)
        checks.text(f"attribute promote {name}", "tag", tag, none=True)
        self.attribute, self.to, self.tag = attribute, to, tag

    def parms(self) -> dict:
        return {"attribute": self.attribute, "to": self.to, "tag": self.tag or ""}

    def generate(self, ctx, parent):
        if parent is None:
            return []
        if self.to == "attribute":
            chosen = [o for o in parent.outputs if self.tag is None or o[1].startswith(self.tag)]
            if not chosen:
                ctx.warning(f"attribute promote {self.name}: work item {parent.name} has no output file to promote")
                return [NewItem(key=0, index=parent.index)]
            value = ["file", [[o[0], o[1]] for o in chosen]]
            return [NewItem(key=0, index=parent.index, attrs={self.attribute: value})]
        attr = parent.attrs.get(self.attribute)
        if attr is None:
            ctx.warning(f"attribute promote {self.name}: work item {parent.name} has no attribute {self.attribute!r}")
            return [NewItem(key=0, index=parent.index, outputs=list(parent.outputs))]
        paths = [v[0] if attr[0] == "file" else str(v) for v in attr[1]]
        tags = [v[1] if attr[0] == "file" else self.tag for v in attr[1]]
        try:
            records = [ctx.file(p, t) for p, t in zip(paths, tags)]
        except HandlerError as exc:  # this item fails, not the node
            return [NewItem(key=0, index=parent.index, error=str(exc))]
        return [NewItem(key=0, index=parent.index, outputs=list(parent.outputs) + records)]


class AttributeArray(Processor):
    """Array attributes: ``operation="append"`` appends ``values`` to ``attribute`` (made when
    missing); ``"concat"`` makes ``attribute`` from the values of ``sources`` in turn; ``"split"``
    makes one child per element of ``attribute``, holding the element in ``element`` (default: the
    attribute's own name) and its position in ``elementindex``."""

    type_name = "attribute_array"

    def __init__(self, name, inputs, attribute: str, *, operation: str, values=(), sources=(), element=None):
        super().__init__(name, inputs)
        if operation not in ("append", "concat", "split"):
            raise GraphError(f"attribute array {name}: operation is append, concat or split, not {operation!r}")
        checks.text(f"attribute array {name}", "attribute", attribute)
        checks.text(f"attribute array {name}", "element", element, none=True)
        self.attribute, self.operation = attribute, operation
        self.values = list(values) if isinstance(values, (list, tuple)) else [values]
        self.sources = checks.texts(f"attribute array {name}", "sources", sources)
        if operation == "concat" and not self.sources:
            raise GraphError(f"attribute array {name}: concat needs the source attributes")
        if operation == "append":
            try:
                attribs.typed(self.values)
            except TypeError as exc:
                raise GraphError(f"attribute array {name}: {exc}") from None
        self.element = element or attribute

    def parms(self) -> dict:
        return {
            "attribute": self.attribute,
            "operation": self.operation,
            "values": self.values,
            "sources": self.sources,
            "element": self.element,
        }

    def generate(self, ctx, parent):
        if parent is None:
            return []
        attr = parent.attrs.get(self.attribute)
        if self.operation == "append":
            before = attribs.array_of(attr) if attr is not None else []
            return [NewItem(key=0, index=parent.index, attrs={self.attribute: attribs.typed(before + self.values)})]
        if self.operation == "concat":
            values: list[Any] = []
            for source in self.sources:
                if source not in parent.attrs:
                    ctx.warning(f"attribute array {self.name}: work item {parent.name} has no attribute {source!r}")
                    continue
                values += attribs.array_of(parent.attrs[source])
            return [NewItem(key=0, index=parent.index, attrs={self.attribute: attribs.typed(values)})]
        if attr is None:
            ctx.warning(f"attribute array {self.name}: work item {parent.name} has no attribute {self.attribute!r}")
            return []
        kind = attr[0]
        return [
            NewItem(key=i, index=i, attrs={self.element: [kind, [v]], "elementindex": ["int", [i]]})
            for i, v in enumerate(attr[1])
        ]


class AttributeCopy(LibraryPartitioner):
    """Copy ``attributes`` (names or fnmatch patterns; ``*`` all) onto each item of the first input
    from its match among the items of ``source``: the item with the same index, or (``match`` an
    attribute name) the same value of that attribute. The copy waits for its source item; it keeps
    the target's own output files. A target without a match is passed on unchanged (warned)."""

    type_name = "attribute_copy"
    dynamic_default = True

    def __init__(self, name, inputs, *, source: str, attributes=("*",), match: str = "index", **switches):
        super().__init__(name, inputs, **switches)
        if len(inputs) != 2 or source not in inputs:
            raise GraphError(f"attribute copy {name}: it copies from a source node onto one target node")
        self.source, self.match = source, match
        self.attributes = [attributes] if isinstance(attributes, str) else list(attributes)

    def own_parms(self) -> dict:
        return {"source": self.source, "attributes": self.attributes, "match": self.match}

    def _key(self, item):
        if self.match == "index":
            return item.index
        attr = item.attrs.get(self.match)
        return None if attr is None else group_key(attr)

    def partition(self, ctx, items):
        targets = [i for i in items if i.node != self.source]
        found: dict = {}
        for s in items:
            if s.node == self.source:
                found.setdefault(self._key(s), s)
        out, unmatched = [], 0
        for t in targets:
            s = found.get(self._key(t))
            if s is None:
                unmatched += 1
                out.append(NewPartition(key=t.item_id, members=[t], index=t.index))
                continue
            own = {
                n: a
                for n, a in s.attrs.items()
                if any(fnmatch.fnmatchcase(n, p) for p in self.attributes) and "NoCopy" not in attribs.flags_of(a)
            }
            out.append(NewPartition(key=t.item_id, members=[t, s], attrs=own, index=t.index))
        if unmatched:
            ctx.warning(f"attribute copy {self.name}: {unmatched} item(s) have no source item to copy from")
        return out

    def merged(self, members, own):
        attrs, _ = super().merged(members[:1], own)
        return attrs, list(members[0].outputs)


class PythonScript(Processor):
    """Run Python source ``code`` once per upstream item on the in-process pool, with
    ``work_item`` and ``node_name`` bound, as PDG's Python Script TOP evaluated in-process.

    ``work_item`` is PDG's ``pdg.WorkItem`` over the run's own item, as in PDG's script: code pasted
    from PDG's pages runs (``work_item['x'].value()``, ``work_item.node.type.typeName``,
    ``setIntAttrib``, ``addOutputFile``), and the engine's snake_case names stay reachable through it.
    (A python processor's function gets the engine's own item, where ``item['x']`` is the value.)"""

    type_name = "python_script_inprocess"
    does_work = True
    static_generation = True

    def __init__(self, name, inputs, code: str, *, cache_mode="automatic", expected_outputs=()) -> None:
        super().__init__(name, inputs)
        if not isinstance(code, str) or not code.strip():
            raise GraphError(f"python script {name}: give the script's source as a string")
        try:
            self.compiled = compile(code, f"<python script {name}>", "exec")
        except SyntaxError as exc:
            raise GraphError(f"python script {name}: line {exc.lineno}: syntax error: {exc.msg}") from None
        self.code = code
        self._cache_options(cache_mode, expected_outputs)

    def parms(self) -> dict:
        return {
            "code": hashlib.sha256(self.code.encode()).hexdigest()[:16],
            "expected_outputs": list(self.expected_outputs),
        }

    generate = generate_one_each

    def cook(self, item) -> None:
        from pdgstore.engine.pdgapi.items import WorkItem as PDGWorkItem  # (it builds on this package)

        work_item = PDGWorkItem(item, self)
        exec(self.compiled, {"work_item": work_item, "node_name": self.name, "__name__": f"pdg_script_{self.name}"})
