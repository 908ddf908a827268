import hashlib
import json
import os
import sqlite3
import sys

import numpy as np
import pytest
from dbfixtures import fake_network_mount, held_write_lock
from specialfiles import file_type, special_targets

from xtalviewer.store import schema
from xtalviewer.labels import SchemeError, load_scheme
from xtalviewer.plates import PlateType, well_name
from xtalviewer.store.store import ImageRow, PredictionRow, Store, StoreBusyError, StoreError, StoreReadOnlyError


def populate(store: Store, wells: int = 6, drops: int = 1, barcode: str = "P1", key: str = "i1") -> list[int]:
    with store.transaction():
        pid = store.upsert_plate(barcode, PlateType(8, 12, drops))
        iid, _ = store.upsert_inspection(pid, key, imaged_at="2026-01-01", imager="RI", profile=None,
                                         layout="test", folder="/x")
    rows = [ImageRow(iid, pid, well_name(1, c), 1, c, d, f"/img/{barcode}/{key}/{c}_{d}.jpg", 10, 1.0, 64, 48)
            for c in range(1, wells + 1) for d in range(1, drops + 1)]
    store.upsert_images(rows)
    return [store.image_id_by_path(r.path) for r in rows]


def probs(**named):
    keys = ["clear", "light_precipitate", "heavy_precipitate", "phase_separation", "skin", "other",
            "microcrystals", "needles", "plates", "crystals_3d"]
    v = np.full(10, 0.0)
    for k, p in named.items():
        v[keys.index(k)] = p
    rest = (1 - v.sum()) / (v == 0).sum()
    v[v == 0] = rest
    return v


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_store_is_wal_versioned_and_bound_to_the_default_scheme(db_path):
    with Store(db_path) as s:
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
        assert s.schema_version == schema.SCHEMA_VERSION
        assert s.scheme.id == "xtal10"
    with Store(db_path) as s:  # reopening keeps the scheme without being told
        assert s.scheme.id == "xtal10"


def test_scheme_of_an_existing_database_cannot_be_switched(store_location):
    Store(store_location).close()
    with pytest.raises(StoreError, match="uses label scheme 'xtal10', not 'marco4'"):
        Store(store_location, "marco4")


def test_current_label_is_the_newest_annotation_and_history_is_kept(store_location):
    with Store(store_location) as s:
        a, b = populate(s, wells=2)
        s.add_annotation(a, "clear", "ann")
        s.add_annotation(a, "needles", "bob", source="human", shown=[["needles", 0.7]], lead_ms=850)
        s.add_annotation(b, "skin", "ann", source="accepted-prediction")
        assert s.current_label(a) == "needles"
        assert s.current_label(b) == "skin"
        hist = s.history(a)
        assert [h.label for h in hist] == ["needles", "clear"]
        assert hist[0].annotator == "bob" and hist[0].lead_ms == 850 and hist[0].shown == [["needles", 0.7]]
        undo = s.add_annotation(a, "clear", "bob", reverts=hist[0].id)
        assert s.current_label(a) == "clear"
        assert len(s.history(a)) == 3 and s.history(a)[0].id == undo
        s.add_annotation(a, None, "bob")  # clearing is a new row too
        assert s.current_label(a) is None and len(s.history(a)) == 4


def test_annotations_are_append_only(store_location):
    with Store(store_location) as s:
        (a,) = populate(s, wells=1)
        s.add_annotation(a, "clear", "ann")
        with pytest.raises(s.IntegrityError, match="append-only"):
            s.execute("UPDATE annotation SET label = 'skin'")
        with pytest.raises(s.IntegrityError, match="append-only"):
            s.execute("DELETE FROM annotation")
        assert s.current_label(a) == "clear"


def test_labels_outside_the_scheme_and_bad_sources_are_refused(store_location):
    with Store(store_location) as s:
        (a,) = populate(s, wells=1)
        with pytest.raises(ValueError, match="not a class"):
            s.add_annotation(a, "crystals", "ann")  # a marco4 key, not xtal10
        with pytest.raises(ValueError, match="source"):
            s.add_annotation(a, "clear", "ann", source="robot")
        assert s.history(a) == []


def test_a_label_is_committed_before_add_annotation_returns(store_location):
    with Store(store_location) as writer, Store(store_location) as reader:
        (a,) = populate(writer, wells=1)
        writer.add_annotation(a, "plates", "ann")
        assert reader.current_label(a) == "plates"


def test_reimport_updates_changed_files_and_keeps_labels(store_location):
    with Store(store_location) as s:
        (a,) = populate(s, wells=1)
        s.add_annotation(a, "skin", "ann")
        row = s.image(a)
        changed = ImageRow(row.inspection_id, row.plate_id, row.well, 1, 1, 1, row.path, 99, 2.0, 64, 48)
        assert s.upsert_images([changed]) == (0, 1)
        assert s.upsert_images([changed]) == (0, 0)
        assert s.image(a).size == 99 and s.current_label(a) == "skin"


