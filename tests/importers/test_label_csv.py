"""Label CSV import: checked whole before anything is written, then written in short transactions."""

import pytest
from imagefiles import write_image

from xtalviewer.importers import label_csv as exchange
from xtalviewer.importers.label_csv import LabelCsvError, import_labels
from xtalviewer.importers import import_paths
from xtalviewer.store.store import Store


@pytest.fixture
def plate(tmp_path, db_path):
    folder = tmp_path / "PL1"
    for r in "ABCDEFGH":
        for c in range(1, 13):
            write_image(folder / f"{r}{c:02d}.jpg", size=(16, 12))
    with Store(db_path) as s:
        import_paths(s, [folder])
        paths = [r["path"] for r in s.query("SELECT path FROM image ORDER BY id")]
    return db_path, paths


def test_labels_are_written_a_chunk_per_transaction(plate, tmp_path, monkeypatch):
    db, paths = plate
    src = tmp_path / "l.csv"
    src.write_text("image_path,label\n" + "".join(f"{p},needles\n" for p in paths))
    monkeypatch.setattr(exchange, "LABEL_CHUNK", 10)
    sizes = []
    with Store(db) as s:
        real = s.add_annotations

        def spy(items):
            assert s.conn.in_transaction  # decided and written inside one transaction
            sizes.append(len(items))
            return real(items)

        s.add_annotations = spy
        report = import_labels(s, src)
    assert report.stored == 96 and sum(sizes) == 96 and max(sizes) == 10


def test_a_csv_that_cannot_be_parsed_stores_nothing(plate, tmp_path):
    db, paths = plate
    src = tmp_path / "l.csv"
    src.write_text("image_path,label\n" + "".join(f"{p},clear\n" for p in paths[:50]) + f'"{paths[50]},clear\n')
    with Store(db) as s:
        with pytest.raises(LabelCsvError, match="line 52: a quoted field that starts on this line is never closed"):
            import_labels(s, src)
        assert s.query("SELECT COUNT(*) AS n FROM annotation")[0]["n"] == 0
