"""Schema 3 from what the earlier releases wrote: imaging modes fold HWI UV/SHG inspections into
their time stamp's inspection, flags get their table, every label and prediction stays, and the
database is backed up first."""

import json
import sqlite3

import numpy as np
import pytest

from xtalviewer.store import schema
from xtalviewer.labels import load_scheme
from xtalviewer.store.store import Store


def old_database(path, version: int) -> None:
    """A database exactly as release ``version`` left it: HWI plate H with a visible, UV and SHG
    folder at one time stamp and a UV + SHG pair without a visible one at another; a Rock Maker
    plate with two profiles of a batch; labels (one undone), a model and its predictions."""
    conn = sqlite3.connect(path)
    for number in range(version):
        conn.executescript(schema.MIGRATIONS[number])
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("INSERT INTO meta VALUES ('scheme', 'xtal10')")
    conn.execute("INSERT INTO meta VALUES ('scheme_classes', ?)", (json.dumps(load_scheme().keys),))
    conn.execute("INSERT INTO plate VALUES (1, 'H000000001', 32, 48, 1, 'x', NULL)")
    conn.execute("INSERT INTO plate VALUES (2, 'RM1', 8, 12, 1, 'x', NULL)")
    inspections = [(1, 1, "201807151230-jpg", "visible"), (2, 1, "201807151230-uvt", "UV-TPEF"),
                   (3, 1, "201807151230-shg", "SHG"), (4, 1, "201807221230-uvt", "UV-TPEF"),
                   (5, 1, "201807221230-shg", "SHG"), (6, 2, "batch 7 profile 1", "profile 1"),
                   (7, 2, "batch 7 profile 5", "profile 5")]
    for iid, pid, key, profile in inspections:
        layout = "hwi" if pid == 1 else "rockmaker-store"
        conn.execute("INSERT INTO inspection(id, plate_id, key, imaged_at, imager, profile, layout, folder) "
                     "VALUES (?, ?, ?, ?, 'HWI', ?, ?, '/f')", (iid, pid, key, f"2018-07-{15 + 7 * (iid > 3)}", profile,
                                                                layout))
        for n, well in enumerate(("A01", "A02")):
            image_id = 10 * iid + n
            conn.execute("INSERT INTO image(id, inspection_id, plate_id, well, row, col, drop_no, path) "
                         "VALUES (?, ?, ?, ?, 1, ?, 1, ?)", (image_id, iid, pid, well, n + 1, f"/img/{iid}/{well}.jpg"))
    model_columns = "id, name, arch, scheme, classes, input_size, path, active, created_at"
    conn.execute(f"INSERT INTO model({model_columns}) VALUES (1, 'm', 'resnet18', 'xtal10', ?, 32, '/m.pt', 1, 'x')",
                 (json.dumps(load_scheme().keys),))
    probs = np.full(10, 0.1, dtype="<f4").tobytes()
    for image_id in (10, 20):
        conn.execute("INSERT INTO prediction(image_id, model_id, probs, top1, p1, crystal_prob, margin, entropy, "
                     "crystal_top3, created_at) VALUES (?, 1, ?, 'clear', 0.1, 0.4, 0, 1, 1, 'x')", (image_id, probs))
    for image_id, label in ((10, "needles"), (20, "clear"), (11, "skin"), (11, None)):
        conn.execute("INSERT INTO annotation(image_id, label, annotator, created_at, source) "
                     "VALUES (?, ?, 'ann', 'x', 'human')", (image_id, label))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("version", [1, 2])
