"""Every code sample of seed 001 (PDG Data Layer), written as a PDG user would paste it.

The page's samples lose their braces and some lines in the copy we have; each test below is the
sample completed the obvious way (the comment names the page's heading). They run on the process's
own data layer (``pdgd.util.get_local_data_layer()``) over a real store cooked in a temporary
project, and, for "Remote PDGD", over a real WebSocket server and client.
"""

from __future__ import annotations

import json
import os
import time

import pytest

import pdgd
import pdgd.util
from pdgstore.engine.datalayer.local import reset_local_layer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def cooked(wide, monkeypatch):
    """The W(20) project, cooked, as the current directory, with a fresh local data layer."""
    assert wide.pdg("cook", "wide.py").exit_code == 0
    monkeypatch.chdir(wide.root)
    monkeypatch.delenv("PDG_DB", raising=False)
    reset_local_layer()
    yield wide
    reset_local_layer()


@pytest.fixture
def layer(tmp_path, monkeypatch):
    """A fresh local data layer in an empty folder (no store): for the handler samples."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PDG_DB", raising=False)
    reset_local_layer()
    yield
    reset_local_layer()


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# -- Basic usage ----------------------------------------------------------------------------------
def test_basic_usage_pdgdobject_and_callback(cooked):
    data_layer = pdgd.util.get_local_data_layer()
    visualizer_object = pdgd.util.PDGDObject("pdg/wide", data_layer)
    seen = []

    def my_callback(pdg_object_path, object, message):
        seen.append((pdg_object_path, dict(object), message))

    visualizer_object.addListener(my_callback)
    # It is important to note that at this point the visualizer_object may already have received
    # data, so you might want to manually call my_callback once if you need to process that data.
    my_callback("pdg/wide", visualizer_object.object, None)
    assert seen[0][1][pdgd.PropertyNames.Name] == ["wide"]
    assert len(seen[0][1][pdgd.PropertyNames.WorkItems]) == 42  # 20 files, 20 upper, gather, concat


# -- PDG graphs -----------------------------------------------------------------------------------
def test_pdg_graphs_graph_list(cooked):
    data_layer = pdgd.util.get_local_data_layer()
    visualizer_object = pdgd.util.PDGDObject("pdg", data_layer)
    assert visualizer_object.object == {"graph_list": ["wide"]}


def test_pdg_graphs_graph_objects(cooked):
    GRAPH_LIST_KEY = pdgd.PropertyNames.GraphList

    data_layer = pdgd.util.get_local_data_layer()
    visualizer_object = pdgd.util.PDGDObject("pdg", data_layer)

    graph_objects = {}

    if GRAPH_LIST_KEY in visualizer_object.object:
        for graph_name in visualizer_object.object[GRAPH_LIST_KEY]:
            graph_objects[graph_name] = pdgd.util.PDGDObject("pdg/" + graph_name, data_layer)

    assert list(graph_objects) == ["wide"]
    assert graph_objects["wide"].object[pdgd.PropertyNames.NodeList] == ["files", "upper", "gather", "concat"]


def test_pdg_graphs_list_updates_when_a_graph_appears(cooked):
    data_layer = pdgd.util.get_local_data_layer()
    visualizer_object = pdgd.util.PDGDObject("pdg", data_layer)
    cooked.write("other.py", 'from pdgstore.engine import Graph\ngraph = Graph("other")\ngraph.file_pattern("f", "in/*.txt")\n')
    assert cooked.pdg("cook", "other.py", "--db", str(cooked.db)).exit_code == 0
    assert wait_until(lambda: visualizer_object.object["graph_list"] == ["wide", "other"])


# -- PDG nodes and PDG work items ---------------------------------------------------------------
def test_nodes_and_work_items_by_path(cooked):
    P = pdgd.PropertyNames
    data_layer = pdgd.util.get_local_data_layer()
    graph = pdgd.util.PDGDObject("pdg/wide", data_layer)
    nodes = {i: pdgd.util.PDGDObject(f"pdg/wide/node_{i}", data_layer) for i in graph.object[P.NodeList]}
    upper = nodes["upper"].object
    assert upper[P.NumWorkItems] == [20] and upper[P.StateCounts] == [["cooked_success", 20]]
    assert upper[P.CookState] == ["cooked"]
    assert set(upper[P.WorkItems]) < set(graph.object[P.WorkItems])  # the node's own, the graph's all
    item = pdgd.util.PDGDObject(f"pdg/wide/work_item_{upper[P.WorkItems][0]}", data_layer).object
    assert item[P.Node] == ["upper"] and item[P.State] == ["cooked_success"] and item[P.Name] == ["upper_1"]
    assert item[P.OutputFiles] == [["out1/f0000.txt", "file/text", 14]]
    assert item[P.CookTime][0] > 0 and item[P.InputFiles][0][0] == "in/f0000.txt"


# -- Remote PDGD ----------------------------------------------------------------------------------
def test_remote_pdgd_server_and_interface(cooked):
    server_manager = pdgd.DataLayerServerManager.Instance()

    # The first parameter is the server type, the second is the port the server will listen,
    # zero means the system will choose an available port
    server = server_manager.createServer("DataLayerWSServer", 0)
    try:
        print("Server listening at port: {}".format(server.getPort()))
        assert server.getPort() > 0

        interface_manager = pdgd.DataLayerInterfaceManager.Instance()
        data_layer = interface_manager.createInterface("DataLayerWSClient", f"ws://127.0.0.1:{server.getPort()}")
        try:
            visualizer_object = pdgd.util.PDGDObject("pdg", data_layer)
            # With a remote interface the data arrives later: cover both cases.
            got = []

            def my_callback(pdg_object_path, object, message):
                got.append(list(object.get("graph_list", [])))

            visualizer_object.addListener(my_callback)
            my_callback("pdg", visualizer_object.object, None)
            assert wait_until(lambda: ["wide"] in got)
        finally:
            data_layer.close()
    finally:
        server_manager.stopServer(server)


def test_remote_tcp_twin(cooked):
    server = pdgd.DataLayerServerManager.Instance().createServer("DataLayerTCPServer", 0)
    try:
        data_layer = pdgd.DataLayerInterfaceManager.Instance().createInterface(
            "DataLayerTCPClient", f"tcp://127.0.0.1:{server.getPort()}"
        )
        try:
            node = pdgd.util.PDGDObject("pdg/wide/node_concat", data_layer)
            assert node.waitFor(lambda o: o.get("num_work_items") == [1])
        finally:
            data_layer.close()
    finally:
        pdgd.DataLayerServerManager.Instance().stopServer(server)


# -- Data layer visualizer ------------------------------------------------------------------------
def test_data_layer_visualizer(cooked, capsys):
    class MyDataVisualizer(pdgd.DataLayerVisualizer):
        def __init__(self):
            super(MyDataVisualizer, self).__init__()

        def processMessage(self, message, sender):
            print("Received message from {}: \n{}\n".format(sender, message.toJson()))

        def subscriptionLost(self):
            print("Subscription to data layer was lost")

    my_visualizer = MyDataVisualizer()

    data_layer = pdgd.util.get_local_data_layer()
    data_layer.subscribe(my_visualizer, "pdg")

    out = capsys.readouterr().out
    assert out.startswith("Received message from pdg: \n")
    body = json.loads(out.split("\n")[1])
    assert body["type"] == "eMessageTypeObjectSnapshot" and body["properties"] == {"graph_list": ["wide"]}
    data_layer.close()
    assert "Subscription to data layer was lost" in capsys.readouterr().out


def test_message_types_snapshot_and_deltas(cooked):
    """Snapshot, then deltas while a cook runs: AppendValues of new items, SetValues of counts."""
    MessageType = pdgd.Message.MessageType
    messages = []

    class Recorder(pdgd.DataLayerVisualizer):
        def processMessage(self, message, sender):
            messages.append(message)

    data_layer = pdgd.util.get_local_data_layer()
    data_layer.subscribe(Recorder(), "pdg/wide/node_upper")
    first = messages[0]
    assert first.getType() == MessageType.eMessageTypeObjectSnapshot
    snapshot = first.getObjectSnapshot()
    assert isinstance(snapshot, pdgd.ObjectSnapshot) and len(snapshot.getProperty("work_items")) == 20
    assert first.toPython()["properties"]["name"] == ["upper"]

    cooked.inputs(25)  # five more inputs: five more upper items
    assert cooked.pdg("cook", "wide.py").exit_code == 0
    assert wait_until(lambda: any(m.getType() == MessageType.eMessageTypeAppendValues for m in messages))
    appended = [m for m in messages if m.getType() == MessageType.eMessageTypeAppendValues]
    assert appended[0].getPropertyName() == "work_items"
    assert sum(len(m.getPropertyArray()) for m in appended) == 5
    assert wait_until(
        lambda: any(
            m.getType() == MessageType.eMessageTypeSetValues
            and m.getPropertyName() == "num_work_items"
            and m.getPropertyArray() == [25]
            for m in messages
        )
    )
    seqs = [m.seq for m in messages]
    assert seqs == sorted(seqs) and seqs[-1] > first.seq
    assert {MessageType(int(t)) for t in range(4)} == set(MessageType)


# -- Subscription handler -------------------------------------------------------------------------
def test_type_registry(cooked, capsys):
    type_registry = pdgd.TypeRegistry.Instance()
    registered_handlers = type_registry.typeNames()

    print("Registered subscription handlers: {}".format(registered_handlers))
    assert "PDGGraphHandler" in registered_handlers and "PDGWorkItemHandler" in registered_handlers


def test_simple_handler(layer):
    class MySubscriptionHandler(pdgd.util.SimpleHandler):
        def __init__(self, handler):
            super(MySubscriptionHandler, self).__init__(handler)

            self.addValues("TestProperty", [0, 1, 2, 3, 4])
            self.addValues2("TestProperty2", ["test_string"])

    pdgd.util.register_new_handler(MySubscriptionHandler, "MySubscriptionHandlerName", " my_subscription_handler_address")

    data_layer = pdgd.util.get_local_data_layer()
    visualizer_object = pdgd.util.PDGDObject(data_layer, "my_subscription_handler_address")
    assert visualizer_object.object == {"TestProperty": [0, 1, 2, 3, 4], "TestProperty2": ["test_string"]}
    assert "MySubscriptionHandlerName" in pdgd.TypeRegistry.Instance().typeNames()


def test_commands(layer, capsys):
    class MySubscriptionHandler(pdgd.util.SimpleHandler):
        def __init__(self, handler):
            super(MySubscriptionHandler, self).__init__(handler)

        def my_command(self, params):
            print("MyCommand command called with parameters: {}".format(params))
            return params.upper()

    pdgd.util.register_new_handler(MySubscriptionHandler, "MySubscriptionHandlerName", "my_subscription_handler_address")

    data_layer = pdgd.util.get_local_data_layer()
    result = data_layer.sendCommand("MyCommand", "Parameter", "my_subscription_handler_address")
    assert capsys.readouterr().out == "MyCommand command called with parameters: Parameter\n"
    assert result == "PARAMETER"


def test_child_handlers(layer):
    class MySubscriptionHandler(pdgd.util.SimpleHandler):
        def __init__(self, handler):
            super(MySubscriptionHandler, self).__init__(handler)

            this_handler_name = self.getObjectName()
            child_handler_name = "child"
            child_handler_path = "{}/{}".format(this_handler_name, child_handler_name)

            handler_manager = pdgd.SubscriptionHandlerManager.Instance()
            child_handler = handler_manager.createSubscriptionHandler(child_handler_path, "MySubscriptionHandlerName")

            self.addChildHandler(child_handler_name, child_handler)

    pdgd.util.register_new_handler(MySubscriptionHandler, "MySubscriptionHandlerName")

    data_layer = pdgd.util.get_local_data_layer()
    pdgd.SubscriptionHandlerManager.Instance().createSubscriptionHandler("root", "MySubscriptionHandlerName")
    root = pdgd.util.PDGDObject("root", data_layer)
    assert root.object == {"children": ["child"]}
    child = pdgd.util.PDGDObject("root/child", data_layer)  # made when first subscribed to
    assert child.object == {"children": ["child"]}
    assert pdgd.SubscriptionHandlerManager.Instance().getSubscriptionHandler("root/child/child") is not None


# -- Query system ---------------------------------------------------------------------------------
def make_query_example():
    """The page's objects: obj_a {prop_a: [1, 3, 5]}, obj_b {my_children_ids: 0..7},
    obj_b/childN {my_filter_prop: N % 4}."""

    class Values(pdgd.util.SimpleHandler):
        TABLE = {
            "obj_a": {"prop_a": [1, 3, 5]},
            "obj_b": {"my_children_ids": [0, 1, 2, 3, 4, 5, 6, 7]},
            **{f"obj_b/child{i}": {"my_filter_prop": [i % 4]} for i in range(8)},
        }

        def __init__(self, handler):
            super().__init__(handler)
            for name, values in self.TABLE[self.getObjectName()].items():
                self.addValues(name, values)

        def set_prop(self, params):
            self.setValues(params["name"], params["values"])

    pdgd.util.register_new_handler(Values, "Values")
    manager = pdgd.SubscriptionHandlerManager.Instance()
    for path in Values.TABLE:
        manager.createSubscriptionHandler(path, "Values")


def test_query_example(layer):
    make_query_example()
    query_string = "query?" + json.dumps(
        {
            "property_paths": ["obj_a/prop_a"],
            "format_string": "obj_b/child{}",
            "filters": [{"property_name": "my_filter_prop", "filter_value": 1, "negate": False}],
        }
    )

    data_layer = pdgd.util.get_local_data_layer()
    query_visualizer = pdgd.util.PDGDObject(query_string, data_layer)
    assert query_visualizer.object == {"results": ["obj_b/child1", "obj_b/child5"]}

    # Every time any data affecting this query changes, a message says how the results changed.
    messages = []
    query_visualizer.addListener(lambda path, obj, message: messages.append(message.toPython()))
    data_layer.sendCommand("set_prop", {"name": "my_filter_prop", "values": [1]}, "obj_b/child3")
    assert query_visualizer.object["results"] == ["obj_b/child1", "obj_b/child5", "obj_b/child3"]
    assert messages[-1]["type"] == "eMessageTypeAppendValues" and messages[-1]["values"] == ["obj_b/child3"]
    data_layer.sendCommand("set_prop", {"name": "prop_a", "values": [1, 3]}, "obj_a")
    assert query_visualizer.object["results"] == ["obj_b/child1", "obj_b/child3"]
    assert messages[-1]["type"] == "eMessageTypeRemoveValues" and messages[-1]["values"] == ["obj_b/child5"]


def test_query_and_of_ors_negate_and_sort(layer):
    make_query_example()
    data_layer = pdgd.util.get_local_data_layer()
    query = {
        "property_paths": ["obj_b/my_children_ids"],
        "format_string": "obj_b/child{}",
        "sort": True,
        "reverse_sort": True,
        "sort_property": "my_filter_prop",
        "filters": [
            [
                {"property_name": "my_filter_prop", "filter_value": 1, "negate": False},
                {"property_name": "my_filter_prop", "filter_value": 2, "negate": False},
            ],
            [{"property_name": "my_filter_prop", "filter_value": 2, "negate": True}, {"property_name": "x", "filter_value": 0}],
        ],
    }
    results = pdgd.util.PDGDObject("query?" + json.dumps(query), data_layer).object["results"]
    assert results == ["obj_b/child1", "obj_b/child5"]  # (1 or 2) and not 2
    query["filters"] = [[{"property_name": "my_filter_prop", "filter_value": 3, "negate": True}]]
    results = pdgd.util.PDGDObject(query, data_layer).object["results"]
    assert results[:2] == ["obj_b/child2", "obj_b/child6"] and results[-2:] == ["obj_b/child0", "obj_b/child4"]


def test_query_over_the_store(cooked):
    data_layer = pdgd.util.get_local_data_layer()
    query = {
        "property_paths": ["pdg/wide/node_upper/work_items"],
        "format_string": "pdg/wide/work_item_{}",
        "filters": [[{"property_name": "state", "filter_value": "cooked_success"}]],
    }
    results = pdgd.util.PDGDObject(query, data_layer)
    assert len(results.object["results"]) == 20
    assert cooked.pdg("dirty", "upper").exit_code == 0
    assert wait_until(lambda: results.object["results"] == [])


def test_bad_query_is_an_object_with_an_error(layer):
    obj = pdgd.util.PDGDObject("query?{not json", pdgd.util.get_local_data_layer())
    assert obj.object["results"] == [] and "not JSON" in obj.object["error"][0]


def test_unknown_command_is_a_sentence(layer):
    from pdgstore.engine.datalayer.handlers import CommandError

    make_query_example()
    with pytest.raises(CommandError, match="the object obj_a has no command Nope"):
        pdgd.util.get_local_data_layer().sendCommand("Nope", None, "obj_a")


def test_local_layer_waits_for_a_store(layer, wide, monkeypatch):
    monkeypatch.chdir(wide.root)
    data_layer = reset_local_layer()
    graphs = pdgd.util.PDGDObject("pdg", data_layer)
    assert graphs.object == {"graph_list": []}
    assert wide.pdg("cook", "wide.py").exit_code == 0
    assert os.path.exists(wide.db)
    assert graphs.waitFor(lambda o: o.get("graph_list") == ["wide"])
