"""A failed item's traceback (``engine.schedulers.tracebacks``): the text ``traceback.format_exc`` gives,
with the frames of a path that failed before taken from that first failure, and a cook whose every
item fails records each item's own traceback that way."""

from __future__ import annotations

import sys
import traceback
from functools import partial

import pdgstore.engine as engine
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pdgstore.engine.cook.handlers import Handlers
from pdgstore.engine.errors import error_line
from pdgstore.engine.schedulers import tracebacks
from pdgstore.engine.schedulers.tracebacks import formatted

from pdgstore import EventLog, tablecheck
from pdgstore.state import first_difference


def _caught(fail) -> tuple[BaseException, str]:
    """What ``fail()`` raised, and ``traceback.format_exc()`` while it was handled."""
    try:
        fail()
    except BaseException as exc:  # noqa: BLE001 - every kind is formatted
        return exc, traceback.format_exc()
    raise AssertionError("fail() did not raise")


def _divide(n: int, by: int) -> float:
    return n / by  # the position markers (``^^^``) of 3.11 point into this expression


def _deep(depth: int, message: str) -> None:
    if depth > 1:
        _deep(depth - 1, message)
    raise KeyError(message)


def _noted() -> None:
    exc = ValueError("with notes")
    exc.add_note("first note")
    exc.add_note("second note\nof two lines")
    raise exc


def _caused() -> None:
    try:
        _divide(1, 0)
    except ZeroDivisionError as exc:
        raise RuntimeError("while dividing") from exc


def _in_handler() -> None:
    try:
        {}["missing"]
    except KeyError:
        raise ValueError("raised while handling")  # noqa: B904 - its context is the point


def _suppressed() -> None:
    try:
        {}["missing"]
    except KeyError:
        raise ValueError("its context suppressed") from None


def _grouped() -> None:
    raise ExceptionGroup("two at once", [ValueError("one"), TypeError("two")])


def _syntax() -> None:
    compile("x = (1,\n", "graph.py", "exec")


def _recursion(n: int = 0) -> None:
    _recursion(n + 1)


@pytest.mark.parametrize(
    "fail",
    [
        lambda: _divide(1, 0),
        lambda: _deep(4, "a key"),
        _noted,
        _caused,
        _in_handler,
        _suppressed,
        _grouped,
        _syntax,
        _recursion,
        lambda: (_ for _ in ()).throw(KeyboardInterrupt()),
    ],
    ids=["markers", "deep", "notes", "cause", "context", "suppressed", "group", "syntax", "recursion", "interrupt"],
)
def test_the_text_is_format_exc_s_the_first_time_and_again(fail):
    for _ in range(2):  # the second time the frames come from the first
        exc, expected = _caught(fail)
        assert formatted(exc) == expected


def test_a_path_that_failed_before_formats_only_the_exception_lines(monkeypatch):
    """The same code failing at the same places with another message: the frames' text is not
    made again, and the whole text is still ``format_exc``'s."""
    tracebacks._frames_text.clear()
    first, _ = _caught(partial(_deep, 3, "first"))  # (a partial adds no frame: the same path each time)
    second, second_text = _caught(partial(_deep, 3, "second"))
    other, other_text = _caught(partial(_deep, 2, "shallower"))  # another path
    formatted(first)
    calls = []
    real = traceback.StackSummary.format
    monkeypatch.setattr(traceback.StackSummary, "format", lambda self: calls.append(1) or real(self))
    assert formatted(second) == second_text and calls == []
    assert second_text.endswith("KeyError: 'second'\n")
    assert formatted(other) == other_text and calls == [1]  # its frames are made


def test_the_traceback_limit_is_part_of_the_path(monkeypatch):
    exc, full = _caught(lambda: _deep(5, "limited"))
    assert formatted(exc) == full
    monkeypatch.setattr(sys, "tracebacklimit", 2, raising=False)
    exc, limited = _caught(lambda: _deep(5, "limited"))
    assert formatted(exc) == limited and limited != full


def test_the_kept_paths_are_bounded(monkeypatch):
    monkeypatch.setattr(tracebacks, "MAX_PATHS", 3)
    tracebacks._frames_text.clear()
    for depth in range(1, 9):
        exc, expected = _caught(lambda: _deep(depth, "bounded"))  # noqa: B023 - called at once
        assert formatted(exc) == expected
        assert len(tracebacks._frames_text) <= 3


@settings(max_examples=60, deadline=None)
@given(
    depth=st.integers(min_value=1, max_value=6),
    message=st.text(max_size=40),
    kind=st.sampled_from([ValueError, KeyError, OSError, RuntimeError]),
)
def test_any_message_at_any_depth_reads_as_format_exc(depth, message, kind):
    def fail(d: int) -> None:
        if d > 1:
            fail(d - 1)
        raise kind(message)

    exc, expected = _caught(lambda: fail(depth))
    assert formatted(exc) == expected


