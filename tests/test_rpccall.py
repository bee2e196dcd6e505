"""``rpccall.read_call`` reads a call as the stdlib's ``xmlrpc.client.loads`` does, or declines.

Whatever body it is given, it answers exactly what the stdlib reads from it, or None (the result
server then hands the body to the stdlib): never a different reading. Calls are drawn as the
stdlib writes them (what ``pdgcmd`` sends), then bent the ways other clients or attackers write
them."""

from __future__ import annotations

import math
import xmlrpc.client

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdgstore.engine.schedulers import rpccall

pytestmark = pytest.mark.timeout(120)

# text XML can carry (the stdlib writes any str, and expat then refuses what XML cannot hold)
scalars = (
    st.integers(min_value=-(1 << 31), max_value=(1 << 31) - 1)
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.text()
    | st.none()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
methods = st.sampled_from(["set_attrib", "add_output_files", "system.multicall", "keepalive"])


def stdlib(body: bytes):
    try:
        return xmlrpc.client.loads(body, use_builtin_types=False)
    except Exception as exc:  # noqa: BLE001 - whatever the stdlib refuses a body with
        return type(exc)


def same(a, b) -> bool:
    """Equal, with a float's sign (0.0 and -0.0) and the type (1 and True) counted."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return a == b


def agrees(body: bytes) -> bool:
    """Declined, or read exactly as the stdlib reads it."""
    fast = rpccall.read_call(body)
    if fast is None:
        return True
    slow = stdlib(body)
    assert isinstance(slow, tuple), (body, fast, slow)
    assert same(fast, slow), (body, fast, slow)
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(values, max_size=5), methods)
def test_a_call_the_stdlib_writes_is_read_as_the_stdlib_reads_it(params, method):
    body = xmlrpc.client.dumps(tuple(params), method, allow_none=True).encode()
    fast = rpccall.read_call(body)
    if fast is None:  # declined only where the stdlib refuses it too (a character XML cannot hold)
        assert not isinstance(stdlib(body), tuple), body
        return
    assert same(fast, xmlrpc.client.loads(body, use_builtin_types=False)), body


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(values, min_size=1, max_size=3), methods, st.data())
def test_a_bent_call_is_read_as_the_stdlib_reads_it_or_declined(params, method, data):
    body = bytearray(xmlrpc.client.dumps(tuple(params), method, allow_none=True).encode())
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(body)))
        what = data.draw(
            st.sampled_from(
                [b"", b" ", b"\r", b"\r\n", b"\x00", b"x", b"<", b">", b"&", b"&amp;", b"&#38;", b"&#0;",
                 b"&bogus;", b"<!-- c -->", b"<![CDATA[x]]>", b"<value>", b"</value>", b"<int>", b"<nil/>",
                 b"<i2>1</i2>", b"<ex:nil/>", b"<value a='1'>", b"\xff", b"\xc3", "\u00e9".encode(), b"<?pi?>",
                 b"<member>", b"<name>k</name>", b"<data>", b"</struct>", b"<boolean>1</boolean>"]
            )
        )
        cut = data.draw(st.integers(0, 3))
        body[at : at + cut] = what
    assert agrees(bytes(body))


@pytest.mark.parametrize(
    "body",
    [
        b"<?xml version='1.0'?><methodCall><methodName>m</methodName><params><param><value>text &amp; more"
        b"</value></param></params></methodCall>",
        b"<methodCall><methodName>m</methodName></methodCall>",
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodCall><methodName>m</methodName><params><param><value>"
        b"<struct><member><name>a&lt;b</name><value><i8>12345678901</i8></value></member></struct></value></param>"
        b"</params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><string>&#233;&#x263A;\r\nx</string></value>"
        b"</param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><boolean>2</boolean></value>"
        b"</param></params></methodCall>",
        b"<?xml version='1.0' encoding='latin-1'?><methodCall><methodName>\xe9</methodName></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><int></int></value></param></params>"
        b"</methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><int>1</int>x</value></param></params>"
        b"</methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><nil>x</nil></value></param></params>"
        b"</methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><array><data><value><int>1</int></value>"
        b"</data></array></value><value><int>2</int></value></param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><struct><member><value><int>1</int></value>"
        b"<name>k</name></member></struct></value></param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><extra/></methodCall>",
    ],
)
def test_edge_cases_agree_with_the_stdlib(body):
    assert agrees(body)


def test_what_pdgcmd_sends_is_read_here_not_by_the_stdlib():
    """The point of the module: a job's reports take the fast path."""
    for params in [(["id", 0, "t.1"], "a", "int", [1]), (["id", 0, "t.2"], "d", "dict", [{"i": 1, "s": "x"}]),
                   (["id", 0, "t.3"], [["out/a.txt", "file", ""]]), ([{"methodName": "m", "params": [1.5, None]}],)]:
        body = xmlrpc.client.dumps(params, "set_attrib", allow_none=True).encode()
        assert rpccall.read_call(body) == xmlrpc.client.loads(body)
