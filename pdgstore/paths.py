"""Paths as a person reads them, and which file system holds one.

Every message about a store names it as the user would type it from where they stand, and a writer
refuses a network file system before SQLite's locking can silently fail there: both are questions
about paths, not about SQLite, so they live apart from the log and are shared by the engine's messages.
"""

from __future__ import annotations

import os

#: file systems whose locking SQLite's WAL cannot rely on
NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "afs", "9p", "lustre", "glusterfs"}


def display_path(path: str) -> str:
    """``path`` as a person standing in the current directory would write it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("../../..") else os.path.abspath(path)


def filesystem_type(path: str) -> str:
    """The type of the file system holding ``path`` (Linux; '' where it cannot be told)."""
    try:
        with open("/proc/mounts") as f:
            mounts = [line.split()[1:3] for line in f]
    except OSError:
        return ""
    real = os.path.realpath(path)
    best, kind = "", ""
    for mount_point, fstype in mounts:
        mount_point = mount_point.replace("\\040", " ")
        if (real == mount_point or real.startswith(mount_point.rstrip("/") + "/")) and len(mount_point) > len(best):
            best, kind = mount_point, fstype
    return kind


def uri_path(uri: str) -> str:
    """The local path a ``file://`` URI names, its escapes undone (a folder named ``my 100%`` is
    recorded as ``my%20100%25``); '' for any other URI (a farm's, or none)."""
    if not uri.startswith("file://"):
        return ""
    from urllib.parse import unquote_to_bytes  # only when a job is shown

    return os.fsdecode(unquote_to_bytes(uri[len("file://") :]))
