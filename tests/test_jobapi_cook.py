"""Jobs talking back through the Job API to a real result server during a real cook.

A python script job reads its item with ``pdgjson``, sets attributes and reports output files; they
are in the log (``pdg show``) when the cook ends. A job's own failure report fails its item; a
forged call (bad secret, an item that is not cooking) is refused and changes nothing; 100
attributes cost little in round trips.
"""

from __future__ import annotations

import json
import threading
import time
import xmlrpc.client

import pytest

import pdgstore.engine as engine
from pdgstore.log import EventLog
from pdgstore.state import first_difference

JOB = '''
import sys
import pdgjson

item = pdgjson.WorkItem.fromJobEnvironment()
value = item.intAttribValue("value")
with open(f"out/{item.name}.txt", "w") as f:
    f.write(f"value {value}\\n")
item.setIntAttrib("double", value * 2)
item.setStringAttrib("label", f"item {item.name}")
item.setFloatAttribArray("pos", [1.5, 2.5, value])
item.addOutputFile(f"out/{item.name}.txt", "file/text/plain")
if value == 2:
    import pdgcmd
    pdgcmd.warning("value two is odd")
    pdgcmd.workItemFailed()
'''

GRAPH = '''
import os
from pdgstore.engine import Graph

graph = Graph("jobs")
os.makedirs(os.path.join(graph.root, "out"), exist_ok=True)
numbers = graph.range_generate("numbers", {n})
graph.scheduler("local", slots=2, max_retries=0, tick_period=0.05)
graph.python_script("job", numbers, "job.py")
'''


def test_attributes_and_outputs_reported_by_jobs_are_recorded(project):
    project.write("job.py", JOB)
    project.write("jobs.py", GRAPH.format(n=3))
    result = project.pdg_process("cook", "jobs.py", "--json")
    assert result.returncode == 1, result.stderr  # job_3 reported its own failure
    shown = json.loads(project.pdg_process("show", "job_1", "--json").stdout)["item"]
    assert shown["state"] == "cooked_success"
    assert shown["attrs"]["double"] == {"type": "int", "values": [0]}
    assert shown["attrs"]["label"] == {"type": "string", "values": ["item job_1"]}
    assert shown["attrs"]["pos"] == {"type": "float", "values": [1.5, 2.5, 0.0]}
    assert [(o["path"], o["tag"]) for o in shown["outputs"]] == [("out/job_1.txt", "file/text/plain")]
    failed = json.loads(project.pdg_process("show", "job_3", "--json").stdout)["item"]
    assert failed["state"] == "cooked_fail"
    assert "the job reported failure" in failed["error"]
    assert any(h["state"] == "warning" and h["message"] == "value two is odd" for h in failed["history"])
    text = project.pdg_process("show", "job_2").stdout
    assert "double (int) = 2" in text and "out/job_2.txt" in text
    assert project.pdg_process("check").returncode == 0