def test_an_earlier_database_migrates_to_modes_with_a_backup(tmp_path, version):
    path = tmp_path / "old.db"
    old_database(path, version)
    with Store(path) as s:
        assert s.schema_version == schema.SCHEMA_VERSION
        assert s.conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert s.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        hwi = {r.key: r for r in s.inspections(1)}
        # one inspection per time stamp: visible first, else UV; the keys lose the folder suffix
        assert set(hwi) == {"201807151230", "201807221230"}
        assert hwi["201807151230"].id == 1 and hwi["201807221230"].id == 4
        assert s.inspection_modes(1) == ["visible", "uv", "shg"]
        assert s.inspection_modes(4) == ["uv", "shg"]
        # ids, paths, labels and predictions stay with their images
        modes = s.drop_modes(1, "A01", 1)
        assert {m: r.id for m, r in modes.items()} == {"visible": 10, "uv": 20, "shg": 30}
        assert s.current_label(10) == "needles" and s.current_label(20) == "clear"
        assert s.current_label(11) is None and len(s.history(11)) == 2
        assert s.prediction(20, 1).top1 == "clear"
        assert s.image_id_by_position("H000000001", "201807151230-uvt", "A01", 1) == 20  # an old export's key
        assert s.image_id_by_position("H000000001", "201807151230", "A01", 1) == 10
        # Rock Maker image-store profiles are numbers only: they stay separate inspections
        assert [r.key for r in s.inspections(2)] == ["batch 7 profile 1", "batch 7 profile 5"]
        # labels still follow the newest annotation; history and flags are append-only
        s.add_annotation(10, "plates", "ann")
        assert s.current_label(10) == "plates"
        (flag,) = s.add_flags([10], True, "ann", note="check the edge")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            s.conn.execute("DELETE FROM flag")
        assert [(f.id, f.note, f.annotator, f.flagged) for f in s.flags(1).values()] == [(flag, "check the edge", "ann", True)]
        assert s.model(1).mode == "visible"
    (backup,) = tmp_path.glob(f"old.db.v{version}-*.bak")
    old = sqlite3.connect(backup)
    assert old.execute("PRAGMA user_version").fetchone()[0] == version
    assert old.execute("SELECT COUNT(*) FROM inspection").fetchone()[0] == 7
    old.close()


def test_a_migration_that_would_break_references_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    old_database(path, 2)
    broken = "DELETE FROM inspection WHERE id = 6;"  # its images would point nowhere
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS[:2], broken])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 3)
    from xtalviewer.store.store import StoreError

    with pytest.raises(StoreError, match="would break"):
        Store(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert conn.execute("SELECT COUNT(*) FROM inspection").fetchone()[0] == 7
    conn.close()


HALT_IN_BACKUP = """
import functools, sqlite3, sys, time


class HaltingBackup(sqlite3.Connection):
    def backup(self, target, **kwargs):  # copy one page, say so, then wait to be killed
        def halt(status, remaining, total):
            print("copying", flush=True)
            time.sleep(60)
        return super().backup(target, pages=1, progress=halt)


sqlite3.connect = functools.partial(sqlite3.connect, factory=HaltingBackup)
from xtalviewer.store.store import Store
Store(sys.argv[1])
"""


def test_a_backup_killed_halfway_leaves_no_bak_and_the_next_open_makes_a_whole_one(tmp_path):
    import signal
    import subprocess
    import sys

    path = tmp_path / "old.db"
    old_database(path, 2)
    child = subprocess.Popen([sys.executable, "-c", HALT_IN_BACKUP, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "copying"
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        child.kill()
        child.stdout.close()
    assert not list(tmp_path.glob("*.bak")), "a killed backup left a .bak that is not a copy"
    (part,) = tmp_path.glob(".old.db.v2-*.bak.*.part")
    assert f".{child.pid}@" in part.name
    with Store(path) as s:
        assert s.schema_version == schema.SCHEMA_VERSION
    (backup,) = tmp_path.glob("old.db.v2-*.bak")
    conn = sqlite3.connect(backup)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert conn.execute("SELECT COUNT(*) FROM annotation").fetchone()[0] == 4
    conn.close()
    assert not list(tmp_path.glob(".*.part")), "the dead copier's part was not swept"
