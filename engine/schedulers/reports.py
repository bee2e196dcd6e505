"""What schedulers, their jobs and the result server tell a cook: one frozen message type per report.

A ``Reporter`` (``engine.schedulers.contract``) puts these on the cook loop's inbox from any thread;
the loop's ``Dispatch`` (``engine.cook.dispatch``) handles each by its type and turns it into
events. A report that carries ``done`` (a result server call waiting for its answer) is answered,
``done(error or None)``, only after the flush that wrote its effect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Done = Callable[[str | None], None] | None


@dataclass(frozen=True, slots=True)
class Report:
    """A report about the work item ``item_id``."""

    item_id: str


@dataclass(frozen=True, slots=True)
class JobStarted(Report):
    """The item's job began (``pid`` 0 and no ``log_uri``: in-process, only its state changes)."""

    scheduler: str
    attempt: int = 1
    pid: int = 0
    log_uri: str = ""


@dataclass(frozen=True, slots=True)
class JobEnded(Report):
    """The job ended: ``outcome`` success, failure, or retry (it will start again)."""

    exit_code: int
    outcome: str
    message: str = ""


@dataclass(frozen=True, slots=True)
class JobCancelled(Report):
    message: str = ""


@dataclass(frozen=True, slots=True)
class Finished(Report):
    """An in-process run ended, with everything it made (the pool's fast path)."""

    result: Any  # engine.schedulers.contract.JobResult


@dataclass(frozen=True, slots=True)
class AttribSet(Report):
    """``attr`` is ``[type, [values...]]``."""

    name: str
    attr: list
    done: Done = None


@dataclass(frozen=True, slots=True)
class OutputAdded(Report):
    path: str
    tag: str = ""
    hash: str = ""
    done: Done = None


@dataclass(frozen=True, slots=True)
class LogLine(Report):
    text: str
    level: str = "info"
    done: Done = None


@dataclass(frozen=True, slots=True)
class StatusReported(Report):
    """The job says itself whether it succeeded (``pdgcmd.workItemSuccess``/``Failed``), or that it
    was cancelled (``pdgcmd.workItemCancelled``: ``cancelled`` True, ``ok`` False)."""

    ok: bool
    message: str = ""
    done: Done = None
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class Warned(Report):
    """A warning from a job or the result server; ``item_id`` None when it is about no item.
    ``refusal``: the result server refused one of the item's job's calls (the job then usually
    fails, and this is why)."""

    item_id: str | None  # type: ignore[assignment]  # a warning may be about no item
    message: str
    done: Done = None
    refusal: bool = False


@dataclass(frozen=True, slots=True)
class ItemJsonAsked(Report):
    """A job asks for its item as JSON (``pdgcmd.getWorkItemJSON``): read, nothing recorded;
    ``done`` gets the text, or the exception that says why not."""

    done: Callable


@dataclass(frozen=True, slots=True)
class SubItemAsked(Report):
    """A batch's job asks for a new sub-item (``pdgcmd.appendSubItem``): ``done`` gets its index,
    or the exception that says why not."""

    done: Callable


#: the reports a job's call waits on (answered after the flush that wrote them)
ANSWERED = (AttribSet, OutputAdded, LogLine, StatusReported, Warned)
