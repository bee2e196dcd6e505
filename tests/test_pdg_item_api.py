"""PDG's work item API on the in-process item, cooked by the real ``pdg``: code pasted from PDG's
pages runs, and PDG's typed setters give the same result in-process as from a job.

``python_script(code=...)`` binds PDG's ``pdg.WorkItem`` as ``work_item`` (PDG's Python Script TOP),
so a page's ``work_item['x'].value()`` and ``work_item.node.type.typeName`` run as they are; a python
processor wraps its item (``pdg.WorkItem(item)``) for the same code, and its own item keeps
``item['x']`` as the value. The setters follow PDG and the job's ``pdgjson``: a list is the whole
array, an index past the end pads with the type's default, and an attribute of another type is
refused with one sentence naming the item and the attribute, whether the set is made in-process,
by ``pdgjson`` in a job, or by ``pdgcmd`` through the result server.
"""

from __future__ import annotations

import json

import pdg

#: the lines of seed 003's cache handler and CRC stat handler that read the work item, pasted
PASTED = """
if work_item['usecustomcaching'].value() == 0:
    work_item.setStringAttrib("seen", work_item.node.name + " " + work_item.node.type.typeName)
else:
    work_item.setStringAttrib("seen", "custom " + str(work_item['usecustomcaching'].value()))
work_item.setStringAttrib("names", work_item.attribNames())
work_item.setStringAttrib("kind", str(work_item.attribType("usecustomcaching")))
work_item.setFloatAttrib("at", work_item.frame)
"""


