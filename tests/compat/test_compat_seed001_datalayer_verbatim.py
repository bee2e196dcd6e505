"""Seed 001's code samples exactly as the page prints them, run against a real store.

Each sample below is copied from the page byte for byte (its odd indentation and trailing spaces
included). Most run as they are. The copy of the page we have lost a few characters in five of
them (a function body, a closing parenthesis, a line break); each of those is run with only that
repair, spelled out beside it as (what the page says, what runs), and a test proves the page's own
text does not compile, so no repair is one we could have done without. Placeholders are the page's
too: ``'pdg/object/path'`` runs as it is (no such object: an empty one), ``'ws://host:port'`` is
given the server's address. The query samples lost their braces and most of their values in the
copy: they are not code any more, and ``test_compat_seed001_datalayer.py::test_query_example`` runs the
query the page describes.
"""

from __future__ import annotations

import json

import pytest

import pdgd
import pdgd.util
from pdgstore.engine.datalayer.local import reset_local_layer

pytestmark = pytest.mark.timeout(60)

# -- the page's samples, as printed --------------------------------------------------------------
BASIC_USAGE = r"""import pdgd.util 

data_layer = pdgd.util.get_local_data_layer() 
visualizer_object = pdgd.util.PDGDObject('pdg/object/path', data_layer)

def my_callback(pdg_object_path, object, message): 

# It is important to note that at this point the visualizer_object 
# may already have received data, so you might want to manually call 
# my_callback once if you need to process that initial data.
"""

PDG_GRAPHS = r"""import pdgd.util

data_layer = pdgd.util.get_local_data_layer() 
visualizer_object = pdgd.util.PDGDObject('pdg', data_layer) 
"""

GRAPH_OBJECTS = r"""import pdgd 
import pdgd.util

GRAPH_LIST_KEY = pdgd.PropertyNames.GraphList

data_layer = pdgd.util.get_local_data_layer()
visualizer_object = pdgd.util.PDGDObject('pdg', data_layer)

graph_objects = {} 

if GRAPH_LIST_KEY in visualizer_object.object: 
    for graph_name in visualizer_object.object[GRAPH_LIST_KEY]: 
        graph_objects[graph_name] = pdgd.util.PDGDObject('pdg/' + graph_name, data_layer) 
"""

START_A_SERVER = r"""import pdgd

server_manager = pdgd.DataLayerServerManager.Instance()

# The first parameter is the server type, the second 
# is the port the server will listen, zero means the 
# system will choose an available port 

server = server_manager.createServer('DataLayerWSServer', 0) 


print('Server listening at port: {}'.format(server.getPort())) 
"""

CONNECT_TO_A_REMOTE_INTERFACE = r"""import pdgd

interface_manager = pdgd.DataLayerInterfaceManager.Instance() 
data_layer = interface_manager.createInterface('DataLayerWSClient', 'ws://host:port')

visualizer_object = pdgd.util.PDGDObject('pdg', data_layer)
"""

COVER_BOTH_CASES = r"""import pdgd.util 

data_layer = pdgd.util.get_local_data_layer() 
visualizer_object = pdgd.util.PDGDObject('pdg/object/path', data_layer) 

def my_callback(pdg_object_path, object, message): 

# Manually calling the callback ensures we're checking for 
# any data received on subscribing. This is likely needed if 
# we're using a local interface. 

my_callback('pdg/object/path', visualizer_object.object, None)
"""

VISUALIZER = r"""import pdgd 
import pdgd.util

class MyDataVisualizer(pdgd.DataLayerVisualizer): 

        def __init__(self): 
                super(MyDataVisualizer, self).__init__() 

        def processMessage(self, message, sender): 
                print('Received message from {}: \n{}\n'.format(sender, message.toJson())) 

        def subscriptionLost(self): 
                print('Subscription to data layer was lost') 

my_visualizer = MyDataVisualizer()

data_layer = pdgd.util.get_local_data_layer() 
data_layer.subscribe(my_visualizer, 'pdg') 
"""

