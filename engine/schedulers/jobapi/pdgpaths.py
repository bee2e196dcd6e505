"""The Job API's paths: ``__PDG_*__`` tokens and PDG's path map (``$PDG_PATHMAP``).

Part of the job-side modules, standard library only; the engine uses the same functions for the
commands it starts and for ``pdg.File.local_path``, so a path means the same on both sides.
"""

from __future__ import annotations

import json
import os
import re
import sys

_TOKENS = ("PDG_DIR", "PDG_ITEM_NAME", "PDG_TEMP", "PDG_RESULT_SERVER", "PDG_INDEX", "PDG_SCRIPTDIR", "PDG_ITEM_ID")


def substitute_tokens(text: str, env=None) -> str:
    """``__PDG_DIR__``, ``__PDG_ITEM_NAME__`` ... replaced by the values in ``env`` (default: the
    job's environment); ``__PDG_HFS__`` by $HFS or $PDG_HFS. Unknown tokens stay as they are."""
    env = os.environ if env is None else env
    if "__PDG_" not in text:
        return text
    for var in _TOKENS:
        token = f"__{var}__"
        if token in text and env.get(var) is not None:
            text = text.replace(token, str(env[var]))
    hfs = env.get("HFS") or env.get("PDG_HFS")
    if hfs and "__PDG_HFS__" in text:
        text = text.replace("__PDG_HFS__", hfs)
    return text


def build_path_map(text: str, zone: str = "") -> tuple:
    """PDG's path map JSON (``{"paths": [{"/from/": {"zone": "LINUX", "path": "/to/"}}]}``) as
    ([rules of zone "*"], [rules of ``zone``]); a rule is (from, to, is_subpath, match_type)."""
    maps: tuple[list[tuple], list[tuple]] = ([], [])
    if not text:
        return maps
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{exc}: While parsing $PDG_PATHMAP") from None
    zone = zone or {"win32": "WIN", "darwin": "MAC"}.get(sys.platform, "LINUX")

    def load(wanted: str) -> int:
        count = 0
        for entry in data.get("paths", []):
            for src, rule in entry.items():
                if rule.get("zone") not in (wanted, "*"):
                    continue
                src, dst = src.replace("\\", "/"), str(rule.get("path", "")).replace("\\", "/")
                if src.endswith("/") and not dst.endswith("/"):
                    dst += "/"
                maps[0 if rule.get("zone") == "*" else 1].append(
                    (src, dst, dst.startswith(src), int(rule.get("matchtype", 0))))
                count += 1
        return count

    if not load(zone) and zone != "WIN":
        load("POSIX")  # the older name of MAC + LINUX
    return maps


def apply_path_map(path: str, maps) -> str:
    """Apply the rules (those of zone "*" first) until none matches any more."""
    for rules in maps:
        changed = True
        while changed:
            changed = False
            for src, dst, is_subpath, match_type in rules:
                if is_subpath and dst in path:
                    continue
                if match_type == 1 and not path.startswith(src) or match_type == 2 and not path.endswith(src):
                    continue
                new = path.replace(src, dst)
                changed |= new != path
                path = new
    return path


def localizePath(deloc_path):
    """The path on this machine: ``__PDG_*__`` tokens and $VARS expanded, the path map applied."""
    if not isinstance(deloc_path, str):
        return deloc_path
    path = os.path.expandvars(os.path.expandvars(substitute_tokens(deloc_path))).replace("\\", "/")
    return os.path.expandvars(apply_path_map(path, path_map()))


_MAPS: dict = {}


def path_map() -> tuple:
    """The job's path map rules, read once per ($PDG_PATHMAP, $PDG_PATHMAP_ZONE)."""
    key = (os.environ.get("PDG_PATHMAP", ""), os.environ.get("PDG_PATHMAP_ZONE", ""))
    if key not in _MAPS:
        _MAPS[key] = build_path_map(*key)
    return _MAPS[key]


def delocalizePath(local_path):
    """The path with $PDG_DIR replaced by ``__PDG_DIR__`` (where it stands as a whole path part),
    so the engine maps it back to its own project folder. Off with PDG_DELOCALIZE=0."""
    if not isinstance(local_path, str) or os.environ.get("PDG_DELOCALIZE", "1") == "0":
        return local_path
    pdg_dir = os.environ.get("PDG_DIR")
    if not pdg_dir:
        return local_path
    pdg_dir = os.path.expandvars(pdg_dir).replace("\\", "/").rstrip("/")
    path = local_path.replace("\\", "/")
    pattern = r"(?:(?<=^)|(?<=[\s;:]))" + re.escape(pdg_dir) + r"(?=$|[\s/;:])"
    return re.sub(pattern, "__PDG_DIR__", path)


def makeDirSafe(local_path):
    """Make a folder (and its parents); one made meanwhile by another job is fine."""
    if local_path:
        os.makedirs(local_path, exist_ok=True)
