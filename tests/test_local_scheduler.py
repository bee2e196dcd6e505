"""The local scheduler with real subprocesses: retries, timeouts, memory, exit codes, slots, the
job's environment, and no orphans (a job's grandchildren die with it, on cancel too)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import Project

import pdgstore.engine as engine
from pdgstore.cli import joblog
from pdgstore.engine.schedulers.local import LocalScheduler, available_memory_mb
from pdgstore.log import EventLog
from pdgstore.state import first_difference
from reliability.helpers import alive


def dies(pid: int, within_s: float = 10.0) -> bool:
    """Whether ``pid`` is dead, or dies within ``within_s``: a SIGKILL sent to a process group is
    delivered when the kernel next schedules each process, which on a loaded machine is not at once."""
    deadline = time.monotonic() + within_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def graph_with(tmp_path: Path, command, n: int = 1, node: dict | None = None, **parms) -> engine.Graph:
    graph = engine.Graph("local", root=str(tmp_path))
    parms.setdefault("tick_period", 0.05)
    graph.scheduler("local", **parms)
    numbers = graph.range_generate("numbers", n)
    graph.command("run", numbers, command, **(node or {}))
    return graph


def cook(graph: engine.Graph, tmp_path: Path, **kwargs):
    db = str(tmp_path / ".pdg" / "pdg.db")
    summary = engine.cook_graph(graph, db=db, **kwargs)
    with EventLog.open(db) as log:
        state = log.load_state()
        assert first_difference(log.replay_all().to_plain(), state.to_plain()) is None
        events = list(log.events(0))
    return summary, state, events


def run_items(state) -> list:
    return sorted((i for i in state.items.values() if i.node == "run"), key=lambda i: i.index)


def job_events(events, item_id: str, kind: str) -> list:
    return [e for e in events if e.kind == kind and e.item_id == item_id]


def test_a_failing_job_is_retried_then_failed(tmp_path):
    graph = graph_with(tmp_path, ["sh", "-c", "echo attempt; exit 3"], max_retries=2)
    summary, state, events = cook(graph, tmp_path)
    assert summary.status == "failed"
    (item,) = run_items(state)
    assert item.state == "cooked_fail"
    assert item.attrs["failurecount"] == ["int", [3]]
    ended = job_events(events, item.item_id, "JobEnded")
    assert [(e.outcome, e.exit_code) for e in ended] == [("retry", 3), ("retry", 3), ("failure", 3)]
    assert [e.attempt for e in job_events(events, item.item_id, "JobStarted")] == [1, 2, 3]
    # the last thing its last attempt printed says more than the exit code
    assert item.error.endswith("exited with code 3 (attempt 3, after 2 retries): attempt")
    log = Path(state.jobs[item.item_id][3][7:]).read_text()
    assert log.count("attempt\n") == 3 and "--- attempt 3 ---" in log


def test_a_failed_job_names_its_last_words_from_its_last_attempt(tmp_path):
    """A Python job that dies on an uncaught exception fails with the exception's line (the last
    of its traceback), not its exit code alone; a last attempt that printed nothing adds nothing
    (not an earlier attempt's words); a job that printed nothing at all neither."""
    (tmp_path / "boom.py").write_text("import sys\nprint('x' * 100000)\nraise ValueError('the frame file is missing')\n")
    graph = graph_with(tmp_path, [sys.executable, "boom.py"], max_retries=0)
    _, state, _ = cook(graph, tmp_path)
    (item,) = run_items(state)
    assert item.error == "work item run_1: its job exited with code 1: ValueError: the frame file is missing"
    script = "test -e said && exit 5; touch said; echo first words; exit 5"
    graph = graph_with(tmp_path / "quiet", ["sh", "-c", script], max_retries=1)
    _, state, _ = cook(graph, tmp_path / "quiet")
    (item,) = run_items(state)
    assert item.error == "work item run_1: its job exited with code 5 (attempt 2, after 1 retries)"


def test_a_job_that_succeeds_on_retry_succeeds(tmp_path):
    script = "n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; test $n -ge 1"
    graph = graph_with(tmp_path, ["sh", "-c", script], max_retries=3)
    summary, state, _ = cook(graph, tmp_path)
    assert summary.status == "success"
    (item,) = run_items(state)
    assert item.attrs["failurecount"] == ["int", [1]]
    assert state.jobs[item.item_id][1] == 2  # the second attempt


def test_exit_code_actions(tmp_path):
    command = ["sh", "-c", "exit $((@value + 3))"]  # items exit 3, 4, 5
    graph = graph_with(tmp_path, command, n=3, max_retries=0, exit_codes={3: "warning", 4: "ignore", 5: "success"})
    summary, state, events = cook(graph, tmp_path)
    assert summary.status == "success"
    outcomes = [e.outcome for e in events if e.kind == "JobEnded"]
    assert sorted(outcomes) == ["ignore", "success", "warning"]
    warnings = [e for e in events if e.kind == "WorkItemLogged" and e.level == "warning"]
    assert [w.text for w in warnings] == ["exit code 3 (treated as a warning)"]


def test_a_timeout_kills_the_job_and_fails_it(tmp_path):
    graph = graph_with(tmp_path, ["sh", "-c", "sleep 30 & echo $! > grandchild; wait"], timeout=0.5, max_retries=0)
    summary, state, _ = cook(graph, tmp_path)  # the job alone would sleep 30 s and succeed
    (item,) = run_items(state)
    assert item.state == "cooked_fail"
    assert "killed after its timeout of 0.5 s" in item.error
    assert dies(int((tmp_path / "grandchild").read_text()))


def test_a_timeout_may_retry(tmp_path):
    graph = graph_with(tmp_path, ["sleep", "30"], timeout=0.3, on_timeout="retry", max_retries=1)
    summary, state, events = cook(graph, tmp_path)
    (item,) = run_items(state)
    assert item.state == "cooked_fail"
    assert [e.outcome for e in events if e.kind == "JobEnded"] == ["retry", "failure"]


def test_the_memory_limit_kills_the_whole_group(tmp_path):
    # the child allocates, not the job's own process: the limit is on the process group
    hog = f"{sys.executable} -c \"b = bytearray(300 * 1024 * 1024); import time; time.sleep(30)\""
    graph = graph_with(tmp_path, ["sh", "-c", f"{hog}; echo done"], max_memory_mb=100, max_retries=0)
    summary, state, _ = cook(graph, tmp_path)
    (item,) = run_items(state)
    assert item.state == "cooked_fail"
    assert "exceeded the limit of 100 MB" in item.error


def test_a_job_leaves_no_process_behind_when_it_ends(tmp_path):
    graph = graph_with(tmp_path, ["sh", "-c", "sleep 30 & echo $! > grandchild; exit 0"])
    summary, state, _ = cook(graph, tmp_path)
    assert summary.status == "success"
    assert dies(int((tmp_path / "grandchild").read_text()))


def test_slots_bound_the_jobs_running_at_once(tmp_path):
    script = "echo start $(date +%s%N) >> times; sleep 0.2; echo end $(date +%s%N) >> times"
    for slots, per_item, most in ((2, 1, 2), (2, 2, 1)):
        (tmp_path / "times").unlink(missing_ok=True)
        graph = graph_with(tmp_path, ["sh", "-c", script], n=4, slots=slots, slots_per_item=per_item)
        summary, _, _ = cook(graph, tmp_path)
        assert summary.status == "success"
        marks = sorted((int(t), 1 if kind == "start" else -1)
                       for kind, t in (line.split() for line in (tmp_path / "times").read_text().splitlines()))
        running, peak = 0, 0
        for _, step in marks:
            running += step
            peak = max(peak, running)
        assert peak == most, (slots, per_item, marks)
        (tmp_path / ".pdg").rename(tmp_path / f".pdg-{slots}-{per_item}")


def test_the_backlog_is_accepted_ahead_and_started_as_slots_free(tmp_path):
    """With the slot taken, ``queue_ahead`` more items are accepted (scheduled) at once and each
    starts when the slot frees; never more jobs run than there are slots.

    Orders are read from causes, not from where events sit in the log: the cook hears of a job's
    end through its inbox, so the log may hold the acceptance that the freed slot allowed before
    that end (a scheduler thread frees the slot, then the loop accepts the next item before it
    drains the report). The jobs wait for ``go``, made once three items are accepted, so the first
    job still runs while two more are accepted; a job's marks are taken before it exits, and an
    acceptance is stamped when the cook records it, after the scheduler took it."""
    script = (
        "echo start $PDG_ITEM_NAME $(date +%s%N) >> times; i=0; "
        "until [ -e go ] || [ $i -ge 3000 ]; do sleep 0.01; i=$((i+1)); done; "
        "echo end $PDG_ITEM_NAME $(date +%s%N) >> times"
    )
    graph = graph_with(tmp_path, ["sh", "-c", script], n=4, slots=1, queue_ahead=2)
    accepted = []

    @graph.on("work_item_state_change", node="run")
    def open_the_gate_once_three_are_accepted(event):
        if event.current_state == "scheduled":
            accepted.append(event.work_item_id)
            if len(accepted) == 3:
                (tmp_path / "go.tmp").touch()
                (tmp_path / "go.tmp").rename(tmp_path / "go")

    summary, state, events = cook(graph, tmp_path)
    assert summary.status == "success"
    marks = [line.split() for line in (tmp_path / "times").read_text().splitlines()]
    assert [m[0] for m in marks] == ["start", "end"] * 4  # one at a time
    ended = {name: int(t) for kind, name, t in marks if kind == "end"}
    names = {i.item_id: i.name for i in run_items(state)}
    scheduled = [e for e in events if e.kind == "WorkItemStateChanged" and e.state == "scheduled"]
    first, second, third, fourth = ((names[e.item_id], e.time_ns) for e in scheduled)
    assert marks[0][1] == first[0]  # the first accepted ran first
    assert first[1] <= second[1] <= third[1] < ended[first[0]]  # two accepted ahead while it ran
    assert fourth[1] > ended[first[0]]  # the backlog was full: the fourth waited for the slot


def test_a_freed_slot_starts_the_next_job_before_the_end_is_reported(tmp_path):
    """The thread that notices a job's end starts the next job in the backlog first, then reports
    the end (the report wakes the loop, which would hold the GIL while the start waits): with one
    slot, each next job's start is in the log before the previous job's end."""
    graph = graph_with(tmp_path, ["true"], n=3, slots=1, queue_ahead=2)
    summary, state, events = cook(graph, tmp_path)
    assert summary.status == "success"
    jobs = [(e.kind, e.item_id) for e in events if e.kind in ("JobStarted", "JobEnded")]
    order = [item for kind, item in jobs if kind == "JobStarted"]
    assert len(order) == 3
    for before, after in zip(order, order[1:], strict=False):
        assert jobs.index(("JobStarted", after)) < jobs.index(("JobEnded", before)), jobs


def test_a_bug_on_the_starter_thread_fails_its_item_and_cancels_the_cook_saying_why(tmp_path, monkeypatch):
    """An exception on the thread that starts the jobs used to end that thread: the job it was
    starting held its slot for good, the jobs behind it never ran and the cook waited forever."""
    launch = LocalScheduler._launch

    def buggy_launch(self, job):
        if job.name == "run_1":
            raise RuntimeError("a bug in the starter")
        return launch(self, job)

    monkeypatch.setattr(LocalScheduler, "_launch", buggy_launch)
    graph = graph_with(tmp_path, ["true"], n=3, slots=1, queue_ahead=2)
    summary, state, events = cook(graph, tmp_path)
    assert summary.status == "cancelled"
    assert summary.message.startswith("scheduler local cancelled the cook: its thread pdg-worker-0 failed on work item run_1")
    assert summary.message.endswith("RuntimeError: a bug in the starter")
    items = {i.name: i for i in run_items(state)}
    assert items["run_1"].state == "cooked_fail" and "a bug in the starter" in items["run_1"].error
    assert {items[name].state for name in ("run_2", "run_3")} == {"cooked_cancel"}
    assert not any(e.kind == "JobStarted" for e in events)


def test_cancel_settles_the_backlog_without_starting_it(tmp_path):
    graph = graph_with(tmp_path, ["sh", "-c", "echo $$ >> pids.txt; sleep 30"], n=4, slots=1, queue_ahead=2)

    @graph.on("work_item_state_change")
    def cancel_once_one_runs(event):
        if event.current_state == "cooking":
            event.cook.cancel("enough")

    summary, state, events = cook(graph, tmp_path)
    assert summary.status == "cancelled"
    assert {i.state for i in run_items(state)} == {"cooked_cancel"}
    started = [e.item_id for e in events if e.kind == "JobStarted"]
    assert len(started) == 1 and len((tmp_path / "pids.txt").read_text().split()) == 1
    messages = sorted(e.message for e in events if e.kind == "WorkItemStateChanged" and e.state == "cooked_cancel")
    assert messages.count("cancelled before its job started") == 2
    for pid in (tmp_path / "pids.txt").read_text().split():
        assert not alive(int(pid))


def test_an_item_needing_more_slots_than_there_are_fails(tmp_path):
    graph = graph_with(tmp_path, ["true"], slots=1, slots_per_item=2)
    summary, state, _ = cook(graph, tmp_path)
    (item,) = run_items(state)
    assert item.error == "work item run_1 needs 2 slots but scheduler local has 1"


def test_the_job_environment_is_scrubbed_and_explicit(tmp_path, monkeypatch):
    monkeypatch.setenv("SOME_SECRET_TOKEN", "do-not-leak")
    command = [sys.executable, "-c", "import json, os; json.dump(dict(os.environ), open('env.json', 'w'))"]
    graph = graph_with(tmp_path, command, node={"env_attribs": ["value"], "env": {"MODE": "test"}, "item_json": True})
    summary, state, _ = cook(graph, tmp_path)
    assert summary.status == "success"
    env = json.loads((tmp_path / "env.json").read_text())
    (item,) = run_items(state)
    assert "SOME_SECRET_TOKEN" not in env
    assert env["PDG_ITEM_NAME"] == "run_1" and env["PDG_ITEM_ID"] == item.item_id
    assert env["PDG_DIR"] == str(tmp_path)
    assert env["PDG_TEMP"] == str(tmp_path / ".pdg" / "jobs" / "local")
    assert env["PYTHONPATH"] == env["PDG_SCRIPTDIR"] == str(tmp_path / ".pdg" / "jobs" / "local" / "scripts")
    assert (Path(env["PDG_SCRIPTDIR"]) / "pdgjson.py").is_file()
    assert (Path(env["PDG_TEMP"]) / "data" / "run_1.json").is_file()
    assert env["value"] == "0" and env["MODE"] == "test"
    assert env.get("PDG_RESULT_SERVER", "").startswith("127.0.0.1:")
    assert set(env) - {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
                       "PWD", "SHLVL", "_", "LC_ALL", "SYSTEMROOT"} <= {
        "PDG_ITEM_NAME", "PDG_ITEM_ID", "PDG_INDEX", "PDG_COOK_PID", "PDG_TEMP", "PDG_DIR", "PDG_SCRIPTDIR",
        "PYTHONPATH", "PYTHONUNBUFFERED", "PDG_ITEM_ATTEMPT",
        "PDG_RESULT_SERVER", "PDG_RESULT_SECRET", "PDG_RESULT_MAX_BODY", "value", "MODE"}


def test_working_dir(tmp_path):
    work = tmp_path / "scratch"
    work.mkdir()
    graph = graph_with(tmp_path, ["sh", "-c", "pwd > here.txt"], working_dir=str(work))
    summary, _, _ = cook(graph, tmp_path)
    assert summary.status == "success"
    assert (work / "here.txt").read_text().strip() == str(work)


def test_no_job_starts_below_the_minimum_free_memory(tmp_path):
    free = available_memory_mb()
    if free is None:
        pytest.skip("no /proc/meminfo")
    graph = graph_with(tmp_path, ["true"], n=2, min_free_memory_mb=free * 100)
    timers = []
    original = engine.Cook.run

    def run(self, **kwargs):
        # the cook gives up half a second after it starts: a timer started before it (as this test
        # once did) fired before the cook existed when the machine was busy, and nothing cancelled it
        timers.append(threading.Timer(0.5, lambda: self.cancel("no memory, gave up")))
        timers[-1].start()
        return original(self, **kwargs)

    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(engine.Cook, "run", run)
            summary, state, events = cook(graph, tmp_path)
    finally:
        for timer in timers:
            timer.cancel()
    assert summary.status == "cancelled"
    assert not [e for e in events if e.kind == "JobStarted"]
    assert {i.state for i in run_items(state)} == {"cooked_cancel"}


def test_bad_parameters_are_refused_in_one_sentence():
    with pytest.raises(engine.errors.GraphError, match="on_timeout is fail or retry"):
        LocalScheduler(on_timeout="explode")
    with pytest.raises(engine.errors.GraphError, match="exit code 3 maps to 'maybe'"):
        LocalScheduler(exit_codes={3: "maybe"})
    assert LocalScheduler(slots=-1).slots == max(1, (os.cpu_count() or 1) - 1)


SLEEPY = '''
from pdgstore.engine import Graph
graph = Graph("sleepy")
graph.scheduler("local", slots=2, tick_period=0.05)
numbers = graph.range_generate("numbers", 4)
graph.command("run", numbers, ["sh", "-c", "sleep 30 & echo $! >> grandchildren; echo $$ >> jobs; wait"])
'''


def test_ctrl_c_kills_every_job_and_grandchild_and_records_cooked_cancel(project):
    project.write("sleepy.py", SLEEPY)
    proc = project.popen("cook", "sleepy.py", "--json")
    deadline = time.monotonic() + 20
    gc = project.root / "grandchildren"
    while not gc.exists() or len(gc.read_text().split()) < 2:
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert json.loads(stdout)["status"] == "cancelled"
    for pid in gc.read_text().split() + (project.root / "jobs").read_text().split():
        assert not alive(int(pid)), f"process {pid} outlived the cancelled cook"
    items = json.loads(project.pdg("items", "run", "--json").stdout)["items"]
    assert {i["state"] for i in items} == {"cooked_cancel"}
    assert project.pdg_process("check").returncode == 0


def test_pdg_log_and_show_print_the_job_log(project):
    project.write("hello.py", '''
        from pdgstore.engine import Graph
        graph = Graph("hello")
        numbers = graph.range_generate("numbers", 2)
        graph.command("run", numbers, "echo hello from @pdg_name")
    ''')
    assert project.pdg_process("cook", "hello.py").returncode == 0
    result = project.pdg_process("log", "run_2")
    assert result.returncode == 0 and result.stdout == "hello from run_2\n"
    shown = project.pdg_process("show", "run_2")
    assert "hello from run_2" in shown.stdout and "job: local, attempt 1" in shown.stdout
    as_json = json.loads(project.pdg_process("log", "run_1", "--json").stdout)
    assert as_json["text"] == "hello from run_1\n" and as_json["job"]["exit_code"] == 0
    follow = project.pdg_process("log", "run_1", "--follow")
    assert follow.returncode == 0 and follow.stdout == "hello from run_1\n"
    missing = project.pdg_process("log", "numbers_1")
    assert missing.returncode == 2 and "work item numbers_1 has no job log" in missing.stderr


def test_pdg_show_prints_a_bounded_tail_of_a_long_log(project):
    """A renderer's progress bar is one line of megabytes: ``pdg show`` reads the log's end only
    and cuts a long line to its end; ``pdg log`` still prints the log whole."""
    project.write("bar.py", '''
        from pdgstore.engine import Graph
        graph = Graph("bar")
        graph.command("run", graph.range_generate("numbers", 1),
                      ["sh", "-c", "seq 1 50000; head -c 3000000 /dev/zero | tr '\\\\0' y; echo; echo done"])
    ''')
    assert project.pdg_process("cook", "bar.py").returncode == 0
    shown = project.pdg_process("show", "run_1").stdout
    assert len(shown) < 10_000 and shown.count("y") == 1000 and "...y" in shown and shown.rstrip().endswith("done")
    assert "50000" not in shown  # only the last lines
    whole = project.pdg_process("log", "run_1").stdout
    assert len(whole) > 3_000_000 and whole.endswith("done\n")


def test_pdg_log_copies_the_jobs_bytes_as_they_are(project):
    """``pdg log`` (and ``--follow``'s first read) copies the log out in chunks instead of reading it
    whole: a log of many chunks, with bytes that are not UTF-8, comes out as the job wrote it."""
    project.write("raw.py", '''
        from pdgstore.engine import Graph
        graph = Graph("raw")
        graph.command("run", graph.range_generate("numbers", 1),
                      ["sh", "-c", "seq 1 100000; printf 'caf\\\\351 \\\\377\\\\n'; echo done"])
    ''')
    assert project.pdg_process("cook", "raw.py").returncode == 0
    written = Path(json.loads(project.pdg("log", "run_1", "--json").stdout)["job"]["log_path"]).read_bytes()
    assert len(written) > 4 * joblog.CHUNK_BYTES and written.endswith(b"caf\xe9 \xff\ndone\n")
    for args in (("log", "run_1"), ("log", "run_1", "--follow")):
        result = project.pdg(*args)
        assert result.exit_code == 0 and result.stdout_bytes == written, args


def test_pdg_log_finds_a_job_log_under_a_folder_whose_name_needs_escaping(tmp_path):
    """The log's URI escapes a space and a percent sign; ``pdg log`` and ``pdg show`` undo them."""
    project = Project(tmp_path / "my 100% project")
    project.write("hello.py", '''
        from pdgstore.engine import Graph
        graph = Graph("hello")
        graph.command("run", graph.range_generate("numbers", 1), "echo hi from @pdg_name")
    ''')
    assert project.pdg_process("cook", "hello.py").returncode == 0
    as_json = json.loads(project.pdg_process("log", "run_1", "--json").stdout)
    assert "%20" in as_json["job"]["log_uri"] and as_json["text"] == "hi from run_1\n"
    assert as_json["job"]["log_path"].startswith(str(project.root))
    assert "hi from run_1" in project.pdg_process("show", "run_1").stdout


def test_job_output_reaches_its_log_whole_and_a_silent_job_leaves_none(tmp_path):
    """Output goes through a pipe the reaper pumps: more than a pipe holds arrives whole and in
    order; a job that prints nothing makes no file, and an older cook's log of it is removed."""
    script = "if [ @value = 0 ]; then seq 1 200000; echo tail >&2; fi"
    graph = graph_with(tmp_path, ["sh", "-c", script], n=2)
    summary, state, _ = cook(graph, tmp_path)
    assert summary.status == "success"
    loud, silent = run_items(state)
    loud_log = Path(state.jobs[loud.item_id][3][7:])
    silent_log = Path(state.jobs[silent.item_id][3][7:])
    lines = loud_log.read_text().splitlines()
    assert lines[:-1] == [str(i) for i in range(1, 200001)] and lines[-1] == "tail"  # 1.3 MB
    assert not silent_log.exists()
    silent_log.write_text("from an earlier cook\n")
    graph = graph_with(tmp_path, ["sh", "-c", script + " # again"], n=2)
    assert cook(graph, tmp_path)[0].status == "success"
    assert not silent_log.exists()


def test_a_log_that_cannot_be_written_is_a_warning_not_a_failure(tmp_path):
    graph = graph_with(tmp_path, ["sh", "-c", "echo hello"])
    (tmp_path / ".pdg/jobs/local/logs/run_1.log").mkdir(parents=True)  # in the way of the log file
    summary, state, events = cook(graph, tmp_path)
    assert summary.status == "success"
    (item,) = run_items(state)
    warnings = [e.text for e in events if e.kind == "WorkItemLogged" and e.item_id == item.item_id]
    assert len(warnings) == 1 and warnings[0].startswith("could not write its log ") and "run_1.log" in warnings[0]
