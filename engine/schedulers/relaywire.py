"""The wire between a Dask worker's report relay (``engine.schedulers.dask.relay``) and the cook's
result server (``engine.schedulers.rpchttp``): one definition of what both sides read and write.

A relay sends the calls of its jobs as one ``POST /RELAY/<secret>`` whose body is the calls' XML-RPC
bodies, each framed by its length; the cook answers each call in a body framed the same way, of type
``RELAY_TYPE`` (any other answer refuses the request whole). It lives here, not in the dask package,
so the result server reads it without importing the dask scheduler.
"""

from __future__ import annotations

#: a job's call to the result server: ``POST /RPC2/<secret>``
RPC_PREFIX = "/RPC2/"
#: a relay's request of many calls: ``POST /RELAY/<secret>``
RELAY_PREFIX = "/RELAY/"
RELAY_TYPE = b"application/x-pdg-relay"
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