TYPE_REGISTRY = r"""import pdgd

type_registry = pdgd.TypeRegistry.Instance() 
registered_handlers = type_registry.typeNames( 

print('Registered subscription handlers: {}'.format(registered_handlers)) 
"""

SIMPLE_HANDLER = r"""import pdgd 
import pdgd.util 

class MySubscriptionHandler(pdgd.util.SimpleHandler):

        def __init__(self, handler): 
                super(MySubscriptionHandler, self).__init__(handler) 

                self.addValues('TestProperty', [0, 1, 2, 3, 4]) 
                self.addValues2('TestProperty2', ["test_string"]) 

pdgd.util.register_new_handler(MySubscriptionHandler, 'MySubscriptionHandlerName', ' my_subscription_handler_address') 

data_layer = pdgd.util.get_local_data_layer() 
visualizer_object = pdgd.util.PDGDObject(data_layer, 'my_subscription_handler_address')
"""

COMMANDS = r"""import pdgd 
import pdgd.util

class MySubscriptionHandler(pdgd.util.SimpleHandler):

        def __init__(self, handler): 
                super(MySubscriptionHandler, self).__init__(handler) 

        def my_command(self, params): 
                print('MyCommand command called with parameters: {}'.format(params)

pdgd.util.register_new_handler(MySubscriptionHandler, 'MySubscriptionHandlerName', 'my_subscription_handler_address')

data_layer = pdgd.util.get_local_data_layer() 
data_layer.sendCommand('MyCommand', 'Parameter', 'my_subscription_handler_address') 
"""

CHILD_HANDLERS = r"""import pdgd 
import pdgd.util 

class MySubscriptionHandler(pdgd.util.SimpleHandler): 

        def __init__(self, handler): 
                super(MySubscriptionHandler, self).__init__(handler) 

                this_handler_name = self.getObjectName() 
                child_handler_name = 'child' child_handler_path = '{}/{}'.format( 
                        this_handler_name, child_handler_name)

                handler_manager = pdgd.SubscriptionHandlerManager.Instance() 
                child_handler = handler_manager.createSubscriptionHandler(child_handler_path, 'MySubscriptionHandlerName') 

                self.addChildHandler(child_handler_name, child_handler)

pdgd.util.register_new_handler(MySubscriptionHandler, 'MySubscriptionHandlerName') 
"""

#: the repairs of the samples the copy broke: (what the page says, what runs)
NO_BODY = ("def my_callback(pdg_object_path, object, message): \n", "def my_callback(pdg_object_path, object, message): \n    pass\n")
REPAIRS = {
    "BASIC_USAGE": [NO_BODY],
    "COVER_BOTH_CASES": [NO_BODY],
    "TYPE_REGISTRY": [("type_registry.typeNames( \n", "type_registry.typeNames()\n")],
    "COMMANDS": [(".format(params)\n", ".format(params))\n")],
    "CHILD_HANDLERS": [("child_handler_name = 'child' child_handler_path", "child_handler_name = 'child'\n                child_handler_path")],
}


def run(name: str, replace: tuple = ()) -> dict:
    """Run sample ``name`` (with its repairs, and ``replace``: a placeholder given its value) in a
    namespace of its own; the namespace it leaves."""
    text = globals()[name]
    for old, new in [*REPAIRS.get(name, ()), *replace]:
        assert text.count(old) == 1, (name, old)
        text = text.replace(old, new)
    namespace = {"__name__": f"seed001_{name.lower()}"}
    exec(compile(text, f"<seed 001: {name}>", "exec"), namespace)
    return namespace


@pytest.fixture
def cooked(wide, monkeypatch):
    """The W(20) project, cooked, as the current directory, with a fresh local data layer."""
    assert wide.pdg("cook", "wide.py").exit_code == 0
    monkeypatch.chdir(wide.root)
    monkeypatch.delenv("PDG_DB", raising=False)
    reset_local_layer()
    yield wide
    reset_local_layer()


