"""Out-of-process processors: a command line per work item, or a Python script per work item.

Their items run as jobs on a scheduler (the local one by default). The command is a string (split
like a shell would, then each word ``@attr``-expanded, so a value with spaces stays one argument;
no shell runs it) or an argument list. ``expected_outputs`` are checked after the job ends: a
missing one fails the item. Attributes named in ``env_attribs`` are exported to the job's
environment under their own names. ``__PDG_*__`` tokens (``__PDG_ITEM_NAME__``, ``__PDG_DIR__``,
``__PDG_TEMP__``, ``__PDG_RESULT_SERVER__`` ...) expand as in PDG. Every job gets its item as JSON
(for ``pdgjson.WorkItem.fromJobEnvironment()``); ``item_json`` is kept for graph files that name it.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from collections.abc import Iterable

from pdgstore.engine.errors import GraphError
from pdgstore.engine.graph import attribs, checks
from pdgstore.engine.graph.nodes import Processor, generate_one_each
from pdgstore.engine.schedulers.pathmap import expand_tokens


class CommandProcessor(Processor):
    type_name = "command"
    does_work = True
    out_of_process = True
    static_generation = True
    #: items per batch work item (``engine.cook.batches``); 0: one job per item
    batch_size = 0

    def __init__(
        self,
        name: str,
        inputs: list[str],
        command,
        *,
        expected_outputs=(),
        scheduler: str | None = None,
        cache_mode: str = "automatic",
        env_attribs=(),
        env: dict | None = None,
        item_json: bool = False,
    ) -> None:
        super().__init__(name, inputs)
        self.item_json = item_json
        if isinstance(command, str):
            try:
                words = shlex.split(command)
            except ValueError as exc:
                raise GraphError(f"command node {name}: the command cannot be split into words: {exc}") from None
        elif isinstance(command, (list, tuple)) and all(isinstance(w, (str, int, float)) for w in command):
            words = [str(w) for w in command]
        else:
            raise GraphError(f"command node {name}: the command is a string or a list of strings, not {command!r}")
        if not words:
            raise GraphError(f"command node {name}: the command is empty")
        self.command = command
        self.words = words
        self.scheduler = scheduler
        self._cache_options(cache_mode, expected_outputs)
        self.env_attribs = tuple(checks.texts(f"command node {name}", "env_attribs", env_attribs))
        self.env = {
            str(k): str(v) for k, v in (checks.mapping(f"command node {name}", "env", env, none=True) or {}).items()
        }

    def parms(self) -> dict:
        return {
            "command": list(self.words),
            "expected_outputs": list(self.expected_outputs),
            "env_attribs": list(self.env_attribs),
            "env": dict(self.env),
        }

    generate = generate_one_each

    def argv(self, view, scheduler) -> list[str]:
        """The command for one item, every word expanded against it: a word that is only
        ``@pdg_input``, ``@pdg_output`` or ``pdgattribvals(name)`` gives one argument per value
        (a partition's child sees every file it was given); ``@pdg_log`` is the job's log file."""
        temp = getattr(scheduler, "temp", None)
        log = None
        if temp:
            from pdgstore.engine.schedulers.jobs import log_path

            log = log_path(temp, view.name)
        outputs = view.outputs + [[path] for path, _ in getattr(view, "new_outputs", ())]
        argv = []
        for w in self.expanded_words():
            argv += attribs.expand_words(w, item=view, node=self.name, parm="command", outputs=outputs, log=log)
        return argv

    def expanded_words(self) -> list[str]:
        """The words ``argv`` expands for each item: all of the command's."""
        return self.words

    def prepare_job(self, scheduled, scheduler) -> None:
        """Fill in what ``on_schedule`` runs: the argument list and the item's exported attributes
        (those named in ``env_attribs`` and those flagged EnvExport)."""
        view = scheduled.item
        tokens = scheduler.job_tokens(scheduled)
        scheduled.command = [expand_tokens(w, tokens) for w in self.argv(view, scheduler)]
        env = dict(self.env)
        exported = list(self.env_attribs)
        exported += [name for name, attr in sorted(view.attrs.items()) if "EnvExport" in attribs.flags_of(attr)]
        for attr in exported:
            value = view.attrib_array(attr)
            env[attr] = " ".join(attribs.as_text(v) for v in value)
        scheduled.env = env


class PythonScriptProcessor(CommandProcessor):
    """Runs ``script`` (a .py file, relative to the graph's folder) once per item with the
    scheduler's Python (``application_bin("python")``); the script reads its item and reports back
    through the Job API (``pdgjson``, ``pdgcmd``), importable from the job.

    Its recorded ``command`` names the script as the graph does (relative to the graph's folder),
    as the store records every other path: a project moved or copied elsewhere has the same
    definition, and its items are reused. The job runs the script by its absolute path
    (``script_path``), whatever its working folder, and a scheduler maps or ships that path
    (``engine.schedulers.dask.work``). A store recorded before named it absolute: a definition
    that differs in that alone is no change (``signatures.node_changes``, ``reasons.script_named``)."""

    type_name = "python_script"

    def __init__(self, name: str, inputs: list[str], script: str, *, args=(), root: str = "", **kwargs) -> None:
        kwargs["item_json"] = True
        self.script = checks.text(f"python script node {name}", "script", script)
        if isinstance(args, (str, bytes)) or not isinstance(args, Iterable):
            raise GraphError(f"python script node {name}: args is a list of arguments, not {args!r}")
        path = self.script if os.path.isabs(self.script) else os.path.join(root, self.script)
        try:
            with open(path, "rb") as f:
                self.script_hash = hashlib.sha256(f.read()).hexdigest()[:16]
        except OSError as exc:
            raise GraphError(f"python script node {name}: cannot read script {self.script}: {exc.strerror}") from None
        self.script_path = path
        super().__init__(name, inputs, [self.script, *[str(a) for a in args]], **kwargs)

    def parms(self) -> dict:
        return {**super().parms(), "script": self.script, "script_hash": self.script_hash}

    def expanded_words(self) -> list[str]:
        """The arguments after the script: the script's own path is a file's name, never expanded."""
        return self.words[1:]

    def argv(self, view, scheduler) -> list[str]:
        return [scheduler.application_bin("python", view), self.script_path, *super().argv(view, scheduler)]