def test_a_cook_whose_every_item_fails_records_each_its_own_traceback(tmp_path):
    """40 items fail on the same line with their own messages: each records ``format_exc``'s text
    of its own failure (the frames through the engine and the graph's function, then its message)."""
    g = engine.Graph("g", root=str(tmp_path))
    numbers = g.range_generate("numbers", 40)

    def parse(item):
        raise ValueError(f"item {item.index} cannot be parsed")

    g.python_processor("parse", numbers, parse)
    summary = engine.cook_graph(g, db=str(tmp_path / ".pdg" / "pdg.db"), jobs=2)
    assert summary.status == "failed" and summary.counts["failed"] == 40
    with EventLog.open(str(tmp_path / ".pdg" / "pdg.db")) as log:
        state = log.current_state()
    failed = [i for i in state.items.values() if i.node == "parse"]
    assert len(failed) == 40
    for item in failed:
        lines = item.traceback.splitlines()
        assert lines[0] == "Traceback (most recent call last):"
        assert any(line.strip() == "self.func(item)" for line in lines)
        assert any(__file__ in line and "in parse" in line for line in lines)
        assert lines[-2].strip() == 'raise ValueError(f"item {item.index} cannot be parsed")'
        assert lines[-1] == f"ValueError: item {item.index} cannot be parsed" == item.error


class _Unnamed(Exception):
    """An exception whose ``str()`` raises: a user's class with a broken ``__str__``."""

    def __str__(self) -> str:
        raise RuntimeError("no words for it")


def test_the_error_line_names_an_exception_whose_str_raises():
    assert error_line(ValueError("bad input")) == "ValueError: bad input"
    assert error_line(KeyError("k")) == "KeyError: 'k'"
    assert error_line(_Unnamed()) == "_Unnamed: <exception str() failed>"
    exc, expected = _caught(_raise_unnamed)
    assert formatted(exc) == expected and expected.endswith("_Unnamed: <exception str() failed>\n")


def _raise_unnamed() -> None:
    raise _Unnamed()


@pytest.mark.timeout(60)
def test_a_cook_whose_items_raise_an_exception_without_words_ends(tmp_path):
    """Recording such a failure raised again (``str(exc)`` in the error line) and killed the pool's
    workers: the cook then waited for its items for ever, Ctrl-C and SIGTERM included. Now each
    item is recorded failed, named by its exception's type, and the cook ends."""
    g = engine.Graph("g", root=str(tmp_path))
    numbers = g.range_generate("numbers", 6)

    def parse(item):
        raise _Unnamed()

    g.python_processor("parse", numbers, parse)
    summary = engine.cook_graph(g, db=str(tmp_path / ".pdg" / "pdg.db"), jobs=2)
    assert summary.status == "failed" and summary.counts["failed"] == 6
    assert {f["error"] for f in summary.failed_items} == {"_Unnamed: <exception str() failed>"}


def test_an_event_handler_whose_exception_has_no_words_is_a_warning():
    def handler(event):
        raise _Unnamed()

    class Event:
        type = "CookComplete"
        node = None

    warnings = Handlers([("CookComplete", handler, None)]).dispatch(Event())  # type: ignore[arg-type]
    assert len(warnings) == 1 and "raised _Unnamed: <exception str() failed>" in warnings[0]


def test_text_utf8_cannot_encode_is_escaped_in_the_error_and_the_traceback():
    """A lone surrogate (an undecodable byte of a file name, as ``os.listdir`` gives it) in a
    failure's message: the log records UTF-8, so the error line and the traceback escape it."""
    name = b"in-\xff.txt".decode("utf-8", "surrogateescape")
    exc, _ = _caught(partial(_deep, 2, name))
    assert error_line(exc) == "KeyError: 'in-\\udcff.txt'"  # (a KeyError's str is the key's repr)
    exc, _ = _caught(partial(_raise_value_error, f"cannot read {name}"))
    assert error_line(exc) == "ValueError: cannot read in-\\udcff.txt"
    text = formatted(exc)
    text.encode("utf-8")
    assert text.endswith("ValueError: cannot read in-\\udcff.txt\n")


def _raise_value_error(message: str) -> None:
    raise ValueError(message)


@pytest.mark.timeout(60)
def test_a_cook_whose_failure_names_an_undecodable_file_records_it(tmp_path):
    """Packing such a message for the log raised (``UnicodeEncodeError``) and stopped the cook with
    a bare traceback; now the items are recorded failed, the message escaped, and the store holds
    what a replay of its log gives."""
    g = engine.Graph("g", root=str(tmp_path))
    numbers = g.range_generate("numbers", 3)

    def parse(item):  # (the name made inside: a closure's values are the node's parameters)
        raise ValueError("cannot read " + b"in-\xff.txt".decode("utf-8", "surrogateescape"))

    g.python_processor("parse", numbers, parse)
    db = str(tmp_path / ".pdg" / "pdg.db")
    summary = engine.cook_graph(g, db=db, jobs=2)
    assert summary.status == "failed" and summary.counts["failed"] == 3
    assert {f["error"] for f in summary.failed_items} == {"ValueError: cannot read in-\\udcff.txt"}
    with EventLog.open(db) as log:
        assert tablecheck.check(log).difference is None
        assert first_difference(log.replay_all().to_plain(), log.current_state().to_plain()) is None
