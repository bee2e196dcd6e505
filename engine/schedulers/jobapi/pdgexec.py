"""The Job API's helpers for running tools from a job (SideFX's ``pdgcmd.execCommand`` and friends).

Part of the job-side modules, standard library only; ``pdgcmd`` offers them under its own name.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from io import BytesIO, TextIOWrapper

def sanitizeEnvironment(sanitize_list):
    """The environment with Houdini's own folders ($HFS) taken out of the listed variables."""
    hfs = os.environ.get("HFS")
    if not sanitize_list or not hfs or sys.platform.startswith("win"):
        return os.environ
    env = dict(os.environ)
    for var in sanitize_list:
        env[var] = ":".join(p for p in env.get(var, "").split(":") if hfs not in p)
    return env


def execCommand(work_item, command, toolName=None, sanitizeVars=(), proc_input=None, proc_output=subprocess.PIPE,
                log_line_callback=None):
    """Run ``command`` (a string split like a shell, or a list of arguments; never a shell), each
    output line a message of ``work_item`` (and passed to ``log_line_callback(work_item, line)``); a
    non-zero exit is an error that fails the task, and so is a ``command`` that is neither. Returns
    the output."""
    argv, refused = _argv(command)
    if refused:
        work_item.addError(f"pdgcmd.execCommand: command is a string or a list of arguments, not {refused}",
                           fail_task=True)
        return ""
    work_item.addMessage(f"Executing command: {command if isinstance(command, str) else shlex.join(argv)}")
    try:
        with subprocess.Popen(argv, env=sanitizeEnvironment(list(sanitizeVars)),
                              stdin=subprocess.PIPE if proc_input else None, stdout=proc_output,
                              stderr=subprocess.STDOUT) as process:
            if proc_input:
                process.stdin.write(proc_input if isinstance(proc_input, bytes) else str(proc_input).encode())
                process.stdin.close()
            out = ""
            for raw in process.stdout or ():
                line = raw.decode(errors="replace").rstrip("\n")
                work_item.addMessage(line)
                out += line
                if log_line_callback is not None:
                    log_line_callback(work_item, line)
            process.wait()
        if process.returncode != 0:
            work_item.addError(f"Processed failed with exit code '{process.returncode}'", fail_task=True)
        return out
    except OSError as exc:
        work_item.addError(f"Could not run {toolName or argv[0]}: {exc}", fail_task=True)


def _argv(command) -> tuple[list[str], str]:
    """(``command``'s arguments: a string split like a shell, or a list or tuple of strings or
    paths; '') or ([], what it is instead)."""
    if isinstance(command, str):
        argv = shlex.split(command)
    elif isinstance(command, (list, tuple)):
        argv = [os.fspath(a) if isinstance(a, os.PathLike) else a for a in command]
        odd = next((a for a in argv if not isinstance(a, str)), None)
        if odd is not None:
            return [], f"a {type(command).__name__} holding {type(odd).__name__} {odd!r:.60}"
    else:
        return [], f"{type(command).__name__} {command!r:.60}"
    return argv, "" if argv else "an empty command"


class RedirectBuffer:
    """``with RedirectBuffer(sys.stdout) as buf:`` keeps what is printed (and still prints it)."""

    def __init__(self, source, tee=True):
        self._buffer, self._source, self._tee = "", source, tee

    def __enter__(self):
        sys.stdout = self
        return self

    def __exit__(self, *exc):
        sys.stdout = self._source

    def write(self, text):
        self._buffer += str(text)
        if self._tee:
            self._source.write(text)

    def flush(self):
        if self._tee:
            self._source.flush()

    def buffer(self):
        return self._buffer


class StdOutReporter(TextIOWrapper):
    """Captures stdout; ``reportAndClose()`` reports each ``OUTPUT_FILE:path;tag`` line as an output."""

    def __init__(self, log_format=""):
        super().__init__(BytesIO(), errors="replace")
        self.term = sys.stdout
        sys.stdout = self
        self.format = log_format or r"OUTPUT_FILE:(.*);(.*)"

    def write(self, s):
        self.term.write(s)
        self.term.flush()
        return super().write(s)

    def reportAndClose(self, work_item=None):
        self.flush()
        self.seek(0)
        for line in self.read().splitlines():
            match = re.search(self.format, line)
            if match:
                path, tag = match.group(1).strip(), match.group(2).strip()
                if work_item is not None:
                    work_item.addOutputFile(path, tag)
                else:
                    import pdgcmd

                    pdgcmd.addOutputFile(path, result_data_tag=tag, to_stdout=False, raise_exc=False)
        sys.stdout = self.term
        self.close()
