"""Shared lists: a graph's new work items sent once to a client that follows its nodes too.

A graph's ``work_items`` holds every work item of the graph, and each node's ``work_items`` holds
that node's (seed 001). A client that follows a graph and its nodes is therefore sent every new
item id twice in a cook: once appended to its node, once to its graph. Parsing those ids is most
of what following a cook costs a client (a cold W(10,000) is 40,000 ids per client, and a Python
client spends more making the strings than parsing them), so a client may ask for the graph's
appends *by reference* to its nodes' appends of the same step, in its hello::

    {"op": "hello", "refs": true}

Then, in a frame of a step in which the client also gets the frames of the nodes the new items
belong to, the graph's ``AppendValues`` of ``work_items`` comes as references instead of values::

    {"t": 1, "seq": 130, "prop": "work_items",
     "from": ["pdg/wide/node_files", "pdg/wide/node_upper"], "refs": [[[0, 1, 1, 1], 4096], [[0, 5], 1]]}

``refs`` is a list of segments ``[pattern, repeat]``; a pattern is ``[i, n, i, n, ...]``: the next
``n`` values appended to ``work_items`` by the frame(s) of ``from[i]`` of the same seq, and so on,
the whole pattern ``repeat`` times. Above: 4,096 times one value of ``node_files`` then one of
``node_upper`` (a cook generates them interleaved, and the graph lists them in that order), then
five more of ``node_files``. Those node frames are sent before the graph's. The values a visualizer
receives are the same, in the same order, as without refs (``Resolver`` puts them back, with list
slices rather than a step per value): only the wire changes, and the client's strings are made
once and shared by the two lists. A client that does not ask gets the page's plain JSON lists.

The server checks every value while it encodes (an append that does not match its node's, in
order, is sent as plain values), so the encoding can never say something the plain one does not.
"""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from pdgstore.engine.datalayer import storeobjects
from pdgstore.engine.datalayer.messages import APPEND, Message
from pdgstore.engine.datalayer.messages import PropertyNames as P
from pdgstore.engine.datalayer.packedids import IdList, as_id_list, interleaved, unpack

#: the property sent by reference (a graph's by its nodes')
SHARED_PROP = P.WorkItems


def order_for_refs(frames: list[tuple[str, list[Message]]]) -> list[tuple[str, list[Message]]]:
    """The frames of one step with the nodes' before the graphs' (refs point backwards)."""
    return sorted(frames, key=lambda frame: 0 if _kind(frame[0]) == "node" else 1)


def _kind(path: str) -> str | None:
    parsed = storeobjects.parse(path)
    return parsed[0] if parsed is not None else None


def node_streams(frames: list[tuple[str, list[Message]]]) -> dict[str, list]:
    """node path -> the values its frame of this step appends to ``work_items``, in order."""
    streams: dict[str, list] = {}
    for path, messages in frames:
        if _kind(path) != "node":
            continue
        for message in messages:
            if message.type is APPEND and message.prop == SHARED_PROP and message.snapshot is None:
                streams.setdefault(path, []).extend(message.values)
    return streams


def has_refs_to_make(path: str, messages: list[Message], streams: dict[str, list]) -> bool:
    """Whether a frame of ``path`` may be sent with refs: a graph's, appending items, in a step in
    which the client also gets some node's appends."""
    if not streams:
        return False
    if _kind(path) != "graph":
        return False
    return any(m.type is APPEND and m.prop == SHARED_PROP and m.snapshot is None for m in messages)


def to_wire_with_refs(messages: list[Message], streams: dict[str, list]) -> list[dict]:
    """The wire maps of a graph's ``messages``, its appends of ``work_items`` as references to
    ``streams`` wherever every value matches, in order (else as plain values)."""
    paths = list(streams)
    owner: dict[str, int] = {}
    for i, npath in enumerate(paths):
        for value in streams[npath]:
            owner.setdefault(value, i)
    at = [0] * len(paths)
    out = []
    for message in messages:
        wire = message.to_wire()
        if message.type is APPEND and message.prop == SHARED_PROP and message.snapshot is None:
            found = _runs(message.values, owner, [streams[p] for p in paths], at)
            if found is not None:
                segments = _segments(found[0])
                if len(segments) * 4 < len(message.values):  # else the values are as short
                    del wire["values"]
                    wire["from"], wire["refs"] = paths, segments
                    at[:] = found[1]  # the client takes them as the refs say
        out.append(wire)
    return out


def _runs(values: list, owner: dict[str, int], streams: list[list], at: list[int]) -> tuple | None:
    """``values`` as (stream, count) runs of ``streams`` from the cursors ``at``, and the cursors
    after them; None when some value is not the next of its node's stream."""
    runs: list[list] = []
    moved = list(at)
    last = -1
    for value in values:
        i = owner.get(value)
        if i is None:
            return None
        stream, j = streams[i], moved[i]
        if j >= len(stream) or stream[j] != value:
            return None
        moved[i] = j + 1
        if i == last:
            runs[-1][1] += 1
        else:
            runs.append([i, 1])
            last = i
    return runs, moved


#: the longest pattern of runs looked for (a cook interleaving the items of up to this many nodes)
MAX_PATTERN = 4


def _segments(runs: list[list]) -> list[list]:
    """``runs`` as [pattern, repeat] segments: at each point, the pattern of up to
    ``MAX_PATTERN`` runs that repeats over the most runs from there."""
    segments: list[list] = []
    at = 0
    while at < len(runs):
        best_k, best_r = 1, 1
        for k in range(2, MAX_PATTERN + 1):
            pattern = runs[at : at + k]
            if len(pattern) < k:
                break
            r = 1
            while runs[at + r * k : at + (r + 1) * k] == pattern:
                r += 1
            if k * r > best_k * best_r:
                best_k, best_r = k, r
        segments.append([[x for run in runs[at : at + best_k] for x in run], best_r])
        at += best_k * best_r
    return segments