@pytest.mark.timeout(90)
def test_a_forged_call_is_refused_and_changes_nothing(tmp_path):
    """While a job runs: a call with a bad secret, and a call for an item that is not cooking, are
    refused; the item's attributes are what its own job set, and the refusals are warnings."""
    (tmp_path / "wait.py").write_text(
        "import os, time, pdgcmd\n"
        "open('server.tmp', 'w').write(os.environ['PDG_RESULT_SERVER'] + ' ' + os.environ['PDG_RESULT_SECRET'])\n"
        "os.replace('server.tmp', 'server.txt')  # whole when it appears: the forger polls for it\n"
        "deadline = time.monotonic() + 60\n"
        "while not os.path.exists('go') and time.monotonic() < deadline:\n"
        "    time.sleep(0.02)\n"
        "pdgcmd.setIntAttrib('mine', 1)\n"
    )
    graph = engine.Graph("forge", root=str(tmp_path))
    numbers = graph.range_generate("numbers", 1)
    graph.python_script("job", numbers, "wait.py")
    seen = {}

    @graph.on("work_item_state_change")
    def on_cooking(event):  # forge from another thread: the loop must go on to answer the calls
        if event.current_state == "cooking" and not seen:
            seen["started"] = True
            forger.append(threading.Thread(target=forge, args=(event,)))
            forger[0].start()

    forger = []

    def forge(event):
        try:
            forge_calls(event)
        finally:
            (tmp_path / "go").touch()  # whatever happened here, the job never waits for ever

    def forge_calls(event):
        deadline = time.monotonic() + 30
        while not (tmp_path / "server.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        address, secret = (tmp_path / "server.txt").read_text().split()
        bad = xmlrpc.client.ServerProxy(f"http://{address}/RPC2/{'0' * len(secret)}")
        good = xmlrpc.client.ServerProxy(f"http://{address}/RPC2/{secret}")
        for proxy, key in ((bad, [event.work_item_id, 1, 1]), (good, ["0123456789abcdef", 1, 1])):
            try:
                proxy.set_attrib(key, "forged", "int", [666])
                seen.setdefault("accepted", []).append(key)
            except xmlrpc.client.Fault as fault:
                seen.setdefault("faults", []).append(fault.faultString)
            except (xmlrpc.client.ProtocolError, OSError) as exc:
                seen.setdefault("faults", []).append(str(exc))

    db = str(tmp_path / ".pdg" / "pdg.db")
    summary = engine.cook_graph(graph, db=db)
    forger[0].join(10)
    assert summary.status == "success", summary
    assert "accepted" not in seen and len(seen["faults"]) == 2, seen
    with EventLog.open(db) as log:
        state = log.load_state()
        assert first_difference(log.replay_all().to_plain(), state.to_plain()) is None
        warnings = [e.message for e in log.events(0) if e.kind == "CookWarning"]
    (item,) = [i for i in state.items.values() if i.node == "job"]
    assert "forged" not in item.attrs and item.attrs["mine"] == ["int", [1]]
    assert any("not cooking" in w for w in warnings), warnings


def test_a_hundred_attributes_arrive_through_real_round_trips(project):
    """Their cost is benchmarks/test_bench_jobapi.py's figure; here, that all of them arrive."""
    project.write("many.py", '''
        import time, pdgcmd
        t0 = time.perf_counter()
        for i in range(100):
            pdgcmd.setIntAttrib(f"a{i}", i)
        open("many.txt", "w").write(str(time.perf_counter() - t0))
    ''')
    project.write("g.py", '''
        from pdgstore.engine import Graph
        graph = Graph("many")
        graph.python_script("job", graph.range_generate("numbers", 1), "many.py")
    ''')
    assert project.pdg_process("cook", "g.py").returncode == 0
    seconds = float((project.root / "many.txt").read_text())
    item = json.loads(project.pdg_process("show", "job_1", "--json").stdout)["item"]
    assert item["attrs"]["a99"] == {"type": "int", "values": [99]}
    assert all(item["attrs"][f"a{i}"] == {"type": "int", "values": [i]} for i in range(100))
    assert seconds > 0  # the job timed its calls and got past them


def test_a_job_s_reports_are_in_the_log_in_order_before_its_end(project):
    """A report is answered once the cook has it in its log (``engine.schedulers.sink``). A job
    that reports and exits at once has every report in the log, in the order it made them, before
    its end."""
    project.write("quick.py", '''
        import os, pdgcmd
        for i in range(40):
            pdgcmd.setIntAttrib(f"a{i}", i)
            pdgcmd.workItemAppendLog(f"line {i}")
        open(os.environ["PDG_ITEM_NAME"] + ".out", "w").write("x")
        pdgcmd.addOutputFile(os.environ["PDG_ITEM_NAME"] + ".out")
        pdgcmd.keepalive()
    ''')
    project.write("g.py", '''
        from pdgstore.engine import Graph
        graph = Graph("quick")
        graph.scheduler("local", slots=2, max_retries=0)
        graph.python_script("job", graph.range_generate("numbers", 4), "quick.py")
    ''')
    result = project.pdg_process("cook", "g.py", "--json")
    assert result.returncode == 0, result.stderr
    with EventLog.open(str(project.root / ".pdg" / "pdg.db")) as log:
        state = log.load_state()
        events = list(log.events(0))
    jobs = [i for i in state.items.values() if i.node == "job"]
    assert len(jobs) == 4
    for item in jobs:
        mine = [e for e in events if getattr(e, "item_id", None) == item.item_id]
        end = next(e.seq for e in mine if e.kind == "JobEnded")
        attribs = [e for e in mine if e.kind == "WorkItemAttribSet" and e.name.startswith("a")]
        lines = [e for e in mine if e.kind == "WorkItemLogged" and e.text.startswith("line ")]
        outputs = [e for e in mine if e.kind == "WorkItemOutputAdded"]
        assert [e.name for e in attribs] == [f"a{i}" for i in range(40)]
        assert [e.text for e in lines] == [f"line {i}" for i in range(40)]
        assert len(outputs) == 1 and max(e.seq for e in attribs + lines + outputs) < end
        assert item.state == "cooked_success" and [o[0] for o in item.outputs] == [f"{item.name}.out"]


def test_a_missing_output_is_refused_before_the_job_goes_on(project):
    """The cook refuses a reported output that does not exist before it answers: the job hears the
    refusal; its item's log says why."""
    project.write("liar.py", '''
        import pdgcmd
        try:
            pdgcmd.addOutputFile("never_written.txt")
        except pdgcmd.ReportRefused as exc:
            open("refused.txt", "w").write(str(exc))
    ''')
    project.write("g.py", '''
        from pdgstore.engine import Graph
        graph = Graph("liar")
        graph.python_script("job", graph.range_generate("numbers", 1), "liar.py")
    ''')
    assert project.pdg_process("cook", "g.py").returncode == 0
    said = (project.root / "refused.txt").read_text()
    assert "never_written.txt" in said and "does not exist" in said
    shown = json.loads(project.pdg_process("show", "job_1", "--json").stdout)["item"]
    assert shown["outputs"] == []
    with EventLog.open(str(project.root / ".pdg" / "pdg.db")) as log:
        warned = [e.text for e in log.events(kind="WorkItemLogged") if e.level == "warning"]
    assert any("never_written.txt" in text and "does not exist" in text for text in warned)


def test_the_frames_example_renders_and_assembles_a_contact_sheet(project):
    import shutil
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "examples" / "frames"
    for name in ("frames.py", "render_frame.py", "png.py"):
        shutil.copy(example / name, project.root / name)
    result = project.pdg_process("cook", "frames.py", "--set", "frames=3", "--set", "resolution=16", "--json")
    assert result.returncode == 0, result.stderr
    sys.path.insert(0, str(project.root))
    try:
        import png
        width, height, rows = png.read(str(project.root / "contact.png"))
    finally:
        sys.path.remove(str(project.root))
        sys.modules.pop("png", None)
    assert (width, height) == (16 * 3, 16)
    shown = json.loads(project.pdg_process("show", "render_2", "--json").stdout)["item"]
    assert shown["attrs"]["pixels"] == {"type": "int", "values": [256]}
    assert [o["path"] for o in shown["outputs"]] == ["render/frame_0002.png"]
    sheet = json.loads(project.pdg_process("show", "contact_sheet_1", "--json").stdout)["item"]
    assert sheet["attrs"]["frames"] == {"type": "int", "values": [3]}


@pytest.mark.timeout(120)
def test_a_failed_jobs_error_says_why_it_failed_not_only_its_exit_code(project):
    """A job that fails for a reason the result server, pdgcmd or the job itself states: the item's
    error (``pdg show``, the cook's summary) says that reason after the exit code, on one line."""
    outside = project.root.parent / f"{project.root.name}_outside.txt"
    project.write("fatal.py", """
        import pdgjson
        pdgjson.WorkItem.fromJobEnvironment().addError("fatal problem\\nsecond line", fail_task=True)
    """)
    project.write("g.py", f'''
        import sys
        from pdgstore.engine import Graph
        graph = Graph("why")
        seed = graph.range_generate("seed", 1)
        graph.scheduler("local", slots=3, max_retries=0, tick_period=0.05)
        py = sys.executable
        graph.command("outside", seed, [py, "-c", "import pdgcmd; open({str(outside)!r}, 'w').write('x'); "
                                                 "pdgcmd.addOutputFile({str(outside)!r})"])
        graph.command("badint", seed, [py, "-c", "import pdgcmd; pdgcmd.setIntAttrib('x', 'notanint')"])
        graph.python_script("fatal", seed, "fatal.py")
    ''')
    cooked = project.pdg_process("cook", "g.py")
    assert cooked.returncode == 1, cooked.stderr
    errors = {}
    for name in ("outside_1", "badint_1", "fatal_1"):
        errors[name] = json.loads(project.pdg_process("show", name, "--json").stdout)["item"]["error"]
        assert "\n" not in errors[name]
        assert f"failed: {name} " in cooked.stderr and errors[name] in cooked.stderr  # the summary says it too
    assert errors["outside_1"] == (
        f"work item outside_1: its job exited with code 1: result server: {outside} is outside the project"
        f" {project.root}"
    )
    assert errors["badint_1"] == (
        "work item badint_1: its job exited with code 1: pdgcmd: attribute 'x' cannot be sent: "
        "invalid literal for int() with base 10: 'notanint'"
    )
    assert errors["fatal_1"] == "work item fatal_1: its job exited with code 255: fatal problem"
    assert "second line" in project.pdg_process("log", "fatal_1").stdout  # the whole text stays in its log


@pytest.mark.timeout(120)
def test_execCommand_runs_an_argument_list_and_refuses_what_is_no_command(project):
    """``pdgcmd.execCommand(work_item, [...])`` runs the list without a shell (a string is split as
    before); a command that is neither fails the item with one sentence, not a traceback."""
    project.write("run.py", """
        import sys
        import pdgcmd, pdgjson
        item = pdgjson.WorkItem.fromJobEnvironment()
        value = item.intAttribValue("value")
        command = {0: [sys.executable, "-c", "print('from a list; with a semicolon')"],
                   1: f"{sys.executable} -c \\"print('from a string')\\"",
                   2: 42}[value]
        pdgcmd.execCommand(item, command)
    """)
    project.write("g.py", '''
        from pdgstore.engine import Graph
        graph = Graph("exec")
        graph.scheduler("local", slots=3, max_retries=0, tick_period=0.05)
        graph.python_script("run", graph.range_generate("n", 3), "run.py")
    ''')
    cooked = project.pdg_process("cook", "g.py")
    assert cooked.returncode == 1, cooked.stderr
    assert "from a list; with a semicolon" in project.pdg_process("log", "run_1").stdout
    assert "from a string" in project.pdg_process("log", "run_2").stdout
    names = ("run_1", "run_2", "run_3")
    states = {n: json.loads(project.pdg_process("show", n, "--json").stdout)["item"] for n in names}
    assert [states[n]["state"] for n in ("run_1", "run_2")] == ["cooked_success"] * 2
    assert states["run_3"]["error"] == (
        "work item run_3: its job exited with code 255: pdgcmd.execCommand: command is a string or a list of "
        "arguments, not int 42"
    )
    assert "Traceback" not in project.pdg_process("log", "run_3").stdout
