"""The plain Python reference loop for W(N): what the engine's work costs with no engine at all.

It does the same work as ``pdg cook wide.py`` in the simplest honest way: stat and read every input,
write ``out1/<name>`` upper-cased, concatenate ``out1/*`` in name order into ``out2/all.txt``, and
append one msgpack event per state change to SQLite in batches (one transaction per 1,000 events),
the events the engine records for the same work (a file item born cooked: 1; an upper item:
generated, scheduled, cooking, cooked: 4; the partition and the concat item likewise). It keeps a
manifest (path -> mtime_ns, size, XXH3 hash) in the same SQLite file so a later run can tell what
changed, as a build tool's stat manifest does.

Modes (``python plain.py MODE FOLDER``, run as a fresh process like ``pdg cook``):

- ``cold``: nothing recorded yet; do all the work.
- ``noop``: stat every recorded file against the manifest; nothing changed, so nothing reruns
  (records a start and an end event, as the engine records a cook).
- ``change``: stat every recorded file; rerun the upper item of each changed input (content hash
  decides when mtime or size differ), then the concat; record the events and the new manifest rows.
  Prints the number of items it ran (the changed items plus the concat).
- ``rerun``: the stage-1 function changed: stat every recorded file (as ``change``), then rerun
  every upper item, writing its output over the one there, and the concat; the work of a recook
  after the processor's code changed (the engine reuses the concat when its inputs came out the
  same; this loop, knowing nothing of content, runs it).
"""

from __future__ import annotations

import glob
import os
import sqlite3
import sys
import time

import msgpack
import xxhash

BATCH = 1000


class Log:
    """Events appended in batches, one transaction each; the manifest beside them."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, time_ns INTEGER, kind TEXT, "
                          "subject TEXT, payload BLOB)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS manifest (path TEXT PRIMARY KEY, mtime_ns INTEGER, "
                          "size INTEGER, hash TEXT)")
        self.seq = (self.conn.execute("SELECT max(seq) FROM events").fetchone()[0] or 0) + 1
        self.rows: list[tuple] = []
        self.pack = msgpack.Packer(use_bin_type=True).pack

    def event(self, kind: str, subject: str, **payload) -> None:
        payload["v"] = 1
        self.rows.append((self.seq, time.time_ns(), kind, subject, self.pack(payload)))
        self.seq += 1
        if len(self.rows) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany("INSERT INTO events VALUES (?,?,?,?,?)", self.rows)
            self.conn.execute("COMMIT")
            self.rows = []

    def manifest(self) -> dict[str, tuple]:
        return {p: (m, s, h) for p, m, s, h in self.conn.execute("SELECT path, mtime_ns, size, hash FROM manifest")}

    def save_manifest(self, rows: list[tuple]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany("INSERT OR REPLACE INTO manifest VALUES (?,?,?,?)", rows)
        self.conn.execute("COMMIT")


def _record(path: str, data: bytes) -> tuple:
    st = os.stat(path)
    return (path, st.st_mtime_ns, st.st_size, xxhash.xxh3_64_hexdigest(data))


def upper(log: Log, source: str, data: bytes, manifest_rows: list) -> None:
    """One stage-1 item: its events, its work, its output's manifest row."""
    name = os.path.basename(source)
    out = f"out1/{name}"
    log.event("generated", out, state="uncooked", inputs=[source])
    log.event("state", out, state="scheduled")
    log.event("state", out, state="cooking")
    text = data.decode().upper().encode()
    with open(out, "wb") as f:
        f.write(text)
    manifest_rows.append(_record(out, text))
    log.event("cooked", out, state="cooked_success", outputs=[list(manifest_rows[-1])])


def concat(log: Log, outputs: list[str], manifest_rows: list) -> None:
    log.event("generated", "everything", state="uncooked", members=len(outputs))
    log.event("cooked", "everything", state="cooked_success")
    log.event("generated", "concat", state="uncooked")
    log.event("state", "concat", state="scheduled")
    log.event("state", "concat", state="cooking")
    os.makedirs("out2", exist_ok=True)
    parts = []
    for path in sorted(outputs):
        with open(path, "rb") as f:
            parts.append(f.read())
    data = b"".join(parts)
    with open("out2/all.txt", "wb") as f:
        f.write(data)
    manifest_rows.append(_record("out2/all.txt", data))
    log.event("cooked", "concat", state="cooked_success")


def cold(log: Log) -> int:
    log.event("cook_started", "wide")
    os.makedirs("out1", exist_ok=True)
    rows: list[tuple] = []
    outputs = []
    for source in sorted(glob.glob("in/*.txt")):
        with open(source, "rb") as f:
            data = f.read()
        rows.append(_record(source, data))
        log.event("generated", source, state="cooked_success", outputs=[list(rows[-1])])
        upper(log, source, data, rows)
        outputs.append(rows[-1][0])
    concat(log, outputs, rows)
    log.event("cook_finished", "wide", status="success")
    log.flush()
    log.save_manifest(rows)
    return len(outputs) + 1


def changed(manifest: dict[str, tuple]) -> list[str]:
    """The recorded files whose content changed: (mtime_ns, size) match => same, without reading."""
    out = []
    for path, (mtime_ns, size, digest) in manifest.items():
        try:
            st = os.stat(path)
        except FileNotFoundError:
            out.append(path)
            continue
        if st.st_mtime_ns == mtime_ns and st.st_size == size:
            continue
        with open(path, "rb") as f:
            if st.st_size != size or xxhash.xxh3_64_hexdigest(f.read()) != digest:
                out.append(path)
    return out


def incremental(log: Log) -> int:
    """noop and change: rerun the upper item of every changed input (and a changed or missing
    output's producer), then the concat if anything ran."""
    log.event("cook_started", "wide")
    manifest = log.manifest()
    stale = changed(manifest)
    sources = sorted({p if p.startswith("in/") else "in/" + os.path.basename(p)
                      for p in stale if not p.startswith("out2/")})
    rows: list[tuple] = []
    for source in sources:
        with open(source, "rb") as f:
            data = f.read()
        rows.append(_record(source, data))
        log.event("generated", source, state="cooked_success", outputs=[list(rows[-1])])
        upper(log, source, data, rows)
    ran = len(sources)
    if stale:
        concat(log, [p for p in manifest if p.startswith("out1/")], rows)
        ran += 1
    log.event("cook_finished", "wide", status="success", ran=ran)
    log.flush()
    if rows:
        log.save_manifest(rows)
    return ran


def rerun(log: Log) -> int:
    """Every upper item again over its input (read again), then the concat."""
    log.event("cook_started", "wide")
    changed(log.manifest())  # what a cook checks first, as ``incremental``: here, nothing
    rows: list[tuple] = []
    outputs = []
    for source in sorted(glob.glob("in/*.txt")):
        with open(source, "rb") as f:
            data = f.read()
        upper(log, source, data, rows)
        outputs.append(rows[-1][0])
    concat(log, outputs, rows)
    log.event("cook_finished", "wide", status="success", ran=len(outputs) + 1)
    log.flush()
    log.save_manifest(rows)
    return len(outputs) + 1


def main(mode: str, folder: str) -> int:
    os.chdir(folder)
    log = Log("plain.db")
    ran = cold(log) if mode == "cold" else rerun(log) if mode == "rerun" else incremental(log)
    log.conn.close()
    print(ran)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
