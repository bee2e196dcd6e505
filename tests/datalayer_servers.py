"""The data layer over a cooked store and a WebSocket server on it: what the data layer's cost and
safety tests start from. Import the fixtures into a test module
(``from datalayer_servers import layer, ws``) to use them there.
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
