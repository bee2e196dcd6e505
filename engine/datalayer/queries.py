"""Queries: objects whose ``results`` are the paths that satisfy a definition, kept live.

A query's path is ``query?`` followed by its definition in JSON (seed 001)::

    {"property_paths": ["obj_a/prop_a"],      # object path + "/" + property: where values come from
     "format_string": "obj_b/child{}",        # each value replaces the braces: a candidate path
     "sort": true, "reverse_sort": false, "sort_property": "SortProperty",
     "filters": [[{"property_name": "p", "filter_value": 1, "negate": false}, ...], ...]}

``filters`` is an AND of ORs: ``[[A, B], [C]]`` keeps a candidate when (A or B) and C; a flat list
of filters is taken as an AND of each. A filter holds when the candidate's property contains the
value (``negate`` inverts it). The query subscribes to the objects it reads, like any visualizer,
so when any of them changes its own subscribers get the delta of its ``results``: values appended
and removed, or all of them set again when the results are sorted.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pdgstore.engine.datalayer.messages import APPEND, REMOVE, SET, Message, PropertyNames, apply_message, snapshot

if TYPE_CHECKING:
    from pdgstore.engine.datalayer.core import DataLayer

PREFIX = "query?"


class QueryError(ValueError):
    """A query definition that cannot be read (the sentence says why)."""


class Query:
    """A parsed query definition."""

    def __init__(self, text: str) -> None:
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as exc:
            raise QueryError(f"the query is not JSON: {exc}") from None
        if not isinstance(spec, dict):
            raise QueryError("a query is a JSON object with property_paths and format_string")
        paths = spec.get("property_paths", [])
        if isinstance(paths, str):
            paths = [paths]
        self.sources: list[tuple[str, str]] = []
        for property_path in paths:
            obj, _, prop = str(property_path).rpartition("/")
            if not obj or not prop:
                raise QueryError(f"property path {property_path!r} is not OBJECT/PROPERTY")
            self.sources.append((obj, prop))
        self.format_string = str(spec.get("format_string", "{}"))
        self.sort = bool(spec.get("sort", False))
        self.reverse = bool(spec.get("reverse_sort", False))
        self.sort_property = spec.get("sort_property") or ""
        filters = spec.get("filters", [])
        if not isinstance(filters, list):
            raise QueryError("filters is a list of lists of filters")
        self.filters = [group if isinstance(group, list) else [group] for group in filters]
        for group in self.filters:
            for f in group:
                if not isinstance(f, dict) or "property_name" not in f:
                    raise QueryError(f"filter {f!r} has no property_name")

    def candidate(self, value) -> str:
        return self.format_string.replace("{}", str(value), 1)

    def passes(self, props: dict[str, list]) -> bool:
        for group in self.filters:
            if not any(_holds(f, props) for f in group):
                return False
        return True

    def needs_candidates(self) -> bool:
        return bool(self.filters) or bool(self.sort and self.sort_property)


def _holds(f: dict, props: dict[str, list]) -> bool:
    values = props.get(f["property_name"], [])
    want = f.get("filter_value")
    found = any(v == want or (type(v) is not type(want) and str(v) == str(want)) for v in values)
    return found != bool(f.get("negate", False))


class _Mirror:
    """An object the query reads: its properties, kept up to date like any visualizer's."""

    def __init__(self, query: QueryHandler) -> None:
        self.query = query
        self.props: dict[str, list] = {}

    def processMessage(self, message: Message, sender: str) -> None:
        self.props = apply_message(self.props, message)
        self.query.refresh()

    def subscriptionLost(self) -> None:
        self.props = {}
        self.query.refresh()


class QueryHandler:
    """The object at one ``query?...`` path."""

    def __init__(self, layer: DataLayer, path: str) -> None:
        self.layer = layer
        self.path = path
        self.mirrors: dict[str, _Mirror] = {}
        self.results: list[str] = []
        self.error = ""
        self.query: Query | None
        self._busy = True
        try:
            self.query = Query(path[len(PREFIX) :])
        except QueryError as exc:
            self.query, self.error = None, str(exc)
        if self.query is not None:
            for obj, _ in self.query.sources:
                self._watch(obj)
        self._busy = False
        self.refresh(publish=False)

    def _watch(self, path: str) -> _Mirror:
        mirror = self.mirrors.get(path)
        if mirror is None:
            mirror = self.mirrors[path] = _Mirror(self)
            self.layer.subscribe(mirror, path)
        return mirror

    def compute(self) -> list[str]:
        query = self.query
        if query is None:
            return []
        candidates: dict[str, None] = {}
        for obj, prop in query.sources:
            for value in self.mirrors[obj].props.get(prop, []):
                candidates.setdefault(query.candidate(value), None)
        if not query.needs_candidates():
            results = list(candidates)
        else:
            results = [path for path in candidates if query.passes(self._watch(path).props)]
        if query.sort:
            if query.sort_property:
                key = lambda p: _sort_key(self._watch(p).props.get(query.sort_property, []))  # noqa: E731
            else:
                key = None
            results.sort(key=key, reverse=query.reverse)  # ties keep their order either way
        return results

    def refresh(self, publish: bool = True) -> None:
        """Compute the results again and send their delta to the query's subscribers."""
        if self._busy:
            return
        self._busy = True
        try:
            new = self.compute()
        finally:
            self._busy = False
        old, self.results = self.results, new
        if not publish or new == old:
            return
        assert self.query is not None, "a query that does not parse has no results to change"
        if self.query.sort:
            messages = [Message(SET, self.layer.seq, PropertyNames.Results, new)]
        else:
            gone, added = set(old) - set(new), [p for p in new if p not in set(old)]
            messages = []
            if gone:
                messages.append(Message(REMOVE, self.layer.seq, PropertyNames.Results, [p for p in old if p in gone]))
            if added:
                messages.append(Message(APPEND, self.layer.seq, PropertyNames.Results, added))
        self.layer.deliver(self.path, messages, self.layer.seq)

    def snapshot(self) -> Message:
        props = {PropertyNames.Results: list(self.results)}
        if self.error:
            props[PropertyNames.Error] = [self.error]
        return snapshot(props, self.layer.seq)

    def close(self) -> None:
        for path, mirror in self.mirrors.items():
            self.layer.unsubscribe(mirror, path)
        self.mirrors.clear()


def _sort_key(values: list):
    if not values:
        return (2, "")
    value = values[0]
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))
