"""The wire between a Dask worker's report relay (``engine.schedulers.dask.relay``) and the cook's
result server (``engine.schedulers.rpchttp``): one definition of what both sides read and write.

A relay sends the calls of its jobs as one ``POST /RELAY/<secret>`` whose body is the calls' XML-RPC
bodies, each framed by its length; the cook answers each call in a body framed the same way, of type
``RELAY_TYPE`` (any other answer refuses the request whole). It lives here, not in the dask package,
so the result server reads it without importing the dask scheduler.

A relay of this version sends its calls *read* (``RELAY_PACKED_TYPE``): each frame is tagged, ``m``
for a call the relay read (``rpccall.read_call``, on its worker) and sends as msgpack
``[method, params]``, ``x`` for a body sent as the job wrote it (a shape ``read_call`` leaves to
the stdlib, or values msgpack cannot carry). The cook answers each frame tagged the same way: ``m``
with the call's result as its multicall entry (``[value]`` or a fault's dict), which the relay
writes as the XML the cook would have written (``result_bytes``); ``x`` with the XML itself. So
the XML of a report is read and written once, on the worker, and the cook's own work per call is
msgpack (its checks of each call are the same). A cook still takes the untagged form above.
"""

from __future__ import annotations

from typing import Any

import msgpack

_packb = msgpack.Packer(use_bin_type=True).pack

#: a job's call to the result server: ``POST /RPC2/<secret>``
RPC_PREFIX = "/RPC2/"
#: a relay's request of many calls: ``POST /RELAY/<secret>``
RELAY_PREFIX = "/RELAY/"
RELAY_TYPE = b"application/x-pdg-relay"
#: a relay's request of tagged frames (calls read on the worker), and the cook's answer to one
RELAY_PACKED_TYPE = b"application/x-pdg-relay-packed"
PACKED, XML = b"m", b"x"
#: calls forwarded in one request (the cook refuses more)
MAX_CALLS = 256
#: a relayed request's body: at most this many of the cook's per-call limit (a call alone always fits)
MAX_BODIES = 8


def relayed_limit(max_body: int) -> int:
    """The largest relayed body the cook reads, for a per-call limit of ``max_body`` bytes (the
    calls' bodies and their frames' length prefixes)."""
    return max_body * MAX_BODIES + 4 * MAX_CALLS


def frames(bodies: list[bytes]) -> bytes:
    """Bodies framed by their length (4 bytes, big-endian): a relayed request's and its answer's body."""
    return b"".join(len(b).to_bytes(4, "big") + b for b in bodies)


def unframe(data: bytes, limit: int) -> list[bytes]:
    """``frames`` read back; ValueError for anything else (a truncated frame, over ``limit`` frames)."""
    out: list[bytes] = []
    at = 0
    while at < len(data):
        if len(out) >= limit or at + 4 > len(data):
            raise ValueError("a relayed body is frames of [length][bytes]")
        size = int.from_bytes(data[at : at + 4], "big")
        at += 4
        if at + size > len(data):
            raise ValueError("a relayed frame runs past the body's end")
        out.append(data[at : at + size])
        at += size
    return out


def fault_bytes(code: int, message: str) -> bytes:
    """An XML-RPC fault answer's body, as the stdlib's dispatch writes one."""
    import xmlrpc.client  # the relay reads no XML: only its refusals write some

    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, message), methodresponse=True).encode(
        "utf-8", "xmlcharrefreplace"
    )


def result_bytes(result: Any, multi: bool = False) -> bytes:
    """One call's XML answer from its multicall entry (``[value]`` or a fault's dict); for a job's
    own multicall (``multi``) the list of them, as ``system.multicall`` answers."""
    import xmlrpc.client

    if not multi and isinstance(result, dict):
        return fault_bytes(result["faultCode"], result["faultString"])
    value = result if multi else result[0]
    try:
        return xmlrpc.client.dumps((value,), methodresponse=True).encode("utf-8", "xmlcharrefreplace")
    except BaseException as exc:  # noqa: BLE001 - as the stdlib's dispatch: a fault
        return fault_bytes(1, f"{type(exc)}:{exc}")


def is_multicall(method: str, params: Any) -> bool:
    """Whether the cook opens this call into its calls (else a malformed multicall gets its fault)."""
    return method == "system.multicall" and len(params) == 1 and isinstance(params[0], list)


def packed_call(body: bytes) -> tuple[bytes, bool]:
    """A job's XML-RPC body as a tagged frame (``m``: read here; ``x``: as it came), and whether
    its answer is a multicall's list (``is_multicall``)."""
    from pdgstore.engine.schedulers import rpccall

    call = rpccall.read_call(body)
    if call is not None:
        params, method = call
        try:
            return PACKED + _packb([method, list(params)]), is_multicall(method, params)
        except (TypeError, ValueError, OverflowError):  # a value msgpack cannot carry as it is
            pass
    return XML + body, False


def read_frame(frame: bytes) -> tuple[tuple[tuple, str] | None, bytes]:
    """A tagged frame read back: ``((params, method), b"")`` for ``m``, ``(None, body)`` for ``x``;
    ValueError for anything else (only a relay holding the secret gets this far)."""
    tag, data = frame[:1], frame[1:]
    if tag == XML:
        return None, data
    if tag != PACKED:
        raise ValueError("a relayed frame is tagged m or x")
    try:
        method, params = msgpack.unpackb(data)
    except Exception as exc:  # noqa: BLE001 - msgpack's own errors, or not a pair
        raise ValueError(f"a relayed call is msgpack [method, params] ({type(exc).__name__})") from None
    if not isinstance(method, str) or not isinstance(params, list):
        raise ValueError("a relayed call is msgpack [method, params]")
    return (tuple(params), method), b""


def packed_answer(entry: Any, multi: bool) -> bytes:
    """The cook's answer to a call read on the worker: ``m`` and its multicall entry, or ``x`` and
    its XML (a value msgpack cannot carry)."""
    try:
        return PACKED + _packb(entry)
    except (TypeError, ValueError, OverflowError):
        return XML + result_bytes(entry, multi)


#: the XML of the answers most calls get (a report's ``True``), by their entry's (type, value)
_KNOWN: dict[tuple, bytes] = {}


def answer_xml(frame: bytes, multi: bool) -> bytes:
    """The XML a job hears for the cook's tagged answer ``frame`` (ValueError: not one)."""
    tag, data = frame[:1], frame[1:]
    if tag == XML:
        return data
    if tag != PACKED:
        raise ValueError("a relayed answer is tagged m or x")
    entry = msgpack.unpackb(data)
    if (
        not multi
        and isinstance(entry, list)
        and len(entry) == 1
        and type(entry[0]) in (bool, int)
        and entry[0] in (0, 1, -1)
    ):
        key = (type(entry[0]), entry[0])
        known = _KNOWN.get(key)
        if known is None:
            known = _KNOWN[key] = result_bytes(entry)
        return known
    return result_bytes(entry, multi)