@pytest.mark.parametrize("name", sorted(REPAIRS))
def test_the_samples_the_copy_broke_do_not_compile_as_printed(name):
    with pytest.raises(SyntaxError):
        compile(globals()[name], name, "exec")


def test_basic_usage(cooked):
    ns = run("BASIC_USAGE")
    assert ns["visualizer_object"].object == {}  # the page's placeholder path: no such object
    ns = run("BASIC_USAGE", [("'pdg/object/path'", "'pdg/wide'")])
    assert ns["visualizer_object"].object[pdgd.PropertyNames.Name] == ["wide"]
    assert callable(ns["my_callback"])


def test_pdg_graphs(cooked):
    assert run("PDG_GRAPHS")["visualizer_object"].object == {"graph_list": ["wide"]}


def test_graph_objects(cooked):
    ns = run("GRAPH_OBJECTS")
    assert list(ns["graph_objects"]) == ["wide"]
    assert ns["graph_objects"]["wide"].object[pdgd.PropertyNames.NodeList] == ["files", "upper", "gather", "concat"]


def test_start_a_server_and_connect_to_it(cooked, capsys):
    server = run("START_A_SERVER")["server"]
    try:
        assert capsys.readouterr().out == f"Server listening at port: {server.getPort()}\n"
        ns = run("CONNECT_TO_A_REMOTE_INTERFACE", [("ws://host:port", f"ws://127.0.0.1:{server.getPort()}")])
        try:
            assert ns["visualizer_object"].waitFor(lambda o: o.get("graph_list") == ["wide"])
        finally:
            ns["data_layer"].close()
    finally:
        pdgd.DataLayerServerManager.Instance().stopServer(server)


def test_cover_both_cases(cooked):
    ns = run("COVER_BOTH_CASES")
    assert ns["visualizer_object"].object == {}
    ns = run("COVER_BOTH_CASES", [("'pdg/object/path', data_layer", "'pdg/wide', data_layer")])
    assert ns["visualizer_object"].object[pdgd.PropertyNames.NodeList] == ["files", "upper", "gather", "concat"]


def test_data_layer_visualizer(cooked, capsys):
    ns = run("VISUALIZER")
    out = capsys.readouterr().out
    assert out.startswith("Received message from pdg: \n")
    body = json.loads(out.split("\n")[1])
    assert body["type"] == "eMessageTypeObjectSnapshot" and body["properties"] == {"graph_list": ["wide"]}
    ns["data_layer"].close()
    assert capsys.readouterr().out == "Subscription to data layer was lost\n"


def test_type_registry(cooked, capsys):
    ns = run("TYPE_REGISTRY")
    assert capsys.readouterr().out == f"Registered subscription handlers: {ns['registered_handlers']}\n"
    assert {"PDGRootHandler", "PDGGraphHandler", "PDGNodeHandler", "PDGWorkItemHandler"} <= set(ns["registered_handlers"])


def test_simple_handler(cooked):
    ns = run("SIMPLE_HANDLER")
    assert ns["visualizer_object"].object == {"TestProperty": [0, 1, 2, 3, 4], "TestProperty2": ["test_string"]}
    assert "MySubscriptionHandlerName" in pdgd.TypeRegistry.Instance().typeNames()


def test_commands(cooked, capsys):
    run("COMMANDS")
    assert capsys.readouterr().out == "MyCommand command called with parameters: Parameter\n"


def test_child_handlers(cooked):
    run("CHILD_HANDLERS")
    manager = pdgd.SubscriptionHandlerManager.Instance()
    manager.createSubscriptionHandler("parent", "MySubscriptionHandlerName")
    data_layer = pdgd.util.get_local_data_layer()
    assert pdgd.util.PDGDObject("parent", data_layer).object == {"children": ["child"]}
    assert pdgd.util.PDGDObject("parent/child", data_layer).object == {"children": ["child"]}