def shown(project, name: str) -> dict:
    result = project.pdg_process("show", name, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["item"]


def values(item: dict, name: str):
    attr = item["attrs"][name]
    return attr["type"], attr["values"]


def test_pdg_spelling_pasted_runs_in_python_script_code_and_in_a_python_processor(project):
    project.write("g.py", f'''
        import pdg
        from pdgstore.engine import Graph

        graph = Graph("paste")
        r = graph.range_generate("r", 2, attribute="usecustomcaching")

        @graph.python_processor("framed", upstream=r)
        def framed(item):
            item.set_attrib("frame", 10 + item.index)

        PASTED = {PASTED!r}
        graph.python_script("script", framed, code=PASTED)

        @graph.python_processor("proc", upstream=framed)
        def proc(item):
            work_item = pdg.WorkItem(item)  # PDG's work item over the processor's own
            if work_item['usecustomcaching'].value() == 0:
                work_item.setStringAttrib("seen", work_item.node.name + " " + work_item.node.type.typeName)
            else:
                work_item.setStringAttrib("seen", "custom " + str(work_item['usecustomcaching'].value()))
            work_item.addOutputFile(work_item.name + ".txt")
            open(work_item.name + ".txt", "w").write("x")
            # the engine's own item: PDG's readers beside item['x'], which is the value itself
            item.set_attrib("names", item.attribNames())
            item.set_attrib("kind", str(item.attribType("usecustomcaching")))
            item.set_attrib("at", item.frame)
            item.set_attrib("plain", item["usecustomcaching"] + 1)

        @graph.python_processor("node_name", upstream=r)
        def node_name(item):
            item.set_attrib("n", item.node.name)  # the engine's item.node is the node's name
    ''')
    cooked = project.pdg_process("cook", "g.py")
    assert cooked.returncode == 1, cooked.stderr  # node_name's items fail, with a hint
    for node in ("script", "proc"):
        first, second = shown(project, f"{node}_1"), shown(project, f"{node}_2")
        assert first["state"] == second["state"] == "cooked_success", (first.get("error"), second.get("error"))
        type_name = "pythonscript" if node == "script" else "pythonprocessor"
        assert values(first, "seen") == ("string", [f"{node} {type_name}"])
        assert values(second, "seen") == ("string", ["custom 1"])
        assert values(first, "names") == ("string", ["frame", "seen", "usecustomcaching"])
        assert values(first, "kind") == ("string", ["attribType.Int"])
        assert values(second, "at") == ("float", [11.0])
    assert values(shown(project, "proc_2"), "plain") == ("int", [2])
    assert [f["path"] for f in shown(project, "proc_1")["outputs"]] == ["proc_1.txt"]
    failed = shown(project, "node_name_1")
    assert failed["state"] == "cooked_fail"
    assert "'str' object has no attribute 'name'" in failed["error"]
    assert "pdg.WorkItem(item).node" in failed["error"], failed["error"]


#: PDG's setters, each case as a job's pdgjson spells it (``item``), run in every place
SETS = """
item.setIntAttrib("pia", 9, 2)
item.setStringAttrib("s2", "x", 3)
item.setIntAttrib("ia", [1, 2, 3])
item.setFloatAttrib("fa", (0.5, 1))
"""
RETYPE = 'item.setStringAttrib("value", "s")\n'
#: the same cases through pdgcmd, the functions a job calls without a work item object (same names)
CMD_SETS = "import pdgcmd\n" + SETS.replace("item.", "pdgcmd.")
SAME_TYPE_REFUSED = "an attribute with the name 'value' already exists with a different type (int, not string)"


def test_typed_setters_agree_in_process_and_in_jobs(project):
    """Each case made in a python processor (the engine's item and ``pdg.WorkItem`` over it), in
    ``python_script(code=)``, in a job's ``pdgjson`` and through ``pdgcmd``: the same attributes,
    and the same refusal of a set of another type, the attribute keeping its type."""
    job = "import pdgjson\nitem = pdgjson.WorkItem.fromJobEnvironment(print_info=False)\n"
    project.write("json_ok.py", job + SETS)
    project.write("json_bad.py", job + RETYPE)
    project.write("cmd_ok.py", CMD_SETS)
    project.write("cmd_bad.py", 'import pdgcmd\npdgcmd.setStringAttrib("value", "s")\n')
    project.write("g.py", f'''
        import pdg
        from pdgstore.engine import Graph

        graph = Graph("setters")
        r = graph.range_generate("r", 1)
        graph.scheduler("local", slots=2, max_retries=0, tick_period=0.05)
        SETS, RETYPE = {SETS!r}, {RETYPE!r}

        @graph.python_processor("proc_ok", upstream=r)
        def proc_ok(item):
            exec(SETS, {{"item": item}})

        @graph.python_processor("wrapped_ok", upstream=r)
        def wrapped_ok(item):
            exec(SETS, {{"item": pdg.WorkItem(item)}})

        graph.python_script("code_ok", r, code="item = work_item\\n" + SETS)
        graph.python_script("json_ok", r, "json_ok.py")
        graph.python_script("cmd_ok", r, "cmd_ok.py")

        @graph.python_processor("proc_bad", upstream=r)
        def proc_bad(item):
            exec(RETYPE, {{"item": item}})

        graph.python_script("code_bad", r, code="item = work_item\\n" + RETYPE)
        graph.python_script("json_bad", r, "json_bad.py")
        graph.python_script("cmd_bad", r, "cmd_bad.py")
    ''')
    cooked = project.pdg_process("cook", "g.py")
    assert cooked.returncode == 1, cooked.stderr
    for node in ("proc_ok", "wrapped_ok", "code_ok", "json_ok", "cmd_ok"):
        item = shown(project, f"{node}_1")
        assert item["state"] == "cooked_success", (node, item.get("error"))
        assert values(item, "pia") == ("int", [0, 0, 9]), node  # padded with the type's default
        assert values(item, "s2") == ("string", ["", "", "", "x"]), node
        assert values(item, "ia") == ("int", [1, 2, 3]), node  # a list is the whole array
        assert values(item, "fa") == ("float", [0.5, 1.0]), node
    errors = {}
    for node in ("proc_bad", "code_bad", "json_bad", "cmd_bad"):
        item = shown(project, f"{node}_1")
        assert item["state"] == "cooked_fail", node
        assert values(item, "value") == ("int", [0]), node  # refused, not retyped
        errors[node] = item["error"]
        assert SAME_TYPE_REFUSED in item["error"], (node, item["error"])
        assert "\n" not in item["error"]
    # in-process and in pdgjson the refusal is the same sentence, naming the item
    for node in ("proc_bad", "code_bad", "json_bad"):
        assert f"work item {node}_1: {SAME_TYPE_REFUSED}" in errors[node], errors[node]
    assert errors["cmd_bad"] == f"work item cmd_bad_1: its job exited with code 1: result server: {SAME_TYPE_REFUSED}"
    heard = project.pdg_process("log", "cmd_bad_1").stdout  # the job heard the refusal, naming its item
    assert "pdgcmd: the result server refused attribute 'value': result server: work item cmd_bad_1: " in heard


def test_a_value_of_the_wrong_kind_names_the_item_and_the_attribute(project):
    project.write("g.py", '''
        from pdgstore.engine import Graph

        graph = Graph("badvalue")
        r = graph.range_generate("r", 1)

        @graph.python_processor("p", upstream=r)
        def p(item):
            item.setIntAttrib("n", [[1]])
    ''')
    cooked = project.pdg_process("cook", "g.py")
    assert cooked.returncode == 1
    error = shown(project, "p_1")["error"]
    assert error.startswith("TypeError: work item p_1, attribute 'n': "), error


def test_pdg_enums_print_as_pdg_prints_them():
    assert str(pdg.workItemState.CookedSuccess) == "workItemState.CookedSuccess"
    assert f"{pdg.attribType.String}" == "attribType.String"
    assert str(pdg.attribFlag.NoCopy) == "attribFlag.NoCopy"
    assert pdg.workItemState.CookedSuccess == 6 and json.dumps([pdg.workItemState.CookedSuccess]) == "[6]"
