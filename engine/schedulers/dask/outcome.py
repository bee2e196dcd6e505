"""How a remote job's end is judged: the same rules as the local scheduler, as one pure function.

A job that reported its own status through the Job API is believed; a timeout fails or retries as
``on_timeout`` says; a killed job (a signal) is retried; a non-zero exit code is mapped through
``exit_codes`` (success, warning, ignore, retry, failure; unmapped codes retry, as on the local
scheduler, until the retries run out).
"""

from __future__ import annotations

ACTIONS = ("success", "warning", "retry", "ignore", "failure")


def judge(
    code: int, kill_reason: str, status: tuple | None, exit_codes: dict, timeout_s: float | None, on_timeout: str
) -> tuple[str, str]:
    """(success|warning|ignore|retry|failure, the reason in words) for a job that ended with
    ``code`` (negative: the signal), killed for ``kill_reason`` ('' if not), having reported
    ``status`` ((ok, message) or None)."""
    if kill_reason == "timeout":
        return ("retry" if on_timeout == "retry" else "failure"), f"killed after its timeout of {timeout_s:g} s"
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
    words = {"warning": f"exit code {code} (treated as a warning)", "ignore": f"exit code {code} (ignored)"}
    return action, words.get(action, f"its job exited with code {code}")