def test_plate_type_grows_but_never_shrinks(store_location):
    with Store(store_location) as s:
        pid = s.upsert_plate("P", PlateType(8, 12, 1))
        assert s.upsert_plate("P", PlateType(8, 12, 3)) == pid
        s.upsert_plate("P", PlateType(8, 12, 2))
        plate = s.plate_by_barcode("P")
        assert (plate.rows, plate.cols, plate.drops) == (8, 12, 3)


def test_predictions_store_top3_and_queue_measures(store_location):
    with Store(store_location) as s:
        (a,) = populate(s, wells=1)
        m = s.add_model(name="r18", arch="resnet18", classes=s.scheme.keys, input_size=128, path="/m.pt", activate=True)
        s.put_predictions(m, [PredictionRow(a, probs(needles=0.5, clear=0.3, plates=0.1), 10, 1.0)])
        p = s.prediction(a, m)
        assert (p.top1, p.top2, p.top3) == ("needles", "clear", "plates")
        assert p.p1 == pytest.approx(0.5) and p.margin == pytest.approx(0.2)
        assert p.crystal_prob == pytest.approx(0.5 + 0.1 + 2 * 0.1 / 7)
        assert p.crystal_top3 == 1
        assert 0 < p.entropy < 1
        assert len(p.probs) == 10
        s.put_predictions(m, [PredictionRow(a, probs(clear=0.9), 10, 1.0)])  # rescoring replaces
        assert s.prediction(a, m).top1 == "clear"
        assert s.prediction(a, m).crystal_top3 == 0
        assert s.execute("SELECT COUNT(*) FROM prediction").fetchone()[0] == 1


def test_only_one_model_is_active_and_foreign_schemes_are_refused(store_location):
    with Store(store_location) as s:
        m1 = s.add_model(name="a", arch="resnet18", classes=s.scheme.keys, input_size=128, path="/a.pt", activate=True)
        m2 = s.add_model(name="b", arch="alexnet", classes=s.scheme.keys, input_size=128, path="/b.pt")
        s.activate_model(m2)
        assert s.active_model().id == m2
        assert [m.active for m in s.models()] == [False, True]
        with pytest.raises(SchemeError, match="marco4"):
            s.add_model(name="c", arch="alexnet", classes=["crystals", "precipitate", "clear", "other"],
                        input_size=128, path="/c.pt", scheme="marco4")
        with pytest.raises(StoreError, match="no model 99"):
            s.activate_model(99)
        assert s.active_model().id == m2 and m1 != m2


@pytest.fixture
def queue_store(store_location):
    s = Store(store_location)
    ids = populate(s, wells=6)
    m = s.add_model(name="r", arch="resnet18", classes=s.scheme.keys, input_size=128, path="/m.pt", activate=True)
    s.put_predictions(m, [
        PredictionRow(ids[0], probs(crystals_3d=0.9)),
        PredictionRow(ids[1], probs(clear=0.45, needles=0.44)),
        PredictionRow(ids[2], probs(clear=0.95)),
        PredictionRow(ids[3], probs(skin=0.6, plates=0.3)),
        PredictionRow(ids[4], probs(heavy_precipitate=0.8)),
    ])  # ids[5] not scored yet
    s.add_annotation(ids[2], "clear", "ann")
    s.add_annotation(ids[4], "microcrystals", "ann")  # the reviewer saw crystals the model missed
    yield s, ids, m
    s.close()


def test_review_orders(queue_store):
    s, ids, m = queue_store
    order = lambda **kw: [r.id for r in s.review_queue(m, **kw)]
    assert order(order="plate") == ids
    assert order(order="crystal")[:3] == [ids[0], ids[1], ids[3]]  # needles 0.44 outranks plates 0.3
    assert order(order="crystal")[-1] == ids[5]  # unscored last
    assert order(order="margin")[0] == ids[1]
    assert order(order="entropy")[-2] == ids[2]
    assert order(order="disagreement") == [ids[4]]
    assert order(order="crystal", unlabelled_only=True) == [ids[0], ids[1], ids[3], ids[5]]
    assert order(order="plate", label="clear") == [ids[2]]
    assert order(order="plate", predicted="clear") == [ids[1], ids[2]]
    assert order(order="crystal", crystal_top3=True) == [ids[0], ids[1], ids[3]]
    assert order(order="crystal", limit=2) == [ids[0], ids[1]]
    assert order(order="crystal", unlabelled_only=True, limit=4)[-1] == ids[5]
    rows = s.review_queue(m, "plate")
    assert rows[0].top1 == "crystals_3d" and rows[5].top1 is None
    with pytest.raises(ValueError):
        s.review_queue(m, "random")


