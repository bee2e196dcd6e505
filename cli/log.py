"""``pdg log ITEM``: the output of a work item's job (its log file), printed or followed."""

from __future__ import annotations

import sys
import time

import click
from pdgstore.cli import joblog, render
from pdgstore.cli.options import db_option, json_option

from pdgstore import queries
from pdgstore.errors import PdgError
from pdgstore.liveness import DIED, status_now
from pdgstore.locate import open_store
from pdgstore.queries import JSON_SCHEMA
from pdgstore.readmodel import TableState
from pdgstore.state import CookRecord

POLL_S = 0.2


class NoLog(PdgError):
    """An item that has no job log to print: one that ran in-process (or never ran) has none, and
    asking again will not change that (exit 2, as ``pdg show`` of an unknown item)."""

    exit_code = 2


class NoLogYet(PdgError):
    """An item whose job has not started yet: asking again, once it runs, may succeed (exit 1)."""

    exit_code = 1


class CookDied(PdgError):
    """The cook of a followed item died (``pdgstore.liveness``): the item will not finish, and
    nothing is left to follow (exit 1, as a cook with failed items)."""

    exit_code = 1


#: the states of an item whose job may still write
UNDER_WAY = ("scheduled", "cooking")


def _job(db, item: str) -> tuple[dict, dict | None, CookRecord | None]:
    """The item (by name or id), its last job, and the cook the log shows running when its
    process has died (else None: it runs, or no cook is under way)."""
    with open_store(db) as log:
        state = TableState(log)
        found = queries.find_item(state, item)
        about = {"item_id": found.item_id, "name": found.name, "graph": found.graph, "state": found.state}
        running = state.running_cook()
        died = running if running is not None and status_now(running.status, log.writer_pid()) == DIED else None
        return about, queries.job_detail(state, found.item_id), died


@click.command("log", short_help="Print (or follow) the log of a work item's job.")
@click.argument("item")
@click.option("--follow", "-f", is_flag=True, help="Keep printing what the job writes until it ends.")
@db_option
@json_option
def command(item, follow, db, as_json) -> None:
    """Print the log file of ITEM's last job (by item id, id prefix of 6 or more characters, or
    name; or GRAPH/ITEM); with --follow keep printing as the job writes, until the item stops
    cooking, or until its cook is found dead (killed: exit 1, the item unfinished). Standard output
    holds the job's own output alone: when the job printed nothing it stays empty, and a line on
    stderr says so (--json: "text" is "")."""
    found, job, died = _job(db, item)
    if job is None or not job["log_path"]:
        if found["state"] in ("waiting", "scheduled", "cooking"):
            raise NoLogYet(f"work item {found['name']} has no job log yet (it is {found['state']})")
        raise NoLog(f"work item {found['name']} has no job log (it never ran out-of-process)")
    path = job["log_path"]
    if as_json:
        render.emit_json({"schema": JSON_SCHEMA, "item": found, "job": job, "text": joblog.read_from(path, 0)[0]})
        return
    sys.stdout.flush()  # the job's bytes go to the binary stream, after anything written before
    offset = joblog.copy_from(path, 0, sys.stdout.buffer)
    while follow and found["state"] in UNDER_WAY:
        if died is not None:  # its cook was killed: nobody runs the job or records its end
            raise CookDied(
                f"cook {died.cook_id} of {died.graph} died (pid {died.pid}) before work item {found['name']} "
                f"finished: it stays {found['state']} until the next cook records it cancelled"
            )
        time.sleep(POLL_S)
        found, job, died = _job(db, item)
        offset = joblog.copy_from(path, offset, sys.stdout.buffer)  # what it wrote until then, first
    if offset == 0:  # an empty answer on stdout reads as "did it even look?": say it on stderr
        render.err.print(f"the job of work item {found['name']} printed nothing ({joblog.absence(path)})", markup=False)
