"""The order people count in, for names shown in lists (attributes, work items)."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple:
    """``text``'s sort key with its runs of digits as numbers: a2 before a10, upper_9 before
    upper_10 (a plain string sort puts a10 first)."""
    return tuple(int(part) if i % 2 else part for i, part in enumerate(_DIGITS.split(text)))
