import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dbfixtures import fake_network_mount, held_write_lock, run_on_read_only_medium
from imagefiles import write_image
from modelfiles import tiny_checkpoint
from specialfiles import file_type, special_targets

from xtalviewer.cli import main
from xtalviewer.importers.label_csv import EXPORT_COLUMNS
from xtalviewer.labels import load_scheme
from xtalviewer.store.store import PredictionRow, Store


@pytest.fixture
def plate_folder(tmp_path):
    folder = tmp_path / "P7_2026-02-03_RI1000-0081-2drop"
    for row in "AB":
        for col in (1, 2):
            for drop in (1, 2):
                write_image(folder / f"P7_{col:02d}{row}_{drop}.jpg")
    (folder / "P7_03A_1.jpg").write_bytes(b"\xff\xd8 not really")
    return folder


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_import_prints_counts_and_unreadable_files(capsys, plate_folder, store_location):
    code, out, _ = run(capsys, "import", plate_folder, "--db", store_location)
    assert code == 0
    assert "Recorded 1 plate, 1 inspection (1 new) and 9 images (9 new" in out
    assert "Could not read 1 file:" in out and "P7_03A_1.jpg:" in out


def test_import_of_a_missing_path_exits_2_with_a_clear_message(capsys, tmp_path, db_path):
    code, out, err = run(capsys, "import", tmp_path / "missing", "--db", db_path)
    assert code == 2
    assert "missing: no such file or folder" in err
    assert not db_path.exists()


def test_every_command_takes_db_and_defaults_to_the_user_folder(capsys, plate_folder, isolated_home):
    code, _, _ = run(capsys, "import", plate_folder)
    assert code == 0
    assert (isolated_home / "xtalviewer.db").exists()
    code, out, _ = run(capsys, "stats")
    assert code == 0 and "P7" in out


