"""Batch work items (PDG's batches): one job cooks several work items of a node, its sub-items.

A node made with ``batch_size=N`` (``graph.command(..., batch_size=N)``, ``graph.python_script``)
hands its ready items to its scheduler in groups of up to N, in the order they became ready: each
group is one *batch* work item, scheduled and run as one job. Its sub-items stay the node's own
work items (each with its record, attributes, outputs, state and dependents), so everything
downstream, the incremental rules and ``pdg show`` see them as usual; the batch itself is the job's
identity (its id, name, JSON with ``subItems``: pdgjson's ``isBatch``, ``batchParent``,
``batchIndex``) and is not recorded as an item. Activation is PDG's ``batchActivation.All``: a
batch starts once all its sub-items are ready, so ``checkReady`` answers ready for each of them.

A group is handed on when it is full, when its node has generated all its items, or when nothing
else runs (its other items can no longer become ready). The job reports a sub-item with
``subindex`` (the result server maps ``(batch, subindex)`` to the sub-item); a report about the
batch itself applies to every sub-item still cooking; ``workItemSuccess(batch, subindex=i)`` settles
sub-item ``i`` at once (its dependents cook while the batch goes on); the job's end settles the rest.
``appendSubItem`` adds a new work item of the node to a running batch (``Dispatch.append_sub_item``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pdgstore.engine.graph.workitem import item_identity


@dataclass(eq=False)
class Batch:
    """One batch work item while it waits or runs: ``subs`` are its sub-items' ids, in order."""

    batch_id: str
    name: str
    node: str
    scheduler: str
    index: int
    subs: list[str] = field(default_factory=list)
    pid: int = 0  # its job's, once started (sub-items appended later start with it)
    log_uri: str = ""
    attempt: int = 1


class Batches:
    def __init__(self, graph_name: str) -> None:
        self.graph_name = graph_name
        self.pending: dict[str, tuple[str, list[str]]] = {}  # node -> (scheduler, ready items not yet in a batch)
        self.by_id: dict[str, Batch] = {}  # waiting or running batches
        self.of_sub: dict[str, str] = {}  # sub-item id -> its batch's id
        self.made: dict[str, int] = {}  # node -> batches made in this cook (numbers their names)
        #: the batch a sub-item is being appended to (``appendSubItem``): the next enqueue joins it
        self.appending: Batch | None = None

    @staticmethod
    def batch_size(node) -> int:
        return getattr(node, "batch_size", 0) or 0

    def add(self, item_id: str, node, scheduler: str) -> Batch | None:
        """A ready item of a batched node: the batch it completes, if it does."""
        _, group = self.pending.setdefault(node.name, (scheduler, []))
        group.append(item_id)
        if len(group) >= self.batch_size(node):
            return self._make(node.name)
        return None

    def due(self, generated, idle: bool) -> list[Batch]:
        """The partial groups that can grow no more: their node has generated every item, or
        nothing else runs (``idle``: no other item can become ready)."""
        return [self._make(node) for node in list(self.pending) if idle or generated(node)]

    def waiting(self) -> bool:
        return any(group for _, group in self.pending.values())

    def _make(self, node: str) -> Batch:
        scheduler, group = self.pending.pop(node)
        number = self.made[node] = self.made.get(node, 0) + 1
        batch_id = item_identity(self.graph_name, node, group, "batch")
        batch = Batch(batch_id, f"{node}_batch{number}", node, scheduler, number - 1, list(group))
        self.by_id[batch_id] = batch
        for sub in group:
            self.of_sub[sub] = batch_id
        return batch

    def join(self, batch: Batch, item_id: str) -> int:
        """``item_id`` is appended to ``batch``: its sub index."""
        batch.subs.append(item_id)
        self.of_sub[item_id] = batch.batch_id
        return len(batch.subs) - 1

    def ended(self, batch_id: str) -> None:
        batch = self.by_id.pop(batch_id, None)
        if batch is not None:
            for sub in batch.subs:
                self.of_sub.pop(sub, None)