def test_plate_summaries_count_what_the_browser_shows(queue_store):
    s, ids, m = queue_store
    (summary,) = s.plate_summaries(m)
    assert summary.images == 6 and summary.labelled == 2 and summary.crystal_labels == 1
    assert summary.predicted == 5 and summary.inspections == 1
    assert summary.predicted_hits == 1 and summary.crystal_top3 == 3  # 3D crystals at 90%; two more in top 3


def test_drop_time_course_lists_inspections_oldest_first(store_location):
    with Store(store_location) as s:
        populate(s, wells=1, key="late")
        populate(s, wells=1, key="early")
        pid = s.plate_by_barcode("P1").id
        s.execute("UPDATE inspection SET imaged_at = '2025-01-01' WHERE key = 'early'")
        course = s.drop_images(pid, "A01", 1)
        assert [c.inspection_key for c in course] == ["early", "late"]


def test_newer_database_is_refused_and_left_untouched(db_path):
    Store(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 5}")
    conn.close()
    before = sha(db_path)
    with pytest.raises(StoreError, match="newer xtalviewer"):
        Store(db_path)
    assert sha(db_path) == before


def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 20)
    before = sha(path)
    with pytest.raises(StoreError, match="not an SQLite file"):
        Store(path)
    assert sha(path) == before


def test_a_foreign_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not an xtalviewer one"):
        Store(path)


def test_migration_from_an_older_version_backs_up_first(db_path, monkeypatch):
    with Store(db_path) as s:
        (a,) = populate(s, wells=1)
        s.add_annotation(a, "needles", "ann")
    extra = "ALTER TABLE plate ADD COLUMN note TEXT;\nCREATE INDEX plate_note ON plate(note);"
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, extra])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(schema.MIGRATIONS))
    with Store(db_path) as s:
        assert s.schema_version == len(schema.MIGRATIONS)
        assert "note" in s.sqlite_utils["plate"].columns_dict
        assert s.current_label(a) == "needles"
    backups = list(db_path.parent.glob(f"{db_path.name}.v{len(schema.MIGRATIONS) - 1}-*.bak"))
    assert len(backups) == 1
    old = sqlite3.connect(backups[0])
    assert old.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS) - 1
    assert old.execute("SELECT label FROM image").fetchone()[0] == "needles"
    old.close()


def test_every_migration_applies_from_an_empty_database(store_location):
    with Store(store_location) as s:
        tables = set(s.table_names())
    assert {"plate", "inspection", "image", "annotation", "model", "prediction", "meta"} <= tables


def test_a_full_disk_rolls_the_label_back_and_leaves_the_store_consistent(db_path):
    with Store(db_path) as s:
        ids = populate(s, wells=12)
        pages = s.conn.execute("PRAGMA page_count").fetchone()[0]
        s.conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from now on
        written, error = [], None
        for i in range(100_000):
            try:
                written.append(s.add_annotation(ids[i % 12], "clear" if i % 2 else "skin", "ann"))
            except sqlite3.OperationalError as exc:
                error = str(exc)
                break
        assert error == "database or disk is full"
        assert not s.conn.in_transaction
        count = s.conn.execute("SELECT COUNT(*) FROM annotation").fetchone()[0]
        assert count == len(written)  # every acknowledged label is there, the failed one is not
        last = s.conn.execute("SELECT image_id, label FROM annotation ORDER BY id DESC LIMIT 1").fetchone()
        assert s.current_label(last[0]) == last[1]
        assert s.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.parametrize("old_version", range(schema.SCHEMA_VERSION))
def test_every_earlier_schema_version_migrates_with_a_backup(tmp_path, old_version):
    """Build the database exactly as release N left it (its migrations only), then open it."""
    path = tmp_path / f"v{old_version}.db"
    conn = sqlite3.connect(path)
    for number in range(old_version):
        conn.executescript(schema.MIGRATIONS[number])
        conn.execute(f"PRAGMA user_version = {number + 1}")
    if old_version >= 1:
        conn.execute("INSERT INTO meta VALUES ('scheme', 'xtal10')")
        conn.execute("INSERT INTO meta VALUES ('scheme_classes', ?)", (json.dumps(load_scheme().keys),))
        conn.execute("INSERT INTO plate(barcode, rows, cols, drops, created_at) VALUES ('OLD', 8, 12, 1, 'x')")
    conn.commit()
    conn.close()
    with Store(path) as s:
        assert s.schema_version == schema.SCHEMA_VERSION
        if old_version >= 1:
            assert s.plate_by_barcode("OLD") is not None
    backups = list(tmp_path.glob(f"v{old_version}.db.v{old_version}-*.bak"))
    assert len(backups) == (1 if old_version >= 1 else 0)  # an empty database has nothing to back up


