"""The engine's errors, all sentences for a person (see ``pdgstore.errors`` for the tree's root).

PdgError (pdgstore.errors)
├── GraphError        (2)  a graph file that cannot be loaded or is not a valid DAG
├── ParmError         (2)  a bad ``--set NAME=VALUE`` or an unknown graph parameter
├── UnknownNode       (2)  a node name that the graph (or the store) does not have
├── UnknownItem       (2)  an item id or name that the store does not know
├── AmbiguousName     (2)  a node or item name, without its graph, that several graphs hold
├── ExpansionError    (1)  an ``@attr`` reference to an attribute the work item lacks
├── HandlerError      (1)  a stat, cache or transfer handler raised (names handler, tag, file)
├── NothingToDo       (2)  ``pdg dirty``/``pdg accept`` on something they cannot apply to
├── MissingFiles      (1)  files a command needs are gone (``pdg accept`` of deleted outputs)
├── UnknownObject     (2)  a data layer path that names no object of the store (``pdg datalayer dump``)
├── ListenError       (1)  a data layer server cannot listen on its address (``pdg serve``)
└── OutsideProject    (2)  a path a job reported or a command would delete resolves outside the project
"""

# UnknownItem, UnknownNode and AmbiguousName live with the store: its queries resolve NODE and ITEM
from pdgstore.errors import AmbiguousName, PdgError, UnknownItem, UnknownNode  # noqa: F401


class GraphError(PdgError):
    exit_code = 2


class ParmError(PdgError):
    exit_code = 2


class ExpansionError(PdgError):
    exit_code = 1


class HandlerError(PdgError):
    exit_code = 1


class NothingToDo(PdgError):
    exit_code = 2


class NoResult(PdgError):
    """An item has no result to act on (``pdg accept`` of a failed, cancelled or unrun item)."""

    exit_code = 2


class MissingFiles(PdgError):
    """Files a command needs are not on disk (``pdg accept`` of an item whose outputs are gone)."""

    exit_code = 1


class OutsideProject(PdgError):
    """A path a job reported (or ``pdg dirty --remove-outputs`` would delete) resolves outside the
    project, through ``..``, an absolute path or a symlink (``engine.files.confine``)."""

    exit_code = 2


class UnknownObject(PdgError):
    """A data layer path that is not of the store's form, or names nothing the store holds."""

    exit_code = 2


class ListenError(PdgError):
    """A data layer server cannot listen where it was told (the port is taken, the address is not ours)."""

    exit_code = 1


def error_line(exc: BaseException) -> str:
    """``Type: message``: how the engine names an exception in a sentence (an item's error, a
    handler's or a graph file's failure). An exception whose ``str()`` itself raises (a user's class
    with a broken ``__str__``) is named all the same: raised while a failure was being recorded, it
    once killed a pool worker and left the cook waiting for the item for ever."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - any failure of the user's __str__
        text = "<exception str() failed>"
    return utf8_safe(f"{type(exc).__name__}: {text}")


def utf8_safe(text: str) -> str:
    """``text``, with each character UTF-8 cannot encode written as its escape (``\\udcff``): the
    log records text as UTF-8, and a lone surrogate (an undecodable byte of a file name, as
    ``os.listdir`` gives it) in a failure's message once stopped the cook with a bare traceback."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
