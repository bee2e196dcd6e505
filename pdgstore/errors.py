"""The errors the store raises: each one is a sentence a user can act on.

    PdgError                      (exit_code 1)  base of every error pdgstore, engine and cli raise
    └── StoreError                               something is wrong with a store
        ├── StoreMissing          (2)            no store where one was expected
        ├── StoreRefused          (2)            not ours, newer than this code, or corrupt: never touched
        ├── StoreBusy             (1)            another process is cooking on this store
        └── StoreIOError          (1)            the disk failed us (I/O error, disk full): never retried
    └── UnknownItem               (2)            an item id or name the store does not know
    └── UnknownNode               (2)            a node name the store (or the graph) does not have
    └── AmbiguousName             (2)            a NODE or ITEM name that more than one graph holds
    └── BadRef                    (2)            a point in the log (REF) that cannot be read or found
        └── HistoryCompacted      (2)            a point before the history ``pdg compact`` kept

The exit code follows one rule (``pdg --help`` prints it): 1 when the command was right but failed
this time, so running it again may succeed (busy, I/O); 2 when what was asked is wrong and will
stay wrong until the user changes it (a missing or foreign store, an unknown or ambiguous item, a bad
REF).

The engine and the cli derive their own errors from PdgError, so the cli has one place that turns any
of them into a sentence on stderr and an exit code.
"""


class PdgError(Exception):
    """An error meant for a person: ``str(err)`` is one clear sentence."""

    exit_code = 1


class StoreError(PdgError):
    """Something is wrong with a store."""


class DamagedRow(ValueError):
    """Bytes in a table row that do not decode as what pdgstore wrote (a damaged page SQLite itself
    does not notice). Raised where rows are decoded, which knows the row but not the store's name:
    ``sqlitefile.read_errors`` and the cli's error boundary turn it into a ``StoreRefused``
    sentence that names the store."""


class StoreMissing(StoreError):
    """No store exists where one was asked for."""

    exit_code = 2


class StoreRefused(StoreError):
    """The file is not a pdgstore database, is newer than this code, or is corrupt.

    A refused file is never modified, migrated or deleted: the event log is the truth.
    """

    exit_code = 2

    @classmethod
    def corrupt(cls, display: str, problem: str) -> "StoreRefused":
        """The one sentence for a store that cannot be read as it is: ``display`` names the file,
        ``problem`` says what is wrong with it."""
        return cls(f"{display} is corrupt: {problem}; it was left untouched")


class StoreBusy(StoreError):
    """Another process holds the store's single writer lock."""


class StoreIOError(StoreError):
    """The disk reported an error while writing; the cook stops rather than retry (a retried batch
    could land twice or after later ones, and the log must stay whole and in order)."""


class UnknownItem(PdgError):
    """An item id or name that the store does not know (or that names several items)."""

    exit_code = 2


class AbsentAt(UnknownItem):
    """An item the store did not hold at the point asked for (``--at``, ``?at=``): the web answers
    it with a 404 (an id unknown now, asked for with no point, is bad input: a 400)."""


class UnknownNode(PdgError):
    """A node name that the store (or the graph being cooked) does not have."""

    exit_code = 2


class AmbiguousName(PdgError):
    """A node or item name, given without its graph, that more than one graph of the store holds:
    refused, never acted on in every graph (the sentence names the qualified forms to type)."""

    exit_code = 2


class BadRef(PdgError):
    """A point in the log (a seq, a cook, ``cook~N`` or a time) that is malformed or not in the log."""

    exit_code = 2


class HistoryCompacted(BadRef):
    """A point in the log before the history that ``pdg compact`` kept."""