def test_a_path_that_is_not_a_regular_file_is_refused_before_sqlite_opens_it(tmp_path):
    for kind, target in special_targets(tmp_path, ".db").items():
        before = file_type(target)
        with pytest.raises(StoreError, match="not a regular file"):
            Store(target)
        assert file_type(target) == before, kind
        assert not os.path.exists(f"{target}-journal") and not os.path.exists(f"{target}-wal"), kind
    existed = os.path.exists("/dev/null-journal")
    with pytest.raises(StoreError, match="/dev/null is a character device, not a regular file"):
        Store("/dev/null")
    assert existed or not os.path.exists("/dev/null-journal")


def test_a_database_on_a_network_file_system_is_refused_unless_allowed(tmp_path, monkeypatch):
    share = tmp_path / "share"
    share.mkdir()
    fake_network_mount(monkeypatch, tmp_path, share)
    with pytest.raises(StoreError, match=r"network file system, nfs4 \(fileserver:/export/lab mounted on .*share\)"
                                         r".*--allow-network-db"):
        Store(share / "lab.db")
    assert not (share / "lab.db").exists()
    Store(share / "lab.db", allow_network=True).close()
    monkeypatch.setenv("XTALVIEWER_ALLOW_NETWORK_DB", "1")
    Store(share / "lab.db").close()
    Store(tmp_path / "local.db").close()  # a local disk beside it is fine


def test_a_read_only_store_reads_and_refuses_writes_saying_read_only(db_path):
    with Store(db_path) as s:
        (a,) = populate(s, wells=1)
        s.add_annotation(a, "needles", "ann")
    before = sha(db_path)
    with Store(db_path, readonly=True) as s:
        assert s.current_label(a) == "needles" and s.scheme.id == "xtal10"
        with pytest.raises(StoreReadOnlyError, match="read-only .*opened for reading only"):
            s.add_annotation(a, "clear", "ann")
    with pytest.raises(StoreError, match="does not exist"):
        Store(db_path.with_name("missing.db"), readonly=True)
    assert sha(db_path) == before and not db_path.with_name("missing.db").exists()


def test_the_scheme_travels_inside_the_database(tmp_path, store_location, monkeypatch):
    own = tmp_path / "elsewhere" / "mylab.json"
    own.parent.mkdir()
    own.write_text(json.dumps({"classes": [
        {"key": "empty", "name": "Empty", "hotkey": "e", "color": "#ffffff", "crystal": False, "marco": "Clear"},
        {"key": "xtal", "name": "Crystal", "hotkey": "x", "color": "#ff0000", "crystal": True, "marco": "Crystals"},
    ], "aliases": {"Crystals": "xtal"}}))
    db = store_location
    Store(db, str(own)).close()
    own.unlink()  # another computer: the file is not there
    monkeypatch.setenv("XTALVIEWER_HOME", str(tmp_path / "other-home"))
    with Store(db) as s:
        assert s.scheme.id == "mylab" and s.scheme.keys == ["empty", "xtal"] and s.scheme.resolve("Crystals") == "xtal"
    with Store(db, readonly=True) as s:
        assert s.scheme.keys == ["empty", "xtal"]


def test_a_database_made_before_schemes_were_stored_gets_its_copy(store_location):
    with Store(store_location) as s, s.transaction():
        s.execute("DELETE FROM meta WHERE key = 'scheme_doc'")
    with Store(store_location) as s:
        assert json.loads(s.get_meta("scheme_doc"))["classes"][0]["key"] == "clear"


def test_busy_past_the_timeout_names_the_holder_and_writes_nothing(db_path):
    with Store(db_path) as s:
        (a,) = populate(s, wells=1)
    with held_write_lock(db_path) as holder, Store(db_path, busy_timeout=0.2) as s:
        with pytest.raises(StoreBusyError, match="is busy: .* kept it locked for more than 0.2 s") as err:
            s.add_annotation(a, "needles", "ann")
        assert s.current_label(a) is None  # readers are never blocked
    if sys.platform.startswith("linux"):
        assert f"(pid {holder.pid})" in str(err.value)
    with Store(db_path) as s:
        assert s.query("SELECT COUNT(*) AS n FROM annotation")[0]["n"] == 0


def test_the_busy_timeout_comes_from_the_environment(db_path, monkeypatch):
    monkeypatch.setenv("XTALVIEWER_BUSY_TIMEOUT", "0.5")
    with Store(db_path) as s:
        assert s.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 500
