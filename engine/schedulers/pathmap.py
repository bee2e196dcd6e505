"""``__PDG_*__`` tokens and PDG's path map on the engine's side, with the job modules' own functions.

A job and the engine must agree on what a path means: the engine expands the tokens of the commands
it starts (``__PDG_ITEM_NAME__``, ``__PDG_DIR__``, ``__PDG_TEMP__``, ``__PDG_RESULT_SERVER__`` ...)
with the values the job's environment gets, and ``pdg.File.local_path`` maps a path with
``$PDG_PATHMAP`` as ``pdgcmd.localizePath`` does in the job. One implementation serves both: the
job-side module ``pdgpaths`` (standard library only).
"""

from __future__ import annotations

import os

from pdgstore.engine.schedulers.jobapi import pdgpaths


def expand_tokens(text: str, values: dict) -> str:
    """``text`` with the ``__PDG_*__`` tokens of ``values`` (PDG_DIR, PDG_ITEM_NAME ...) expanded."""
    return pdgpaths.substitute_tokens(text, values)


def localize(path: str) -> str:
    """The path on this machine: tokens of this process's environment expanded, the path map applied."""
    return pdgpaths.localizePath(os.fspath(path))


def path_map_env(path_map: dict | str | None) -> dict:
    """The job environment that carries a graph's path map (PDG's JSON format) to its jobs."""
    if not path_map:
        return {}
    import json

    text = path_map if isinstance(path_map, str) else json.dumps(path_map)
    pdgpaths.build_path_map(text)  # refuse a malformed map where it is declared, not in every job
    return {"PDG_PATHMAP": text}