class Resolver:
    """A client's side: remembers what the frames of the current seq appended, and puts the values
    back into a message that came as ``refs`` (in place, on the decoded wire maps)."""

    def __init__(self) -> None:
        self.seq: int | None = None
        #: (path, prop) -> [values appended by this seq's frames, how many were taken]
        self.streams: dict[tuple[str, Any], list] = {}
        #: messages that came as refs and were resolved (a client's stats)
        self.resolved = 0

    def reset(self) -> None:
        """A new connection: nothing is remembered across it."""
        self.seq, self.streams = None, {}

    def frame(self, path: str, seq, messages) -> None:
        """Take one frame's wire messages (a list of maps): note its appends, resolve its refs.
        Raises ValueError for refs that point at nothing (a broken stream)."""
        if seq != self.seq:
            self.seq, self.streams = seq, {}
        if not isinstance(messages, list):
            return
        for wire in messages:
            if not isinstance(wire, dict) or wire.get("t") != 1:
                continue
            refs = wire.get("refs")
            if refs is not None:
                wire["values"] = self._resolve(wire.get("from"), refs, wire.get("prop"))
                del wire["refs"], wire["from"]
                self.resolved += 1
            else:
                values = wire.get("values")
                if values is None and "ids" in wire:
                    values = unpack(wire)  # a packed append (``packedids``)
                if isinstance(values, (list, IdList)):
                    stream = self.streams.get((path, wire.get("prop")))
                    if stream is None:  # the frame's own list, not copied (it is only read)
                        self.streams[(path, wire.get("prop"))] = [values, 0]
                    elif type(stream[0]) is IdList and type(values) is IdList and stream[0].width == values.width:
                        stream[0] = stream[0].extended(values)
                    else:
                        stream[0] = [*stream[0], *values]

    def _resolve(self, paths, refs, prop) -> list:
        try:
            streams = [self.streams[(p, prop)] for p in paths]
        except (KeyError, TypeError):
            raise ValueError(f"refs to {paths!r}, which no earlier frame of this seq appended to") from None
        try:
            widths = {stream[0].width for stream in streams if type(stream[0]) is IdList}
            if len(widths) == 1:
                width = widths.pop()
                for stream in streams:  # a node's short append came plain: joined, if it can be
                    if type(stream[0]) is not IdList:
                        stream[0] = as_id_list(stream[0], width) or stream[0]
                if all(type(stream[0]) is IdList for stream in streams):
                    return cast(list, self._resolve_later(streams, refs, width))
        except (TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"malformed refs: {exc}") from None
        values: list = []
        try:
            for pattern, repeat in refs:
                pairs = list(zip(pattern[0::2], pattern[1::2], strict=True))
                if repeat > 1 and all(n == 1 for _, n in pairs) and len({i for i, _ in pairs}) == len(pairs) > 1:
                    # one value from each of different streams in turn: each stream's share is a
                    # slice, placed by one extended-slice assignment (no step per value)
                    segment: list = [None] * (len(pairs) * repeat)
                    for offset, (i, _) in enumerate(pairs):
                        segment[offset :: len(pairs)] = _take(streams[i], repeat)
                    values += segment
                    continue
                for _ in range(repeat):
                    for i, n in pairs:
                        values += _take(streams[i], n)
        except (TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"malformed refs: {exc}") from None
        return values

    @staticmethod
    def _resolve_later(streams: list[list], refs, width: int) -> IdList:
        """Refs to packed streams (``packedids``) as an ``IdList`` whose ids are put together only
        when it is read: the refs are checked, and the streams' cursors moved, now."""
        pieces: list[tuple[list[tuple[IdList, int]], int]] = []  # (the streams and starts, ids from each)
        count = 0
        for pattern, repeat in refs:
            pairs = list(zip(pattern[0::2], pattern[1::2], strict=True))
            if repeat > 1 and all(n == 1 for _, n in pairs) and len({i for i, _ in pairs}) == len(pairs) > 1:
                pieces.append(([(streams[i][0], _skip(streams[i], repeat)) for i, _ in pairs], repeat))
                count += repeat * len(pairs)
                continue
            for _ in range(repeat):
                for i, n in pairs:
                    pieces.append(([(streams[i][0], _skip(streams[i], n))], n))
                    count += n
        return IdList.later(count, width, partial(_put_together, pieces, width))


def _put_together(pieces: list[tuple[list[tuple[IdList, int]], int]], width: int) -> str:
    """The joined ids ``Resolver._resolve_later`` noted: each piece ``n`` ids from each of its
    streams from its start, one from each in turn."""
    out = []
    for sources, n in pieces:
        texts = [view._joined()[start * width : (start + n) * width] for view, start in sources]
        out.append(texts[0] if len(texts) == 1 else interleaved(texts, width))
    return "".join(out)


def _skip(stream: list, count: int) -> int:
    """Take the next ``count`` values of a noted stream ``[values, taken]``: where they start."""
    start = stream[1]
    if not isinstance(count, int) or count < 0 or start + count > len(stream[0]):
        raise ValueError(f"a ref to {count!r} values past what was appended")
    stream[1] = start + count
    return start


def _take(stream: list, count: int) -> list:
    """The next ``count`` values of a noted stream ``[values, taken]``."""
    start = _skip(stream, count)
    return stream[0][start : start + count]
