"""An XML-RPC call read through ElementTree's C tree builder instead of the stdlib's callbacks.

Why: ``xmlrpc.client.loads`` drives expat with a Python callback per tag and per text, the larger
part of the result server's own work on a call, and a job makes one call per report. Here expat
(the same parser, so the same XML: entities, encodings, line ends) builds the tree in C and a short
walk turns it into values. The walk takes only the shape the stdlib's ``dumps`` writes (what
``pdgcmd`` sends): no attributes, no comments or processing instructions, blank text between
elements, one typed value (``int``/``i4``/``i8``, ``boolean``, ``double``, ``string``, ``nil``,
``array``, ``struct``) or bare text in each ``<value>``. For anything else ``read_call`` answers
None and the caller reads the body with the stdlib, which decides as it always did: a body is never
read differently, only faster where the two agree (``tests/test_rpccall.py`` holds them to each
other). Only authenticated bodies get here (``rpchttp`` checks the secret and size first).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any


class _Declined(Exception):
    """Not the shape read here: the stdlib reads the body."""


def _blank(text: str | None) -> None:
    if text and not text.isspace():
        raise _Declined


def _bare(element: ET.Element) -> None:
    """No attributes, no children, blank text after it."""
    if element.attrib or len(element):
        raise _Declined
    _blank(element.tail)


def _value(element: ET.Element) -> Any:
    if element.tag != "value" or element.attrib:
        raise _Declined
    _blank(element.tail)
    if not len(element):
        return element.text or ""
    _blank(element.text)
    if len(element) != 1:
        raise _Declined
    typed = element[0]
    kind, text = typed.tag, typed.text or ""
    if typed.attrib:
        raise _Declined
    _blank(typed.tail)
    if kind == "array":
        _blank(typed.text)
        if len(typed) != 1 or typed[0].tag != "data" or typed[0].attrib:
            raise _Declined
        data = typed[0]
        _blank(data.text)
        _blank(data.tail)
        return [_value(v) for v in data]
    if kind == "struct":
        _blank(typed.text)
        result = {}
        for member in typed:
            if member.tag != "member" or member.attrib or len(member) != 2:
                raise _Declined
            _blank(member.text)
            _blank(member.tail)
            name, value = member
            if name.tag != "name":
                raise _Declined
            _bare(name)
            result[name.text or ""] = _value(value)
        return result
    if len(typed):
        raise _Declined
    if kind == "string":
        return text
    if kind in ("int", "i4", "i8"):
        return int(text)
    if kind == "double":
        return float(text)
    if kind == "boolean" and text in ("0", "1"):
        return text == "1"
    if kind == "nil" and not text:
        return None
    raise _Declined


def read_call(body: bytes) -> tuple[tuple, str] | None:
    """``(params, method)`` as ``xmlrpc.client.loads(body)`` reads them, or None: let the stdlib
    read it (another shape, or no well-formed call at all)."""
    start = body.find(b"?>") + 2 if body.startswith(b"<?xml") else 0
    if b"<!" in body or b"<?" in body[start:]:
        return None
    try:
        root = ET.fromstring(body)
        if root.tag != "methodCall" or root.attrib or not 1 <= len(root) <= 2:
            return None
        _blank(root.text)
        name = root[0]
        if name.tag != "methodName":
            return None
        _bare(name)
        params: list[Any] = []
        if len(root) == 2:
            listed = root[1]
            if listed.tag != "params" or listed.attrib:
                return None
            _blank(listed.text)
            _blank(listed.tail)
            for param in listed:
                if param.tag != "param" or param.attrib or len(param) != 1:
                    return None
                _blank(param.text)
                _blank(param.tail)
                params.append(_value(param[0]))
        return tuple(params), name.text or ""
    except (_Declined, ET.ParseError, ValueError, TypeError, RecursionError):
        return None
