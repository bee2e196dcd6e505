"""Subscription handlers: the objects of the data layer, the registry of their types, and the manager
that creates them at paths (PDG's ``PyDataLayerSubscriptionHandler``, ``TypeRegistry``,
``SubscriptionHandlerManager``).

A handler owns one object path. A plain handler keeps its properties in memory (a custom handler
written by a user, ``pdgd.util.SimpleHandler``); the store's handlers (``storehandlers``) keep none
and read what they need from the store when asked. A user's handler class is instantiated lazily, on
the first subscription or command that reaches its path: that is what lets a handler create child
handlers of its own type in its ``__init__`` (the page's child handler example) without recursing
forever.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

from pdgstore.engine.datalayer.messages import APPEND, REMOVE, SET, Message, PropertyNames, snapshot

if TYPE_CHECKING:
    from pdgstore.engine.datalayer.core import DataLayer


class CommandError(Exception):
    """A command that no handler answers, or that its handler refused (a sentence for the caller)."""


class SubscriptionHandler:
    """One object at ``path``: its properties (name -> list), its children, its commands.

    Every change is published to the object's subscribers at once as a delta message."""

    def __init__(self, layer: DataLayer, path: str, type_name: str = "", factory=None) -> None:
        self.layer = layer
        self.path = path
        self.type_name = type_name
        self.properties: dict[str, list] = {}
        self.children: dict[str, SubscriptionHandler] = {}
        self._factory = factory
        self.impl: Any = None  # the user's handler object (any class: commands are its methods), once made

    # -- PDG's names -------------------------------------------------------------------------------
    def getObjectName(self) -> str:
        return self.path

    def addValues(self, name: str, values) -> None:
        values = list(values)
        with self.layer.lock:
            self.properties.setdefault(name, []).extend(values)
            self.layer.publish(self.path, [Message(APPEND, self.layer.seq, name, values)])

    def removeValues(self, name: str, values) -> None:
        values = list(values)
        with self.layer.lock:
            current = self.properties.setdefault(name, [])
            for value in values:
                if value in current:
                    current.remove(value)
            self.layer.publish(self.path, [Message(REMOVE, self.layer.seq, name, values)])

    def setValues(self, name: str, values) -> None:
        values = list(values)
        with self.layer.lock:
            self.properties[name] = list(values)
            self.layer.publish(self.path, [Message(SET, self.layer.seq, name, values)])

    def getValues(self, name: str) -> list:
        return list(self.properties.get(name, []))

    def addChildHandler(self, name: str, child: SubscriptionHandler) -> None:
        """Make ``child`` this object's child ``name`` (listed in its ``children`` property)."""
        with self.layer.lock:
            self.children[name] = child
            self.layer.manager.adopt(child)
            self.addValues(PropertyNames.Children, [name])

    def removeChildHandler(self, name: str) -> None:
        with self.layer.lock:
            child = self.children.pop(name, None)
            if child is not None:
                self.removeValues(PropertyNames.Children, [name])

    # -- what the layer asks -----------------------------------------------------------------------
    def ensure_made(self) -> None:
        """Make the user's handler object, the first time anyone needs it."""
        if self.impl is None and self._factory is not None:
            factory, self._factory = self._factory, None
            self.impl = factory(self)

    def snapshot(self) -> Message:
        self.ensure_made()
        return snapshot({name: list(values) for name, values in self.properties.items()}, self.layer.seq)

    def command(self, name: str, params: Any) -> Any:
        """Run command ``name``: the handler's method of that name, or its snake_case twin
        (``MyCommand`` -> ``my_command``)."""
        self.ensure_made()
        for target in (self.impl, self):
            if target is None:
                continue
            for attribute in (name, snake_case(name)):
                method = getattr(target, attribute, None)
                if callable(method) and not attribute.startswith("_"):
                    return method(params)
        raise CommandError(f"the object {self.path} has no command {name}")

    def is_read_only(self, name: str) -> bool:
        """Whether a remote caller may run command ``name`` without the server's token: only when
        the user's handler lists it in ``read_only_commands`` (every other command may change
        something)."""
        read_only = getattr(self.impl, "read_only_commands", ()) if self.impl is not None else ()
        return name in read_only or snake_case(name) in read_only


#: PDG's name for the handler a Python class implements
PyDataLayerSubscriptionHandler = SubscriptionHandler


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class TypeRegistry:
    """Handler types by name: the store's own and every ``register_new_handler``."""

    def __init__(self) -> None:
        self._types: dict[str, Any] = {}
        self._lock = threading.Lock()

    def registerType(self, name: str, factory) -> None:
        with self._lock:
            self._types[name] = factory

    def typeNames(self) -> list[str]:
        with self._lock:
            return list(self._types)

    def factory(self, name: str):
        with self._lock:
            factory = self._types.get(name)
        if factory is None:
            raise KeyError(f"no subscription handler type {name} (registered: {', '.join(self._types)})")
        return factory

    register_type = registerType
    type_names = typeNames


class SubscriptionHandlerManager:
    """Handlers made by name at paths (``createSubscriptionHandler``), found again by path."""

    def __init__(self, layer: DataLayer) -> None:
        self.layer = layer
        self.handlers: dict[str, SubscriptionHandler] = {}

    def createSubscriptionHandler(self, path: str, type_name: str) -> SubscriptionHandler:
        """A handler of type ``type_name`` at ``path``; the type's class is instantiated when the
        object is first subscribed to (or sent a command)."""
        path = clean_path(path)
        factory = self.layer.registry.factory(type_name)
        handler = SubscriptionHandler(self.layer, path, type_name, factory)
        self.adopt(handler)
        return handler

    def adopt(self, handler: SubscriptionHandler) -> None:
        """Serve ``handler`` at its path from now on (its subscribers get its snapshot)."""
        with self.layer.lock:
            if self.handlers.get(handler.path) is handler:
                return
            self.handlers[handler.path] = handler
            self.layer.path_changed(handler.path)

    def getSubscriptionHandler(self, path: str) -> SubscriptionHandler | None:
        return self.handlers.get(clean_path(path))

    def removeSubscriptionHandler(self, path: str) -> None:
        with self.layer.lock:
            if self.handlers.pop(clean_path(path), None) is not None:
                self.layer.path_changed(clean_path(path))

    create_subscription_handler = createSubscriptionHandler
    get_subscription_handler = getSubscriptionHandler


def clean_path(path: str) -> str:
    """An object path as the layer keys it: no surrounding blanks or slashes (the page's own
    example registers ``' my_subscription_handler_address'``)."""
    path = path.strip()
    if path.startswith("query?"):
        return path
    return path.strip("/")
