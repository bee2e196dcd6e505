"""The data layer over a cooked store and a WebSocket server on it: what the data layer's cost and
safety tests start from, and ``fold``, which applies a frame's messages to a client's mirror of
one object as the page's client does. Import them into a test module
(``from datalayer_servers import fold, layer, ws``) to use them there.
"""

from __future__ import annotations

import pytest
from pdgstore.engine.datalayer.core import DataLayer
from pdgstore.engine.datalayer.server import WSServer


@pytest.fixture
def layer(wide):
    """A ``DataLayer`` on the wide project's store, after one cook of ``wide.py``."""
    assert wide.pdg("cook", "wide.py").exit_code == 0
    layer = DataLayer(str(wide.db))
    yield layer
    layer.close()


@pytest.fixture
def ws(layer):
    """A WebSocket server of ``layer`` on a free loopback port."""
    server = WSServer(layer, 0)
    yield server
    server.stop()


def fold(mirror: dict, messages: list[dict]) -> None:
    """Apply one frame's messages to ``mirror`` (one store object's properties): a snapshot (t 0)
    replaces it, an append (1) and a removal (2) change a list property, anything else sets one."""
    for m in messages:
        if m["t"] == 0:
            mirror.clear()
            mirror.update(m["props"])
        elif m["t"] == 1:
            mirror.setdefault(m["prop"], []).extend(m["values"])
        elif m["t"] == 2:
            for v in m["values"]:
                mirror[m["prop"]].remove(v)
        else:
            mirror[m["prop"]] = m["values"]
