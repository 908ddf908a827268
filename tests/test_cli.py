import csv
import os

import pytest
from imagefiles import write_image
from specialfiles import file_type, special_targets

from xtalviewer.cli import main
from xtalviewer.core.exchange import EXPORT_COLUMNS
from xtalviewer.core.store import PredictionRow, Store


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


def test_import_prints_counts_and_unreadable_files(capsys, plate_folder, db_path):
    code, out, _ = run(capsys, "import", plate_folder, "--db", db_path)
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


def test_export_has_exactly_the_contract_columns(capsys, plate_folder, db_path, tmp_path):
    run(capsys, "import", plate_folder, "--db", db_path)
    with Store(db_path) as s:
        ids = [r["id"] for r in s.query("SELECT id FROM image ORDER BY id")]
        s.add_annotation(ids[0], "needles", "ann")
        m = s.add_model(name="resnet18-demo", arch="resnet18", classes=s.scheme.keys, input_size=128,
                        path="/m.pt", activate=True)
        p = [0.02] * 10
        p[7], p[0] = 0.6, 0.24
        s.put_predictions(m, [PredictionRow(ids[0], p)])
    out_csv = tmp_path / "out.csv"
    code, out, _ = run(capsys, "export", "-o", out_csv, "--db", db_path)
    assert code == 0 and "Wrote 9 rows" in out
    with open(out_csv, newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert tuple(reader.fieldnames) == EXPORT_COLUMNS
    assert ",".join(EXPORT_COLUMNS) == ("plate,inspection,imaged_at,well,drop,image_path,label,annotator,labelled_at,"
                                        "model,pred1,p1,pred2,p2,pred3,p3")
    first = rows[0]
    assert (first["plate"], first["well"], first["drop"], first["label"], first["annotator"]) == ("P7", "A01", "1", "needles", "ann")
    assert first["imaged_at"] == "2026-02-03"
    assert (first["model"], first["pred1"], first["p1"], first["pred2"]) == ("resnet18-demo", "needles", "0.6000", "clear")
    assert rows[1]["label"] == "" and rows[1]["pred1"] == "" and rows[1]["model"] == ""


def test_export_of_one_plate_and_of_an_unknown_plate(capsys, plate_folder, db_path, tmp_path):
    run(capsys, "import", plate_folder, "--db", db_path)
    assert run(capsys, "export", "-o", tmp_path / "a.csv", "--plate", "P7", "--db", db_path)[0] == 0
    code, _, err = run(capsys, "export", "-o", tmp_path / "b.csv", "--plate", "NOPE", "--db", db_path)
    assert code == 2 and "no plate 'NOPE'" in err


def test_export_then_import_labels_round_trips(capsys, plate_folder, db_path, tmp_path):
    run(capsys, "import", plate_folder, "--db", db_path)
    with Store(db_path) as s:
        ids = [r["id"] for r in s.query("SELECT id FROM image ORDER BY id")]
        s.add_annotation(ids[0], "skin", "ann")
        s.add_annotation(ids[3], "crystals_3d", "bob")
    exported = tmp_path / "labels.csv"
    run(capsys, "export", "-o", exported, "--db", db_path)

    other = tmp_path / "other.db"
    run(capsys, "import", plate_folder, "--db", other)
    code, out, _ = run(capsys, "import-labels", exported, "--db", other)
    assert code == 0 and "Stored 2 labels" in out
    with Store(other) as s:
        got = {r["path"]: (r["label"]) for r in s.query("SELECT path, label FROM image WHERE label IS NOT NULL")}
        hist = s.query("SELECT annotator, source FROM annotation ORDER BY id")
    with Store(db_path) as s:
        want = {r["path"]: r["label"] for r in s.query("SELECT path, label FROM image WHERE label IS NOT NULL")}
    assert got == want
    assert hist == [{"annotator": "ann", "source": "import"}, {"annotator": "bob", "source": "import"}]
    code, out, _ = run(capsys, "import-labels", exported, "--db", other)  # again: nothing changes
    assert "Stored 0 labels; 2 unchanged" in out


def test_import_labels_accepts_plain_and_marco_csv_and_reports_bad_lines(capsys, plate_folder, db_path, tmp_path):
    run(capsys, "import", plate_folder, "--db", db_path)
    a = plate_folder / "P7_01A_1.jpg"
    b = plate_folder / "P7_01A_2.jpg"
    src = tmp_path / "plain.csv"
    src.write_text(f"image_path,label\n{a},Crystals\n{b},clear\n{plate_folder / 'zzz.jpg'},clear\n{a},banana\n")
    code, out, _ = run(capsys, "import-labels", src, "--db", db_path, "--annotator", "carol")
    assert code == 0
    assert "Stored 2 labels" in out
    assert "Mapped 1 label: Crystals -> crystals_3d" in out
    assert "line 4: no such image in the database" in out
    assert "line 5: unknown label 'banana'" in out
    with Store(db_path) as s:
        assert s.current_label(s.image_id_by_path(str(a))) == "crystals_3d"
        assert {r["annotator"] for r in s.query("SELECT annotator FROM annotation")} == {"carol"}


def test_import_labels_with_wrong_columns_changes_nothing(capsys, plate_folder, db_path, tmp_path):
    run(capsys, "import", plate_folder, "--db", db_path)
    src = tmp_path / "wrong.csv"
    src.write_text("file,class\nx.jpg,clear\n")
    code, _, err = run(capsys, "import-labels", src, "--db", db_path)
    assert code == 2 and "needs the columns image_path,label" in err and "found: file,class" in err
    with Store(db_path) as s:
        assert s.query("SELECT COUNT(*) AS n FROM annotation")[0]["n"] == 0


def test_stats_counts_per_plate_and_label(capsys, plate_folder, db_path):
    run(capsys, "import", plate_folder, "--db", db_path)
    with Store(db_path) as s:
        s.add_annotation(1, "needles", "ann")
    code, out, _ = run(capsys, "stats", "--db", db_path)
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
