"""A failed item's traceback: the text ``traceback.format_exc`` gives, its frames formatted once per path.

A python processor that fails on every item (a bug, an input it cannot read) fails the same way
100,000 times, and each failure records its traceback. ``traceback.format_exc`` formats every one
from scratch: it walks each frame's instruction positions, reads its source line and, in Python
3.11, parses that line (``ast``) to place its ``^^^^`` markers. In a W(100,000) cook whose
processor raised on every item, that was more than half of the cook's time.

The frames of a traceback read the same each time the same code fails at the same places: the
same code objects at the same instruction offsets. So the frames' text is made once per such path
(kept for ``MAX_PATHS`` paths) and only the exception's own lines (its type, message and notes) are
made per failure. An exception with a cause or a context, or a group, has more than one traceback
in its text and is formatted in full, as before.
"""

from __future__ import annotations

import sys
import traceback
from types import TracebackType

from pdgstore.engine.errors import utf8_safe

#: paths whose frames' text is kept; past it the kept ones are dropped (a cook rarely fails in
#: more than a few places, and each text is a few hundred bytes)
MAX_PATHS = 256
_HEADER = "Traceback (most recent call last):\n"
_frames_text: dict[tuple, str] = {}


def formatted(exc: BaseException) -> str:
    """``"".join(traceback.format_exception(exc))``: what ``traceback.format_exc()`` returns while
    ``exc`` is being handled."""
    tb = exc.__traceback__
    if (
        tb is None
        or exc.__cause__ is not None
        or (exc.__context__ is not None and not exc.__suppress_context__)
        or isinstance(exc, BaseExceptionGroup)
    ):
        return utf8_safe("".join(traceback.format_exception(exc)))
    path = _path(tb)
    frames = _frames_text.get(path)
    if frames is None:
        stack = traceback.TracebackException(type(exc), exc, tb, compact=True).stack
        frames = utf8_safe(_HEADER + "".join(stack.format())) if stack else ""
        if len(_frames_text) >= MAX_PATHS:
            _frames_text.clear()  # (one call: safe with the pool's other workers failing meanwhile)
        _frames_text[path] = frames
    return frames + utf8_safe("".join(traceback.format_exception_only(exc)))


def _path(tb: TracebackType | None) -> tuple:
    """What a traceback's frames' text is made from: each frame's code and instruction offset (its
    line and columns), and the limit ``sys.tracebacklimit`` sets."""
    path: list = [getattr(sys, "tracebacklimit", None)]
    while tb is not None:
        path.append(tb.tb_frame.f_code)
        path.append(tb.tb_lasti)
        tb = tb.tb_next
    return tuple(path)
