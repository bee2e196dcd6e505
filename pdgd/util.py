"""``pdgd.util``: PDG's helpers over the data layer: ``get_local_data_layer``, ``PDGDObject``,
``SimpleHandler`` and ``register_new_handler`` (seed 001)."""

from __future__ import annotations

import json
import threading

from pdgstore.engine.datalayer.handlers import SubscriptionHandler
from pdgstore.engine.datalayer.local import local_layer
from pdgstore.engine.datalayer.messages import Message, apply_message
from pdgstore.engine.datalayer.queries import PREFIX as QUERY_PREFIX

import pdgd


def get_local_data_layer():
    """The data layer of this process: its own handlers, and the current project's store."""
    return local_layer()


class PDGDObject(pdgd.DataLayerVisualizer):
    """An object of the data layer kept as Python data in ``object`` (property -> list of values).

    It subscribes as soon as it is made; each snapshot or delta updates ``object`` and then calls
    every listener as ``listener(object_path, object, message)``. Takes ``(path, data_layer)``, or
    ``(data_layer, path)`` as the page's handler example writes it; a query may be given as its
    definition (a dict, or its JSON) instead of ``'query?...'``."""

    def __init__(self, object_path, data_layer) -> None:
        super().__init__()
        if not isinstance(object_path, (str, dict)):
            object_path, data_layer = data_layer, object_path
        if isinstance(object_path, dict):
            object_path = QUERY_PREFIX + json.dumps(object_path)
        elif object_path.lstrip().startswith("{"):
            object_path = QUERY_PREFIX + object_path.strip()
        self.path = object_path.strip()
        self.data_layer = data_layer
        self.object: dict[str, list] = {}
        self.seq = 0
        self.is_lost = False
        self.listeners: list = []
        self.changed = threading.Condition()
        data_layer.subscribe(self, self.path)

    def processMessage(self, message: Message, sender: str) -> None:
        with self.changed:
            self.object = apply_message(self.object, message)
            self.seq = max(self.seq, message.seq)
            self.is_lost = False
            self.changed.notify_all()
        for listener in list(self.listeners):
            listener(self.path, self.object, message)

    def subscriptionLost(self) -> None:
        with self.changed:
            self.is_lost = True
            self.changed.notify_all()

    def addListener(self, listener) -> None:
        """Call ``listener(object_path, object, message)`` after every message."""
        self.listeners.append(listener)

    def removeListener(self, listener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)

    def waitFor(self, predicate, timeout: float = 10.0) -> bool:
        """Wait until ``predicate(object)`` holds (True) or ``timeout`` seconds pass (False)."""
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self.object), timeout)

    def unsubscribe(self) -> None:
        self.data_layer.unsubscribe(self, self.path)

    add_listener = addListener
    remove_listener = removeListener
    wait_for = waitFor


class SimpleHandler:
    """Base of a user's subscription handler: ``addValues``, ``removeValues``, ``setValues``,
    ``getObjectName``, ``addChildHandler``; any other method is a command (``sendCommand('MyCommand',
    params, path)`` calls ``my_command(params)`` and returns what it returns). List the commands
    that change nothing in ``read_only_commands`` to let remote clients without the token run them."""

    read_only_commands: tuple[str, ...] = ()

    def __init__(self, handler: SubscriptionHandler) -> None:
        self.handler = handler

    def addValues(self, name: str, values) -> None:
        self.handler.addValues(name, values)

    addValues2 = addValues

    def removeValues(self, name: str, values) -> None:
        self.handler.removeValues(name, values)

    def setValues(self, name: str, values) -> None:
        self.handler.setValues(name, values)

    def getValues(self, name: str) -> list:
        return self.handler.getValues(name)

    def getObjectName(self) -> str:
        return self.handler.getObjectName()

    def addChildHandler(self, name: str, child) -> None:
        self.handler.addChildHandler(name, child.handler if isinstance(child, SimpleHandler) else child)


def register_new_handler(handler_class, name: str, address: str | None = None) -> None:
    """Register ``handler_class`` as handler type ``name``; with ``address``, also make one at
    that path now."""
    layer = local_layer()
    layer.registry.registerType(name, handler_class)
    if address is not None and address.strip():
        handler = layer.manager.createSubscriptionHandler(address, name)
        handler.ensure_made()
        layer.path_changed(handler.path)
