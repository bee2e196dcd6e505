"""How a job's end is judged, on every scheduler that runs jobs (local, dask): one pure function,
and the check of the parameters that feed it.

A job that reported its own status through the Job API is believed; a timeout, or a job judged hung
(silent past its scheduler's ``heartbeat_timeout``), fails or retries as ``on_timeout`` says; a killed job (a signal) is retried; a non-zero exit code is mapped through
``exit_codes`` (success, warning, ignore, retry, failure; unmapped codes retry, as on the local
scheduler, until the retries run out).
"""

from __future__ import annotations

from pdgstore.engine.errors import GraphError

ACTIONS = ("success", "warning", "retry", "ignore", "failure")


def exited(code: int) -> str:
    """The words for a job that ended with a non-zero exit ``code`` and said nothing more."""
    return f"its job exited with code {code}"


def check_rules(
    scheduler: str, max_retries: int, timeout: float | None, on_timeout: str, exit_codes: dict | None
) -> dict[int, str]:
    """Refuse a scheduler's job rules that make no sense, naming the scheduler; return ``exit_codes``
    with int keys."""
    if max_retries < 0:
        raise GraphError(f"scheduler {scheduler}: max_retries cannot be negative ({max_retries})")
    if on_timeout not in ("fail", "retry"):
        raise GraphError(f"scheduler {scheduler}: on_timeout is fail or retry, not {on_timeout!r}")
    if timeout is not None and timeout <= 0:
        raise GraphError(f"scheduler {scheduler}: timeout must be positive, not {timeout}")
    checked = {}
    for code, action in (exit_codes or {}).items():
        if action not in ACTIONS:
            raise GraphError(
                f"scheduler {scheduler}: exit code {code} maps to {action!r}, not one of {', '.join(ACTIONS)}"
            )
        checked[int(code)] = action
    return checked


def judge(
    code: int, kill_reason: str, status: tuple | None, exit_codes: dict, timeout_s: float | None, on_timeout: str
) -> tuple[str, str]:
    """(success|warning|ignore|retry|failure, the reason in words) for a job that ended with
    ``code`` (negative: the signal), killed for ``kill_reason`` ('' if not), having reported
    ``status`` ((ok, message) or None)."""
    if kill_reason == "timeout":
        return ("retry" if on_timeout == "retry" else "failure"), f"killed after its timeout of {timeout_s:g} s"
    if kill_reason.startswith("hung"):  # "hung N": silent for N seconds (no keepalive, no report)
        silent = kill_reason.split()[1] if " " in kill_reason else "?"
        words = f"judged hung and killed: no heartbeat (pdgcmd.keepalive) or report for {silent} s"
        return ("retry" if on_timeout == "retry" else "failure"), words
    if status is not None:
        ok, text = status
        if ok:
            return "success", text
        return "failure", f"the job reported failure: {text}" if text else "the job reported failure"
    if code == 0:
        return "success", ""
    if code < 0:
        return "retry", f"its job was killed by signal {-code}"
    action = exit_codes.get(code, "failure")
    if action == "failure":
        action = "retry"
    said = {"warning": f"exit code {code} (treated as a warning)", "ignore": f"exit code {code} (ignored)"}
    return action, said.get(action, exited(code))
