"""Files as the log records them: ``[path, tag, size, mtime_ns, hash]``.

Paths are POSIX and relative to the graph's project root when the file lies under it (absolute
otherwise). The hash is XXH3-64 of the content: not cryptographic, and far faster than any stdlib
hash, which is what change detection wants. Files are recorded after the work that wrote them ended.
"""

from __future__ import annotations

import os

import xxhash

#: extension -> file tag (PDG's tag hierarchy, most specific last)
EXTENSION_TAGS = {
    ".txt": "file/text",
    ".md": "file/text",
    ".csv": "file/text/csv",
    ".json": "file/text/json",
    ".xml": "file/text/xml",
    ".py": "file/text/python",
    ".png": "file/image/png",
    ".jpg": "file/image/jpeg",
    ".jpeg": "file/image/jpeg",
    ".exr": "file/image/exr",
    ".tif": "file/image/tiff",
    ".tiff": "file/image/tiff",
    ".bgeo": "file/geo/bgeo",
    ".obj": "file/geo/obj",
    ".abc": "file/geo/alembic",
    ".usd": "file/usd",
    ".usda": "file/usd",
    ".usdc": "file/usd",
    ".wav": "file/audio/wav",
    ".mp4": "file/video/mp4",
}

_CHUNK = 1 << 20


def tag_for(path: str) -> str:
    """The tag PDG would give ``path`` by its extension ('file' when unknown)."""
    return EXTENSION_TAGS.get(os.path.splitext(path)[1].lower(), "file")


def relative(path: str | os.PathLike, root: str) -> str:
    """``path`` as stored: POSIX and relative to ``root`` when under it, else absolute."""
    path = os.fspath(path)
    absolute = path if os.path.isabs(path) else os.path.join(root, path)
    absolute = os.path.normpath(absolute)
    rel = os.path.relpath(absolute, root)
    if rel == ".." or rel.startswith(".." + os.sep):
        return absolute.replace(os.sep, "/")
    return rel.replace(os.sep, "/")


def content_hash(path: str) -> str:
    with open(path, "rb") as f:
        data = f.read(_CHUNK)
        if len(data) < _CHUNK:
            return xxhash.xxh3_64_hexdigest(data)
        h = xxhash.xxh3_64(data)
        while chunk := f.read(_CHUNK):
            h.update(chunk)
        return h.hexdigest()


def record(path: str, root: str, tag: str | None = None) -> list:
    """Stat and hash the file at ``path`` (relative to ``root``) as a file record."""
    rel = relative(path, root)
    absolute = rel if os.path.isabs(rel) else os.path.join(root, rel)
    st = os.stat(absolute)
    return [rel, tag or tag_for(rel), st.st_size, st.st_mtime_ns, content_hash(absolute)]
