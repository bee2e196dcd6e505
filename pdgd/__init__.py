"""``pdgd``: the PDG data layer, by PDG's own names (seed 001), served from a pdgstore store.

    import pdgd, pdgd.util
    data_layer = pdgd.util.get_local_data_layer()
    graphs = pdgd.util.PDGDObject('pdg', data_layer)
    print(graphs.object[pdgd.PropertyNames.GraphList])

Object paths, message types and how a remote client resumes are in docs/datalayer.md.
"""

from __future__ import annotations

from pdgstore.engine.datalayer.handlers import PyDataLayerSubscriptionHandler
from pdgstore.engine.datalayer.local import local_layer as _local_layer
from pdgstore.engine.datalayer.messages import Message, MessageType, ObjectSnapshot, PropertyNames


class DataLayerVisualizer:
    """Base of a visualizer: override ``processMessage(message, sender)`` (called for every
    snapshot and delta of the objects it subscribed to) and optionally ``subscriptionLost()``."""

    def __init__(self) -> None:
        pass

    def processMessage(self, message: Message, sender: str) -> None:
        pass

    def subscriptionLost(self) -> None:
        pass


class TypeRegistry:
    """``TypeRegistry.Instance()``: the subscription handler types of this process's data layer."""

    @staticmethod
    def Instance():
        return _local_layer().registry


class SubscriptionHandlerManager:
    """``SubscriptionHandlerManager.Instance()``: makes handlers at paths in this process's layer."""

    @staticmethod
    def Instance():
        return _local_layer().manager


class DataLayerServerManager:
    """``DataLayerServerManager.Instance().createServer('DataLayerWSServer', 0)``: serve this
    process's data layer to remote clients (``DataLayerWSServer`` or ``DataLayerTCPServer``)."""

    @staticmethod
    def Instance():
        from pdgstore.engine.datalayer.server import server_manager

        return server_manager()


class DataLayerInterfaceManager:
    """``DataLayerInterfaceManager.Instance().createInterface('DataLayerWSClient', 'ws://host:port')``:
    a remote data layer (``DataLayerWSClient`` or ``DataLayerTCPClient`` with ``tcp://host:port``)."""

    @staticmethod
    def Instance():
        from pdgstore.engine.datalayer.client import interface_manager

        return interface_manager()


from pdgd import util  # noqa: E402  (PDG's scripts use pdgd.util after a bare ``import pdgd``)

__all__ = [
    "DataLayerInterfaceManager",
    "DataLayerServerManager",
    "DataLayerVisualizer",
    "Message",
    "MessageType",
    "ObjectSnapshot",
    "PropertyNames",
    "PyDataLayerSubscriptionHandler",
    "SubscriptionHandlerManager",
    "TypeRegistry",
    "util",
]
