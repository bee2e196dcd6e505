"""Who calls a store corrupt: SQLite, never the header's arithmetic; and a store called corrupt is
never written, by a cook, a dirty or a reader (issue 17, defects 1, 3 and 7)."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

from pdgstore.errors import StoreRefused
from pdgstore.log import EventLog
from reliability.helpers import file_bytes, integrity, one_line, seqs, some_events

#: each case runs several pdg processes: room for a loaded machine
pytestmark = pytest.mark.timeout(300)


TINY_GRAPH = """
from pdgstore.engine import Graph

graph = Graph("tiny")
r = graph.range_generate("r", 3)

@graph.python_processor("double", upstream=r)
def double(item):
    item.set_attrib("twice", item.attrib_value("value") * 2)
"""


def mid_checkpoint_store(folder: Path) -> Path:
    """A healthy store as a kill (or a full disk, or ``ulimit -f``) leaves it in the middle of a WAL
    checkpoint: page 1 (with the new page count) is already copied into the database file, the
    pages after the old end are not, and the WAL still holds every one of them."""
    src = folder / "src" / "pdg.db"
    src.parent.mkdir(parents=True)
    with EventLog.open(str(src), writer=True, create=True) as log:
        log.append(some_events(1, 10))
        log.conn.execute("PRAGMA wal_autocheckpoint = 0")
        log.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = src.read_bytes()
        for first in range(11, 4011, 500):
            log.append(some_events(first, 500, cook_id=2))
        wal = Path(str(src) + "-wal").read_bytes()
        log.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        after = src.read_bytes()
        dst = folder / "proj" / ".pdg" / "pdg.db"
        dst.parent.mkdir(parents=True)
        dst.write_bytes(after[: len(before)])
        Path(str(dst) + "-wal").write_bytes(wal)
    (page_size,) = struct.unpack(">H", after[16:18])
    (pages,) = struct.unpack(">I", after[28:32])
    assert pages * page_size > len(before)  # the header runs ahead of the file: not corruption
    return dst


def test_a_store_stopped_mid_checkpoint_is_healthy_and_opens(tmp_path):
    db = mid_checkpoint_store(tmp_path)
    assert integrity(db) == "ok"
    assert seqs(db) == list(range(1, 4011))
    with EventLog.open(str(db), writer=True) as log:
        assert log.next_seq == 4011
        log.append(some_events(4011, 3, cook_id=3))
    assert seqs(db)[-1] == 4013


def test_every_command_reads_a_store_stopped_mid_checkpoint(project, tmp_path):
    db = mid_checkpoint_store(tmp_path)
    for args in (["status"], ["history"], ["check"]):
        r = project.pdg_process(*args, "--db", str(db))
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        assert "corrupt" not in r.stderr


def damaged_in_the_middle(folder: Path) -> Path:
    """A store whose bytes were flipped inside an index page: the header and page 1 are sound, so
    only SQLite's check can tell."""
    db = folder / "d" / "pdg.db"
    db.parent.mkdir(parents=True)
    with EventLog.open(str(db), writer=True, create=True) as log:
        for first in range(1, 3001, 500):
            log.append(some_events(first, 500))
    data = bytearray(db.read_bytes())
    (page_size,) = struct.unpack(">H", data[16:18])
    pages = len(data) // page_size
    for page in range(pages // 2, pages - 1):
        data[page * page_size + 8 : page * page_size + 400] = bytes(range(256)) + bytes(136)
    db.write_bytes(bytes(data))
    assert integrity(db) != "ok"
    return db


@pytest.mark.parametrize("command", ["cook", "dirty", "events", "check"])
def test_a_store_sqlite_calls_corrupt_is_never_written(project, tmp_path, command):
    """(A read command meets the damage only where it reads: ``pdg status`` reads a few table
    rows, which this damage may spare; ``pdg events`` reads the whole log.)"""
    db = damaged_in_the_middle(tmp_path)
    project.write("tiny.py", TINY_GRAPH)
    before = file_bytes(db)
    args = {
        "cook": ["cook", "tiny.py", "--db", str(db)],
        "dirty": ["dirty", "n", "--db", str(db)],
        "events": ["events", "--db", str(db)],
        "check": ["check", "--db", str(db)],
    }[command]
    r = project.pdg_process(*args)
    assert r.returncode in (1, 2), (r.stdout, r.stderr)
    if command != "check":
        assert "corrupt" in one_line(r.stderr) or "malformed" in r.stderr
    assert "Traceback" not in r.stderr
    assert file_bytes(db) == before


def test_a_reader_leaves_a_garbage_wal_as_it_was(project, tmp_path):
    db = tmp_path / "g" / "pdg.db"
    db.parent.mkdir()
    with EventLog.open(str(db), writer=True, create=True) as log:
        log.append(some_events(1, 20))
    Path(str(db) + "-wal").write_bytes(os.urandom(5000))
    before = file_bytes(db)
    for args in (["status"], ["history"], ["events"]):
        r = project.pdg_process(*args, "--db", str(db))
        assert "Traceback" not in r.stderr
        assert file_bytes(db) == before, args


def test_a_refused_open_never_leaves_a_wal_change(tmp_path):
    db = damaged_in_the_middle(tmp_path)
    before = file_bytes(db)
    with pytest.raises(StoreRefused):
        EventLog.open(str(db), writer=True)
    assert file_bytes(db) == before
    shutil.rmtree(db.parent)


def damaged_schema(folder: Path, byte: int) -> Path:
    """A store whose schema (the SQL text of an index in ``sqlite_master``) holds ``byte`` where a
    name's first letter was: SQLite refuses the schema and quotes that byte back in its message."""
    db = folder / "s" / "pdg.db"
    db.parent.mkdir(parents=True)
    with EventLog.open(str(db), writer=True, create=True) as log:
        log.append(some_events(1, 20))
    data = bytearray(db.read_bytes())
    at = data.find(b"ON items (name)")
    assert at > 0, "the items_name index is in the schema"
    data[at + len(b"ON items (")] = byte
    db.write_bytes(bytes(data))
    return db


@pytest.mark.parametrize("byte", [0xCF, 0x1D, 0x0A], ids=["not-utf8", "group-separator", "newline"])
@pytest.mark.parametrize("command", ["status", "cook"])
def test_a_damaged_schema_gets_one_printable_line_whatever_sqlite_quotes(project, tmp_path, byte, command):
    """SQLite's message about a damaged schema quotes the bytes it choked on: a byte that is not
    UTF-8 made Python's ``sqlite3`` raise ``UnicodeDecodeError`` instead of its error (a traceback),
    and a control character split the one ``pdg: ...`` line (found by ``test_fuzz.py``)."""
    db = damaged_schema(tmp_path, byte)
    project.write("tiny.py", TINY_GRAPH)
    before = file_bytes(db)
    args = ["cook", "tiny.py"] if command == "cook" else ["status"]
    r = project.pdg_process(*args, "--db", str(db))
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = one_line(r.stderr)
    assert line.startswith("pdg: ") and "is corrupt" in line and line.isprintable(), line
    assert file_bytes(db) == before