def test_export_has_exactly_the_contract_columns(capsys, plate_folder, store_location, tmp_path):
    run(capsys, "import", plate_folder, "--db", store_location)
    with Store(store_location) as s:
        ids = [r["id"] for r in s.query("SELECT id FROM image ORDER BY id")]
        s.add_annotation(ids[0], "needles", "ann")
        m = s.add_model(name="resnet18-demo", arch="resnet18", classes=s.scheme.keys, input_size=128,
                        path="/m.pt", activate=True)
        p = [0.02] * 10
        p[7], p[0] = 0.6, 0.24
        s.put_predictions(m, [PredictionRow(ids[0], p)])
    out_csv = tmp_path / "out.csv"
    code, out, _ = run(capsys, "export", "-o", out_csv, "--db", store_location)
    assert code == 0 and "Wrote 9 rows" in out
    with open(out_csv, newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert tuple(reader.fieldnames) == EXPORT_COLUMNS
    assert ",".join(EXPORT_COLUMNS) == ("plate,inspection,imaged_at,well,drop,image_path,label,annotator,labelled_at,"
                                        "model,pred1,p1,pred2,p2,pred3,p3,crystal_prob,hit,mode,condition,ph")
    assert {r["mode"] for r in rows} == {"visible"}
    first = rows[0]
    assert (first["plate"], first["well"], first["drop"], first["label"], first["annotator"]) == ("P7", "A01", "1", "needles", "ann")
    assert first["imaged_at"] == "2026-02-03"
    assert (first["model"], first["pred1"], first["p1"], first["pred2"]) == ("resnet18-demo", "needles", "0.6000", "clear")
    assert rows[1]["label"] == "" and rows[1]["pred1"] == "" and rows[1]["model"] == ""


def test_export_of_one_plate_and_of_an_unknown_plate(capsys, plate_folder, store_location, tmp_path):
    run(capsys, "import", plate_folder, "--db", store_location)
    assert run(capsys, "export", "-o", tmp_path / "a.csv", "--plate", "P7", "--db", store_location)[0] == 0
    code, _, err = run(capsys, "export", "-o", tmp_path / "b.csv", "--plate", "NOPE", "--db", store_location)
    assert code == 2 and "no plate 'NOPE'" in err


def test_export_then_import_labels_round_trips(capsys, plate_folder, store_location, another_store_location, tmp_path):
    run(capsys, "import", plate_folder, "--db", store_location)
    with Store(store_location) as s:
        ids = [r["id"] for r in s.query("SELECT id FROM image ORDER BY id")]
        s.add_annotation(ids[0], "skin", "ann")
        s.add_annotation(ids[3], "crystals_3d", "bob")
    exported = tmp_path / "labels.csv"
    run(capsys, "export", "-o", exported, "--db", store_location)

    other = another_store_location
    run(capsys, "import", plate_folder, "--db", other)
    code, out, _ = run(capsys, "import-labels", exported, "--db", other)
    assert code == 0 and "Stored 2 labels" in out
    with Store(other) as s:
        got = {r["path"]: (r["label"]) for r in s.query("SELECT path, label FROM image WHERE label IS NOT NULL")}
        hist = s.query("SELECT annotator, source FROM annotation ORDER BY id")
    with Store(store_location) as s:
        want = {r["path"]: r["label"] for r in s.query("SELECT path, label FROM image WHERE label IS NOT NULL")}
    assert got == want
    assert hist == [{"annotator": "ann", "source": "import"}, {"annotator": "bob", "source": "import"}]
    code, out, _ = run(capsys, "import-labels", exported, "--db", other)  # again: nothing changes
    assert "Stored 0 labels; 2 unchanged" in out


def test_import_labels_accepts_plain_and_marco_csv_and_reports_bad_lines(capsys, plate_folder, store_location, tmp_path):
    run(capsys, "import", plate_folder, "--db", store_location)
    a = plate_folder / "P7_01A_1.jpg"
    b = plate_folder / "P7_01A_2.jpg"
    src = tmp_path / "plain.csv"
    src.write_text(f"image_path,label\n{a},Crystals\n{b},clear\n{plate_folder / 'zzz.jpg'},clear\n{a},banana\n")
    code, out, _ = run(capsys, "import-labels", src, "--db", store_location, "--annotator", "carol")
    assert code == 0
    assert "Stored 2 labels" in out
    assert "Mapped 1 label: Crystals -> crystals_3d" in out
    assert "line 4: no such image in the database" in out
    assert "line 5: unknown label 'banana'" in out
    with Store(store_location) as s:
        assert s.current_label(s.image_id_by_path(str(a))) == "crystals_3d"
        assert {r["annotator"] for r in s.query("SELECT annotator FROM annotation")} == {"carol"}


def test_import_labels_with_wrong_columns_changes_nothing(capsys, plate_folder, store_location, tmp_path):
    run(capsys, "import", plate_folder, "--db", store_location)
    src = tmp_path / "wrong.csv"
    src.write_text("file,class\nx.jpg,clear\n")
    code, _, err = run(capsys, "import-labels", src, "--db", store_location)
    assert code == 2 and "needs the columns image_path,label" in err and "found: file,class" in err
    with Store(store_location) as s:
        assert s.query("SELECT COUNT(*) AS n FROM annotation")[0]["n"] == 0


def test_stats_counts_per_plate_and_label(capsys, plate_folder, store_location):
    run(capsys, "import", plate_folder, "--db", store_location)
    with Store(store_location) as s:
        s.add_annotation(1, "needles", "ann")
    code, out, _ = run(capsys, "stats", "--db", store_location)
    assert code == 0
    line = next(l for l in out.splitlines() if l.startswith("P7"))
    assert line.split()[1:7] == ["96-well,", "2", "drop", "1", "9", "1"]
    assert any(l.split()[1:3] == ["needles", "1"] for l in out.splitlines())
    assert any("(unlabelled)" in l and " 8 " in l for l in out.splitlines())


def test_a_database_that_is_not_ours_exits_2(capsys, tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_text("hello")
    code, _, err = run(capsys, "stats", "--db", bad)
    assert code == 2 and "not an SQLite file" in err


def test_export_refuses_a_non_regular_target_and_leaves_it(capsys, plate_folder, db_path, tmp_path):
    run(capsys, "import", plate_folder, "--db", db_path)
    targets = special_targets(tmp_path, ".csv")
    reader = os.open(targets["FIFO"], os.O_RDONLY | os.O_NONBLOCK)  # an old build must not hang on open()
    try:
        for kind, target in targets.items():
            before = file_type(target)
            code, _, err = run(capsys, "export", "-o", target, "--db", db_path)
            assert code == 2 and "not a regular file" in err and err.count("\n") == 1, kind
            assert file_type(target) == before, f"the {kind} was replaced"
    finally:
        os.close(reader)


def test_export_writes_through_a_symbolic_link(capsys, plate_folder, db_path, tmp_path):
    run(capsys, "import", plate_folder, "--db", db_path)
    real = tmp_path / "labels-2026.csv"
    real.write_text("old")
    link = tmp_path / "labels.csv"
    link.symlink_to(real)
    code, out, _ = run(capsys, "export", "-o", link, "--db", db_path)
    assert code == 0 and link.is_symlink()
    assert real.read_text().startswith("plate,inspection,")


def counts(db):
    with Store(db) as s:
        return {t: s.query(f"SELECT COUNT(*) AS n FROM {t}")[0]["n"]
                for t in ("plate", "image", "annotation", "model", "prediction")}, s.active_model()


def one_line_error(err):
    return err.count("\n") == 1 and "Traceback" not in err


def test_writers_that_wait_past_the_busy_timeout_exit_2_with_one_line_and_change_nothing(
        capsys, plate_folder, db_path, tmp_path, monkeypatch):
    run(capsys, "import", plate_folder, "--db", db_path)
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt", load_scheme("xtal10"))
    with Store(db_path) as s:
        s.add_model(name="old", arch="resnet18", classes=s.scheme.keys, input_size=32, path=str(ckpt))
    labels = tmp_path / "labels.csv"
    labels.write_text(f"image_path,label\n{plate_folder / 'P7_01A_1.jpg'},needles\n")
    second = tmp_path / "Q8_2026-02-04_RI1000-0081-2drop"
    write_image(second / "Q8_01A_1.jpg")
    before = counts(db_path)
    monkeypatch.setenv("XTALVIEWER_BUSY_TIMEOUT", "0.3")
    with held_write_lock(db_path) as holder:
        for argv in (["import", second], ["import-labels", labels], ["models", "activate", "1"],
                     ["predict", "--model", tmp_path / "other.pt", "--device", "cpu"]):
            if argv[0] == "predict":
                tiny_checkpoint(tmp_path / "other.pt", load_scheme("xtal10"), seed=1)  # registered on first use
            code, _, err = run(capsys, *argv, "--db", db_path)
            assert code == 2 and one_line_error(err), (argv, err)
            assert "is busy" in err and "run this again" in err, err
            if sys.platform.startswith("linux"):
                assert f"pid {holder.pid}" in err
        code, out, _ = run(capsys, "stats", "--db", db_path)  # reading goes on meanwhile
        assert code == 0 and "P7" in out
    assert counts(db_path) == before


def test_predict_never_claims_predictions_its_writer_could_not_store(capsys, plate_folder, db_path, tmp_path,
                                                                    monkeypatch):
    run(capsys, "import", plate_folder, "--db", db_path)
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt", load_scheme("xtal10"))
    with Store(db_path) as s:
        s.add_model(name="tiny", arch="resnet18", classes=s.scheme.keys, input_size=32, path=str(ckpt),
                    activate=True)
    monkeypatch.setenv("XTALVIEWER_BUSY_TIMEOUT", "0.3")
    with held_write_lock(db_path):
        code, out, err = run(capsys, "predict", "--db", db_path, "--device", "cpu")
    assert code == 2 and "Scored" not in out and one_line_error(err)
    assert "could not be stored" in err and "is busy" in err and "0 of 8 were stored" in err
    assert counts(db_path)[0]["prediction"] == 0


def test_a_database_path_that_is_not_a_regular_file_exits_2_and_is_left_alone(capsys, plate_folder, tmp_path):
    targets = {**special_targets(tmp_path, ".db"), "/dev/null": Path("/dev/null")}
    existed = os.path.exists("/dev/null-journal")
    for kind, target in targets.items():
        if kind == "FIFO":
            continue  # see the subprocess test below: an old build would block on it
        before = file_type(target)
        for argv in (["stats"], ["import", plate_folder]):
            code, _, err = run(capsys, *argv, "--db", target)
            assert code == 2 and "not a regular file" in err and one_line_error(err), (kind, err)
        assert file_type(target) == before, kind
        assert not os.path.exists(f"{target}-journal") or (kind == "/dev/null" and existed)
    proc = subprocess.run([sys.executable, "-m", "xtalviewer", "import", plate_folder, "--db", targets["FIFO"]],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "is a FIFO (named pipe), not a regular file" in proc.stderr


def test_a_database_on_a_read_only_medium_still_answers_readers(capsys, plate_folder, tmp_path):
    medium = tmp_path / "medium"
    db = medium / "lab.db"
    run(capsys, "import", plate_folder, "--db", db)
    with Store(db) as s:
        s.add_annotation(1, "needles", "ann")
    assert not (medium / "lab.db-wal").exists()  # closed cleanly: nothing but the database on the medium
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for argv in (["stats"], ["export", "-o", out_dir / "x.csv"], ["report", "--plate", "P7", "-o", out_dir / "r.html"],
                 ["models"]):
        proc = run_on_read_only_medium(medium, [*argv, "--db", db])
        assert proc.returncode == 0, (argv, proc.stderr)
    assert "needles" in (out_dir / "x.csv").read_text()
    labels = out_dir / "labels.csv"
    labels.write_text(f"image_path,label\n{plate_folder / 'P7_01A_2.jpg'},clear\n")
    for argv in (["import", plate_folder], ["import-labels", labels], ["models", "activate", "1"]):
        proc = run_on_read_only_medium(medium, [*argv, "--db", db])
        assert proc.returncode == 2 and "read-only" in proc.stderr and one_line_error(proc.stderr), (argv, proc.stderr)


def test_a_database_on_a_network_share_is_refused_unless_allowed(capsys, plate_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("XTALVIEWER_ALLOW_NETWORK_DB", "")  # main() sets it; teardown takes it away again
    share = tmp_path / "share"
    share.mkdir()
    fake_network_mount(monkeypatch, tmp_path, share, "fuse.sshfs", "lab@nas:/srv/xtal")
    code, _, err = run(capsys, "import", plate_folder, "--db", share / "lab.db")
    assert code == 2 and "network file system, fuse.sshfs" in err and one_line_error(err)
    assert not (share / "lab.db").exists()
    code, _, _ = run(capsys, "import", plate_folder, "--db", share / "lab.db", "--allow-network-db")
    assert code == 0
    assert os.environ["XTALVIEWER_ALLOW_NETWORK_DB"] == "1"  # the flag sets it for child processes
    monkeypatch.setenv("XTALVIEWER_ALLOW_NETWORK_DB", "")
    assert run(capsys, "stats", "--db", share / "lab.db")[0] == 2
    assert run(capsys, "--allow-network-db", "stats", "--db", share / "lab.db")[0] == 0


def test_a_database_made_with_a_scheme_file_opens_without_it(capsys, plate_folder, tmp_path, monkeypatch):
    scheme = tmp_path / "schemes" / "mylab.json"
    scheme.parent.mkdir()
    scheme.write_text(json.dumps({"classes": [
        {"key": "nothing", "name": "Nothing", "hotkey": "n", "color": "#eeeeee", "crystal": False, "marco": "Clear"},
        {"key": "hit", "name": "Hit", "hotkey": "h", "color": "#cc0000", "crystal": True, "marco": "Crystals"},
    ]}))
    db = tmp_path / "lab.db"
    assert run(capsys, "import", plate_folder, "--scheme", scheme, "--db", db)[0] == 0
    code, out, err = run(capsys, "stats", "--db", db)
    assert code == 0 and "label scheme mylab" in out and "hit" in out, err
    scheme.unlink()
    monkeypatch.setenv("XTALVIEWER_HOME", str(tmp_path / "another-computer"))
    src = tmp_path / "l.csv"
    src.write_text(f"image_path,label\n{plate_folder / 'P7_01A_1.jpg'},Hit\n")
    assert run(capsys, "import-labels", src, "--db", db)[1].startswith("Stored 1 label")
    assert run(capsys, "stats", "--db", db)[0] == 0


def test_a_failed_import_leaves_no_new_database(capsys, plate_folder, tmp_path):
    for bad in (["--scheme", "nosuch"], ["--scheme", tmp_path / "broken.json"]):
        (tmp_path / "broken.json").write_text("{")
        db = tmp_path / "new.db"
        code, _, err = run(capsys, "import", plate_folder, "--db", db, *bad)
        assert code == 2 and one_line_error(err), err
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("new.db")) == []
    existing = tmp_path / "kept.db"
    Store(existing).close()
    assert run(capsys, "import", plate_folder, "--db", existing, "--scheme", "marco4")[0] == 2
    assert existing.exists()  # a database that was there before stays


def test_import_labels_refuses_devices_and_endless_lines(capsys, plate_folder, db_path, tmp_path):
    run(capsys, "import", plate_folder, "--db", db_path)
    proc = subprocess.run([sys.executable, "-m", "xtalviewer", "import-labels", "/dev/zero", "--db", str(db_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "is a character device, not a regular file" in proc.stderr
    endless = tmp_path / "binary.csv"
    endless.write_bytes(b"image_path,label\n" + b"x" * 3_000_000)
    started = time.perf_counter()
    code, _, err = run(capsys, "import-labels", endless, "--db", db_path)
    assert code == 2 and "line 2 is longer than 65536 characters" in err and one_line_error(err)
    assert time.perf_counter() - started < 5
    assert counts(db_path)[0]["annotation"] == 0


def test_reimporting_a_label_csv_adds_nothing_even_with_conflicting_rows(capsys, plate_folder, db_path, tmp_path):
    run(capsys, "import", plate_folder, "--db", db_path)
    a, b = plate_folder / "P7_01A_1.jpg", plate_folder / "P7_01A_2.jpg"
    src = tmp_path / "l.csv"
    src.write_text(f"image_path,label\n{a},clear\n{b},skin\n{a},needles\n")
    code, out, _ = run(capsys, "import-labels", src, "--db", db_path)
    assert code == 0 and out.startswith("Stored 2 labels; 0 unchanged") and "1 line superseded" in out
    assert "line 2: the same image again on line 4; the later line counts" in out
    for _ in range(2):
        code, out, _ = run(capsys, "import-labels", src, "--db", db_path)
        assert out.startswith("Stored 0 labels; 2 unchanged")
    with Store(db_path) as s:
        assert s.current_label(s.image_id_by_path(str(a))) == "needles"
        assert s.query("SELECT COUNT(*) AS n FROM annotation")[0]["n"] == 2


def test_two_concurrent_imports_of_one_csv_store_each_label_once(capsys, tmp_path, db_path):
    folder = tmp_path / "BIG1"
    write_image(folder / "A01.jpg")
    for r in "ABCDEFGH":
        for c in range(1, 13):
            if (r, c) != ("A", 1):
                shutil.copy(folder / "A01.jpg", folder / f"{r}{c:02d}.jpg")
    run(capsys, "import", folder, "--db", db_path)
    src = tmp_path / "l.csv"
    with Store(db_path) as s:
        paths = [r["path"] for r in s.query("SELECT path FROM image")]
    src.write_text("image_path,label\n" + "".join(f"{p},{'needles' if i % 2 else 'clear'}\n"
                                                   for i, p in enumerate(paths * 20)))
    argv = [sys.executable, "-m", "xtalviewer", "import-labels", str(src), "--db", str(db_path)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert counts(db_path)[0]["annotation"] == 96


def test_an_unclosed_quote_is_reported_by_line_and_stores_nothing(capsys, plate_folder, db_path, tmp_path):
    run(capsys, "import", plate_folder, "--db", db_path)
    src = tmp_path / "l.csv"
    src.write_text(f"image_path,label\n{plate_folder / 'P7_01A_1.jpg'},clear\n"
                   f"\"{plate_folder / 'P7_01A_2.jpg'},skin\n{plate_folder / 'P7_01B_1.jpg'},clear\n")
    code, _, err = run(capsys, "import-labels", src, "--db", db_path)
    assert code == 2 and one_line_error(err)
    assert "line 3: a quoted field that starts on this line is never closed" in err and "nothing was stored" in err
    assert counts(db_path)[0]["annotation"] == 0


def test_a_bad_label_names_only_a_few_classes(capsys, plate_folder, db_path, tmp_path):
    run(capsys, "import", plate_folder, "--db", db_path)
    src = tmp_path / "l.csv"
    src.write_text(f"image_path,label\n{plate_folder / 'P7_01A_1.jpg'},neddles\n")
    out = run(capsys, "import-labels", src, "--db", db_path)[1]
    line = next(l for l in out.splitlines() if "line 2" in l)
    assert "unknown label 'neddles' (did you mean 'needles'?" in line and "(10 classes)" in line
    assert "crystals_3d" not in line


def test_export_neutralises_formula_cells_and_import_labels_reads_them_back(capsys, tmp_path, db_path):
    folder = tmp_path / "=HYPERLINK(1)"
    write_image(folder / "A01.jpg")
    run(capsys, "import", folder, "--db", db_path)
    with Store(db_path) as s:
        s.add_annotation(1, "needles", "@evil")
    out = tmp_path / "x.csv"
    run(capsys, "export", "-o", out, "--db", db_path)
    with open(out, newline="") as fh:
        row = next(csv.DictReader(fh))
    assert row["plate"] == "'=HYPERLINK(1)" and row["annotator"] == "'@evil"
    assert all(not v.startswith(("=", "+", "-", "@")) for v in row.values())
    other = tmp_path / "other.db"
    run(capsys, "import", folder, "--db", other)
    assert run(capsys, "import-labels", out, "--db", other)[1].startswith("Stored 1 label")
    with Store(other) as s:
        assert s.query("SELECT annotator FROM annotation")[0]["annotator"] == "@evil"
