"""A worker plugin that sends each job's answer from the worker's event loop as its task ends.

Why: a job's answer travels to the cook as a ``pdg-job-ended`` event (``remote``), ahead of its
task's end. Sent from the task's own thread, ``Worker.log_event`` must wake the worker's event loop
to send it (a write to the loop's wake-up socket), and the loop wakes again moments later for the
task's end: two wake-ups per job, on workers whose cores the jobs themselves need (on a LocalCluster
of 2 workers, a ``true`` job's function took 120 us longer with the send than without). The
plugin's ``transition`` hook runs on the event loop as the task moves from executing to memory,
before the loop sends the task's end: the answer goes out in the same round, still ahead of it.

The cook registers it when it reaches the cluster (``DaskScheduler._connect``; the Dask scheduler
gives it to workers that join later too). ``remote.run_job`` asks its own worker whether it holds
the plugin: on one without it (its registration failed, or it joined from another pdgstore) the
job sends its answer itself. This module imports ``distributed``: only the
cook's dask scheduler and the workers, which unpickle the plugin, import it.
"""

from __future__ import annotations

from distributed.diagnostics.plugin import WorkerPlugin
from pdgstore.engine.schedulers.dask.remote import ANSWERS_PLUGIN, ENDED_TOPIC, FOR_PLUGIN, KEY_PREFIX


class JobAnswers(WorkerPlugin):
    """Log each job's answer (a ``remote.run_job_packed`` result left on its worker) on
    ``remote.ENDED_TOPIC`` as its task finishes. Stateless beyond its worker: registering it again
    (another cook, the same name) changes nothing."""

    name = ANSWERS_PLUGIN
    idempotent = True

    def setup(self, worker) -> None:
        self.worker = worker

    def transition(self, key, start, finish, **kwargs) -> None:
        if start != "executing" or finish != "memory" or not isinstance(key, str) or not key.startswith(KEY_PREFIX):
            return
        answer = self.worker.data.get(key)
        # a command job's answer sent by no one yet (packed, as it is sent); not a Python item's
        # result, nor one carrying files
        if type(answer) is bytes and answer[:2] == FOR_PLUGIN:
            self.worker.log_event(ENDED_TOPIC, {"key": key, "answer": answer})


def install(client, call) -> None:
    """Register ``JobAnswers`` on the cluster of ``client``, through ``call`` (which gives up on a
    Dask scheduler that does not answer). A cluster that refuses it (a worker of another pdgstore,
    a call that does not come back) runs the same: its jobs send their answers."""

    def register() -> None:
        try:
            client.register_plugin(JobAnswers())
        except Exception:  # noqa: BLE001, S110 - a speed-up only: the jobs answer without it
            pass

    call(register)
