"""Naming the process that holds a database's write lock."""

import sys

import pytest
from dbfixtures import held_write_lock

from xtalviewer.store import lock_holders as holders
from xtalviewer.store.lock_holders import describe_holders, lock_holders
from xtalviewer.store.store import Store


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/locks is Linux's")
def test_the_holder_of_the_write_lock_is_found(db_path):
    Store(db_path).close()
    with held_write_lock(db_path) as holder:
        assert lock_holders(db_path) == [holder.pid]
        assert f"(pid {holder.pid})" in describe_holders(db_path)
    assert lock_holders(db_path) == []


@pytest.mark.parametrize("argv, said", [
    (["/usr/bin/python3", "/home/ana/.venv/bin/xtalviewer", "import", "/data/plates"], "xtalviewer import"),
    (["/home/ana/.venv/bin/python", "/home/ana/.venv/bin/xtalviewer"], "the xtalviewer review window"),
    (["python", "-m", "xtalviewer", "predict", "--db", "x.db"], "xtalviewer predict"),
    (["/usr/bin/python3", "/home/ana/.venv/bin/xtal-train", "--arch", "all"], "an xtal-train run"),
    (["sqlite3", "lab.db"], "an sqlite3 shell"),
])
def test_processes_are_named_in_the_words_a_lab_uses(argv, said, tmp_path, monkeypatch):
    proc = tmp_path / "4242"
    proc.mkdir()
    (proc / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    real_path = holders.Path
    monkeypatch.setattr(holders, "Path", lambda p: real_path(str(p).replace("/proc", str(tmp_path), 1)))
    assert holders.describe_process(4242) == f"{said} (pid 4242)"
