"""PDG's enums with PDG's member names and values, and how each maps to the engine's words.

The scheduler and cache results are the engine's own enums (``ScheduleResult.Succeeded is
ScheduleResult.SUCCEEDED``); these are the ones the engine spells as strings (attribute kinds, work
item states), so each has a ``from_engine`` that turns the engine's string into the member.
Values follow SideFX's ``pdgjson.py``, so numbers written by a PDG job mean the same here.
"""

from __future__ import annotations

import enum


class _PDGEnum(enum.IntEnum):
    """An enum of PDG's: a number, printed as PDG prints its members (``workItemState.CookedSuccess``;
    Python 3.11's ``IntEnum`` prints the bare number)."""

    __str__ = enum.Enum.__str__
    __format__ = enum.Enum.__format__


class attribType(_PDGEnum):  # noqa: N801 - PDG's name
    Undefined = -1
    Int = 0
    Float = 1
    String = 2
    File = 3
    PyObject = 4
    Geometry = 5
    Dict = 6

    @classmethod
    def from_engine(cls, kind: str) -> attribType:
        return _ATTRIB_KINDS.get(kind, cls.Undefined)

    @property
    def engine_kind(self) -> str:
        """The engine's word for the type (``string``, ``int`` ...), '' for none it stores."""
        return {v: k for k, v in _ATTRIB_KINDS.items() if k != "str"}.get(self, "")


_ATTRIB_KINDS = {
    "int": attribType.Int,
    "float": attribType.Float,
    "string": attribType.String,
    "str": attribType.String,
    "file": attribType.File,
    "pyobject": attribType.PyObject,
    "dict": attribType.Dict,
}


class attribFlag(enum.IntFlag):  # noqa: N801
    __str__ = enum.Enum.__str__  # as ``_PDGEnum``: ``attribFlag.NoCopy``, ``attribFlag.NoCopy|EnvExport``
    __format__ = enum.Enum.__format__

    NoFlags = 0
    NoCopy = 0x0001
    EnvExport = 0x0002
    ReadOnly = 0x0004
    Internal = 0x0008
    Operator = 0x0010
    All = 0xFFFF


class workItemState(_PDGEnum):  # noqa: N801
    Undefined = 0
    Dirty = 1
    Uncooked = 2
    Waiting = 3
    Scheduled = 4
    Cooking = 5
    CookedSuccess = 6
    CookedCache = 7
    CookedFail = 8
    CookedCancel = 9

    @classmethod
    def from_engine(cls, state: str) -> workItemState:
        return _STATES.get(state, cls.Undefined)

    @property
    def engine_state(self) -> str:
        return {v: k for k, v in _STATES.items()}.get(self, "")


_STATES = {
    "dirty": workItemState.Dirty,
    "uncooked": workItemState.Uncooked,
    "waiting": workItemState.Waiting,
    "scheduled": workItemState.Scheduled,
    "cooking": workItemState.Cooking,
    "cooked_success": workItemState.CookedSuccess,
    "cooked_cache": workItemState.CookedCache,
    "cooked_fail": workItemState.CookedFail,
    "cooked_cancel": workItemState.CookedCancel,
}


class workItemType(_PDGEnum):  # noqa: N801
    Regular = 0
    Batch = 1
    Partition = 2


class workItemCookType(_PDGEnum):  # noqa: N801
    Generate = 0
    InProcess = 1
    OutOfProcess = 2
    Service = 3
    Automatic = 4


class workItemLogType(_PDGEnum):  # noqa: N801
    Error = 0
    Warning = 1
    Message = 2
    Raw = 3

    @property
    def level(self) -> str:
        """The engine's log level for this kind of line."""
        return ("error", "warning", "info", "info")[self]


class fileType(_PDGEnum):  # noqa: N801
    Generated = 0
    Expected = 1
    Runtime = 2
    RuntimeExpected = 3


class cookType(_PDGEnum):  # noqa: N801
    """How ``GraphContext.cook`` cooks: ``StaticDepsFull``/``StaticDepsNode`` are ``pdg cook --static``."""

    Regenerate = 0
    Full = 1
    StaticDepsFull = 2
    StaticDepsNode = 3
    Generate = 4


class batchActivation(_PDGEnum):  # noqa: N801
    First = 0
    Any = 1
    All = 2
