"""``xtalviewer db copy``: a demo-sized store SQLite -> PostgreSQL -> SQLite arrives whole (the same
rows and checksums in every table), a non-empty target is refused, and a refused copy leaves no
new file behind."""

from __future__ import annotations

import numpy as np
import pytest

from xtalviewer.cli import main
from xtalviewer.plates import PlateType, well_name
from xtalviewer.store.copy import TABLES, copy_store, table_checksum
from xtalviewer.store.inputs import AnnotationRow, ComponentRow, ConditionRow, ScreenInput
from xtalviewer.store.store import ImageRow, PredictionRow, Store, StoreError


def demo_sized(location: str) -> None:
    """As ``xtalviewer demo`` leaves a store (4 plates of 96 wells imaged 3 times, 60% labelled),
    plus what a lab adds: a model's predictions, undone labels, second looks, a screen."""
    rng = np.random.default_rng(7)
    with Store(location) as s:
        keys = s.scheme.keys
        model = s.add_model(name="r18", arch="resnet18", classes=keys, input_size=128, path="/m.pt", activate=True,
                            metrics={"accuracy": 0.8125})
        for plate in range(4):
            with s.transaction():
                pid = s.upsert_plate(f"XV10{plate:02d}", PlateType(8, 12, 1))
                inspections = [s.upsert_inspection(pid, f"i{n}", imaged_at=f"2026-0{plate + 1}-0{n + 1}T09:00:00",
                                                   imager="RI1000", profile=None, layout="xchem", folder="/demo",
                                                   meta={"n": n})[0] for n in range(3)]
            rows = [ImageRow(iid, pid, well_name(r, c), r, c, 1, f"/demo/{plate}/{iid}/{r}_{c}.jpg", 1000 + r, 1.5e9 + c,
                             1224, 1024, None if (r, c) != (8, 12) else "truncated JPEG")
                    for iid in inspections for r in range(1, 9) for c in range(1, 13)]
            s.upsert_images(rows)
            ids = [s.image_id_by_path(r.path) for r in rows]
            s.put_predictions(model, [PredictionRow(i, rng.dirichlet(np.ones(len(keys))), 1000, 1.5e9) for i in ids])
            labelled = [i for i in ids if rng.random() < 0.6]
            s.add_annotations([AnnotationRow(i, keys[int(rng.integers(len(keys)))], "ann", "import") for i in labelled])
        first = s.add_annotation(1, "needles", "bob", shown=[["needles", 0.61]], lead_ms=900)
        s.add_annotation(1, "clear", "bob", reverts=first)
        s.add_flags([2, 3], True, "bob", note="edge of the drop?")
        screen = s.add_screen(ScreenInput("Demo grid", 8, 12, tuple(
            ConditionRow(n + 1, n // 12 + 1, n % 12 + 1, f"0.1 M HEPES pH 7.{n % 10}", f"G{n + 1}", 7.0 + n / 100,
                         (ComponentRow("HEPES", 0.1, "M", 7.0 + n / 100), ComponentRow("PEG 3350", 20.0 + n % 5, "%w/v")))
            for n in range(96))))
        s.add_screen_rule("prefix", "XV", screen)


def checksums(location: str) -> dict[str, tuple[int, str]]:
    with Store(location, readonly=True) as s:
        return {table: table_checksum(s, table, key) for table, key in TABLES}


def test_a_demo_sized_store_goes_to_postgresql_and_back_identical(tmp_path, pg_url, capsys):
    first, back = tmp_path / "lab.db", tmp_path / "back.db"
    demo_sized(str(first))
    assert main(["db", "copy", str(first), pg_url]) == 0
    out = capsys.readouterr().out
    assert "every table's rows and checksum match" in out and "DIFFERS" not in out
    assert main(["db", "copy", pg_url, str(back)]) == 0
    assert "every table's rows and checksum match" in capsys.readouterr().out
    before, after = checksums(str(first)), checksums(str(back))
    assert before == after
    assert before["image"][0] == 4 * 3 * 96 and before["prediction"][0] == 4 * 3 * 96
    assert before["annotation"][0] > 600 and before["flag"][0] == 2 and before["condition_component"][0] == 192
    with Store(pg_url) as s:  # the server's copy is a working store: its queue, its hits, new ids after the old
        assert [r.id for r in s.review_queue(1, "crystal", limit=5)] == \
            [r.id for r in Store(str(first), readonly=True).review_queue(1, "crystal", limit=5)]
        assert s.add_annotation(5, "skin", "carol") > before["annotation"][0]


def test_a_store_that_holds_data_is_never_overwritten(tmp_path, pg_url, capsys):
    source = tmp_path / "lab.db"
    with Store(source) as s:
        s.upsert_plate("P1", PlateType(8, 12, 1))
    with Store(pg_url) as s:
        s.upsert_plate("THEIRS", PlateType(8, 12, 1))
    assert main(["db", "copy", str(source), pg_url]) == 2
    err = capsys.readouterr().err
    assert "is not empty (it holds plate)" in err and "never overwrites" in err and err.count("\n") == 1
    with Store(pg_url) as s:
        assert s.barcodes() == ["THEIRS"]


def test_a_refused_copy_leaves_no_new_file(tmp_path, pg_url, pg_cluster, capsys):
    Store(pg_url).close()
    pg_cluster.sql("CREATE TABLE customers (id integer)", pg_url.rsplit("/", 1)[1])
    target = tmp_path / "new.db"
    assert main(["db", "copy", pg_url, str(target)]) == 2
    assert "tables this copy does not know (customers)" in capsys.readouterr().err
    assert not target.exists()


def test_the_copy_knows_every_table_of_the_store(store_location):
    """A migration that adds a table must add it to store.copy.TABLES, or db copy would leave it behind."""
    with Store(store_location) as s:
        found = {t for t in s.table_names() if not t.startswith("sqlite_")} - {"xtalviewer_schema"}
    assert found == {t for t, _ in TABLES}


def test_copying_needs_the_same_columns_on_both_sides(tmp_path, pg_url):
    with Store(tmp_path / "a.db") as source, Store(pg_url) as target:
        with target.transaction():
            target.execute("ALTER TABLE plate ADD COLUMN extra TEXT")
        with pytest.raises(StoreError, match="table plate has other columns"):
            copy_store(source, target)
