"""Output files: non-regular targets and databases are refused and left alone; symbolic links are written
through; the part files of killed writers are swept."""

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time

import pytest
from specialfiles import file_type, special_targets

from xtalviewer.files.outputs import OutputFileError, atomic_output, output_target, write_output


def test_every_non_regular_target_is_refused_and_left_as_it_was(tmp_path):
    for kind, path in special_targets(tmp_path).items():
        before = file_type(path)
        with pytest.raises(OutputFileError, match="not a regular file"):
            write_output(path, "<html></html>")
        assert file_type(path) == before, kind
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_a_symbolic_link_is_written_through_and_stays_a_link(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old")
    os.chmod(real, 0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    write_output(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # the file keeps its permissions


def test_a_dangling_link_creates_its_target(tmp_path):
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "later.csv")
    write_output(link, b"bytes")
    assert link.is_symlink() and (tmp_path / "later.csv").read_bytes() == b"bytes"


def test_a_link_to_a_device_is_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "out.html").symlink_to(fifo)
    with pytest.raises(OutputFileError, match="FIFO"):
        output_target(tmp_path / "out.html")


def test_a_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as fh:
        fh.write("half")
        raise RuntimeError("stop")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(OutputFileError, match="does not exist"):
        output_target(tmp_path / "missing" / "out.csv")


def sqlite_database(path):
    """A small SQLite database in WAL mode, left open so its -wal and -shm files exist."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE plate(barcode TEXT)")
    conn.execute("INSERT INTO plate VALUES ('P1')")
    conn.commit()
    return conn


def test_a_database_and_its_companion_files_are_refused_and_left_as_they_were(tmp_path):
    db = tmp_path / "lab.db"
    conn = sqlite_database(db)
    try:
        backup = tmp_path / "lab.db.v2-1700000000.bak"
        conn.backup(sqlite3.connect(backup))
        other = tmp_path / "results.csv"  # any SQLite file, whatever its name
        sqlite3.connect(other).execute("CREATE TABLE t(x)").connection.close()
        link = tmp_path / "link.csv"
        link.symlink_to(db)
        hard = tmp_path / "hard.csv"
        os.link(db, hard)
        hard_shm = tmp_path / "hard-shm.csv"
        os.link(tmp_path / "lab.db-shm", hard_shm)
        targets = [db, tmp_path / "lab.db-wal", tmp_path / "lab.db-shm", tmp_path / "lab.db-journal", backup, other,
                   link, hard, hard_shm]
        before = {p: p.read_bytes() if p.exists() else None for p in targets}
        for target in targets:
            with pytest.raises(OutputFileError) as refused:
                write_output(target, "barcode\nP1\n")
            message = str(refused.value)
            assert "\n" not in message and "database" in message and str(target) in message, message
            assert (target.read_bytes() if target.exists() else None) == before[target], target
        assert conn.execute("SELECT barcode FROM plate").fetchall() == [("P1",)]
    finally:
        conn.close()
    assert not list(tmp_path.glob(".*.part"))


def test_a_database_named_as_an_output_is_refused_when_it_is_the_one_read(tmp_path):
    db = tmp_path / "lab.db"
    db.touch()  # an empty file SQLite has not written a header into yet
    with pytest.raises(OutputFileError, match="database"):
        output_target(tmp_path / "lab.db", databases=[db])
    with pytest.raises(OutputFileError, match="database"):
        output_target(tmp_path / "lab.db-shm", databases=[db])
    assert output_target(tmp_path / "other.csv", databases=[db]) == tmp_path / "other.csv"


def test_a_text_file_is_still_replaced(tmp_path):
    target = tmp_path / "old.csv"
    target.write_text("SQLite is a database\n")
    write_output(target, "new")
    assert target.read_text() == "new"


def test_a_part_left_by_a_killed_writer_is_swept_by_the_next_output_in_its_folder(tmp_path):
    target = tmp_path / "e.csv"
    child = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                              "from xtalviewer.files.outputs import atomic_output\n"
                              "with atomic_output(sys.argv[1]) as fh:\n"
                              "    fh.write('half'); fh.flush(); print('writing', flush=True); time.sleep(60)\n",
                              str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
        (live,) = tmp_path.glob(".e.csv.*.part")
        assert f".{child.pid}@" in live.name  # the part carries its writer's process id
        write_output(tmp_path / "other.csv", "x")  # the writer is alive: its part stays
        assert live.exists()
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        child.kill()
        child.stdout.close()
    assert live.exists() and not target.exists()  # what a killed export leaves behind
    write_output(tmp_path / "other.csv", "y")
    assert not live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.csv"]


def test_parts_of_live_writers_other_hosts_and_other_programs_are_kept(tmp_path):
    from xtalviewer.files import parts

    mine = tmp_path / f".a.csv.{os.getpid()}@{parts.this_host()}.abcd1234.part"  # this process, another thread
    remote = tmp_path / f".b.csv.{dead_pid()}@another-host.abcd1234.part"  # its pid means nothing here
    foreign = tmp_path / "notes.part"
    for p in (mine, remote, foreign):
        p.write_text("x")
    write_output(tmp_path / "c.csv", "c")
    assert mine.exists() and remote.exists() and foreign.exists()


def test_an_old_unnamed_part_of_the_same_output_goes_once_it_is_a_day_old(tmp_path):
    old = tmp_path / ".e.csv.k2j4h6g8.part"  # named before parts carried a process id
    fresh = tmp_path / ".e.csv.q1w2e3r4.part"
    for p in (old, fresh):
        p.write_text("half")
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    write_output(tmp_path / "e.csv", "whole")
    assert not old.exists() and fresh.exists()


def dead_pid() -> int:
    """The process id of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_database_this_process_has_open_is_refused_without_reading_it(tmp_path, monkeypatch):
    from xtalviewer.files import outputs

    db = tmp_path / "lab.db"
    conn = sqlite_database(db)
    try:  # reading it would close a descriptor of it, and that drops SQLite's locks on it in this process
        monkeypatch.setattr(outputs, "open_regular", lambda *a, **k: pytest.fail("read a file SQLite has open"))
        for target in (db, tmp_path / "lab.db-wal", tmp_path / "lab.db-shm", tmp_path / "lab.db-journal"):
            with pytest.raises(OutputFileError, match="database"):
                output_target(target)
    finally:
        conn.close()
