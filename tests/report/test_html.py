"""The HTML plate report: one self-contained file that shows labels, hits, reviewers and the model."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from imagefiles import write_image
from specialfiles import file_type, special_targets

from xtalviewer.cli import main
from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.importers import import_paths
from xtalviewer.plates import PlateType
from xtalviewer.report.html import ReportError, build_report, write_report
from xtalviewer.settings import Settings, save_settings
from xtalviewer.store.store import ImageRow, PredictionRow, Store
from xtalviewer.imaging.thumbnails import ThumbnailCache

FIRST = "P7_2026-02-03_RI1000-0081-2drop"
LATEST = "P7_2026-02-10_RI1000-0081-2drop"
METRICS = {"accuracy": 0.8143, "top3_accuracy": 0.962, "missed_crystal_rate_top1": 0.059,
           "missed_crystal_rate_top3": None}


class Elements(HTMLParser):
    """Every start tag with its attributes, and the visible text, for asserting on structure."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.text.append(data)

    def find(self, tag: str | None = None, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if (tag is None or t == tag)
                and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]


def probs(scheme, **share: float) -> list[float]:
    """A probability vector with the named shares; the rest spread evenly over the other classes."""
    rest = (1.0 - sum(share.values())) / (len(scheme.keys) - len(share))
    return [share.get(k, rest) for k in scheme.keys]


def make_folders(root: Path) -> None:
    for folder in (FIRST, LATEST):
        for row in "AB":
            for col in (1, 2):
                for drop in (1, 2):
                    write_image(root / folder / f"P7_{col:02d}{row}_{drop}.jpg", size=(48, 36))
    (root / LATEST / "P7_03A_1.jpg").write_bytes(b"\xff\xd8 not really a jpeg")


@pytest.fixture
def plate(tmp_path, db_path):
    """Plate P7, two inspections; the latest has labels by three people and a model's predictions.

    Hits of the latest inspection, by crystal probability: A01-1 (needles, .775), A03-1 (unreadable,
    crystal in top 3, .575), B02-1 (unlabelled, crystal in top 3, .375, file since deleted),
    A02-1 (labelled 3D crystals, no crystal in top 3, .013), B02-2 (microcrystals, not scored).
    """
    make_folders(tmp_path / "plates")
    with Store(db_path) as s:
        import_paths(s, [tmp_path / "plates"])
        sc = s.scheme
        pos = {f"{r['well']}-{r['drop_no']}": r["id"] for r in s.query(
            "SELECT i.id, i.well, i.drop_no FROM image i JOIN inspection n ON n.id = i.inspection_id WHERE n.key = ?",
            (LATEST,))}
        s.add_annotation(pos["A01-1"], "needles", "ann")
        s.add_annotation(pos["A01-2"], "clear", "ann")
        s.add_annotation(pos["A02-1"], "heavy_precipitate", "bob")
        s.add_annotation(pos["A02-1"], "crystals_3d", "carol")
        s.add_annotation(pos["B01-1"], "clear", "bob")
        s.add_annotation(pos["B02-2"], "microcrystals", "ann")
        model = s.add_model(name="resnet18-lab-2026", arch="resnet18", classes=sc.keys, input_size=224,
                            path=str(tmp_path / "m.pt"), metrics=METRICS, activate=True,
                            operating_point=OperatingPoint(threshold=0.3, target_recall=0.99))
        s.put_predictions(model, [
            PredictionRow(pos["A01-1"], probs(sc, needles=0.6, microcrystals=0.1)),
            PredictionRow(pos["A03-1"], probs(sc, plates=0.5, clear=0.3)),
            PredictionRow(pos["B02-1"], probs(sc, clear=0.5, plates=0.3)),
            PredictionRow(pos["A02-1"], probs(sc, clear=0.97)),
            PredictionRow(pos["B01-1"], probs(sc, clear=0.9, light_precipitate=0.05, heavy_precipitate=0.03)),
            PredictionRow(pos["A01-2"], probs(sc, clear=0.8, skin=0.1)),
        ])
    (tmp_path / "plates" / LATEST / "P7_02B_1.jpg").unlink()
    return db_path


def report(db_path: Path, tmp_path: Path, inspection: str | None = None, barcode: str = "P7") -> str:
    with Store(db_path) as s:
        return build_report(s, barcode, inspection, ThumbnailCache(tmp_path / "thumbs", size=64))


def test_the_report_is_one_file_with_inline_images_and_no_external_references(plate, tmp_path):
    text = report(plate, tmp_path)
    doc = Elements(text)
    images = doc.find("img")
    assert images and all(a["src"].startswith("data:image/jpeg;base64,") for a in images)
    assert not doc.find("script") and not doc.find("link") and not doc.find("iframe")
    assert not [a for _, a in doc.tags if "href" in a]
    no_data = re.sub(r"data:image/jpeg;base64,[A-Za-z0-9+/=]+", "", text)
    assert not re.search(r"https?:|//[a-z]|url\(|@import|file:", no_data, re.IGNORECASE)


def test_header_names_plate_inspection_imager_and_version(plate, tmp_path):
    from xtalviewer import __version__

    text = report(plate, tmp_path)
    assert "Plate P7" in text and "96-well, 2 drops" in text
    assert LATEST in text and "2026-02-10" in text and "RI1000-0081" in text
    assert f"xtalviewer {__version__}" in text and "Generated " in text


def test_another_inspection_can_be_chosen_by_key_or_date(plate, tmp_path):
    first = report(plate, tmp_path, FIRST)
    assert FIRST in first and "(1 of 2)" in first and "No hits" in first
    assert FIRST in report(plate, tmp_path, "2026-02-03")
    with Store(plate) as s, pytest.raises(ReportError, match="no inspection 'nope'.*" + FIRST):
        build_report(s, "P7", "nope")


def test_plate_map_colours_each_labelled_drop_with_its_class_colour(plate, tmp_path):
    doc = Elements(report(plate, tmp_path))
    with Store(plate) as s:
        labelled = s.query("SELECT i.well, i.drop_no, i.label FROM image i JOIN inspection n ON n.id = i.inspection_id "
                           "WHERE n.key = ? AND i.label IS NOT NULL", (LATEST,))
        scheme = s.scheme
    assert len(labelled) == 5
    for r in labelled:
        (cell,) = doc.find("rect", data_drop=f"{r['well']}-{r['drop_no']}")
        assert cell["data-label"] == r["label"] and cell["fill"] == scheme.get(r["label"]).color
    # the whole plate is drawn, wells without images included, with row letters and column numbers
    assert len(doc.find("svg")) == 1
    svg_text = "".join(doc.text)
    assert all(letter in svg_text for letter in "ABCDEFGH")
    unlabelled = doc.find("g", data_drop="B02-1")
    assert unlabelled and unlabelled[0]["data-label"] == ""


def test_hit_list_is_exactly_crystal_labels_and_model_hits_by_probability(plate, tmp_path):
    doc = Elements(report(plate, tmp_path))
    order = [a["data-drop"] for a in doc.find("tr", **{"class": "hitrow"})]
    assert order == ["A01-1", "A03-1", "B02-1", "A02-1", "B02-2"]  # B02-1 (.375) reaches the 30% threshold


def test_hit_list_follows_the_models_threshold_not_the_top3_flag(plate, tmp_path):
    with Store(plate) as s:
        model = s.active_model()
        strict = s.add_model(name="strict", arch="resnet18", classes=s.scheme.keys, input_size=224,
                             path=model.path, operating_point=OperatingPoint(threshold=0.6, target_recall=0.99))
        for r in s.query("SELECT image_id, probs FROM prediction WHERE model_id = ?", (model.id,)):
            s.put_predictions(strict, [PredictionRow(r["image_id"], np.frombuffer(r["probs"], dtype="<f4"))])
        s.activate_model(strict)
    text = report(plate, tmp_path)
    order = [a["data-drop"] for a in Elements(text).find("tr", **{"class": "hitrow"})]
    # A03-1 (.575) and B02-1 (.375) have a crystal class in the top 3 but are below 60%: not hits
    assert order == ["A01-1", "A02-1", "B02-2"]
    assert "hit at crystal probability &gt;= 60.0%" in text


def test_hit_rows_show_label_who_and_top3_with_percentages(plate, tmp_path):
    text = report(plate, tmp_path)
    row = text[text.index('data-drop="A01-1"><td'):]
    row = row[: row.index("</tr>")]
    assert "Needles" in row and "ann" in row and "78%" in row
    assert re.search(r"Needles <span class=\"p\">60%</span>.*Microcrystals <span class=\"p\">10%</span>", row)
    row = text[text.index('data-drop="B02-2"><td'):]
    assert "not scored" in row[: row.index("</tr>")]


def test_unreadable_and_missing_images_get_placeholders_with_the_reason(plate, tmp_path):
    text = report(plate, tmp_path)
    with Store(plate) as s:
        (stored,) = s.query("SELECT load_error FROM image WHERE load_error IS NOT NULL")
    for drop, reason in (("A03-1", stored["load_error"]), ("B02-1", "file not found")):
        row = text[text.index(f'data-drop="{drop}"><td'):]
        row = row[: row.index("</tr>")]
        assert 'class="thumb placeholder"' in row and Elements(row).text.count(reason) == 1
        assert "<img" not in row
    assert text.count("<img") == 3


def test_label_counts_cover_the_inspection(plate, tmp_path):
    text = report(plate, tmp_path)
    counts = dict(re.findall(r'<tr data-label="([a-z_0-9]*)"><td>.*?</td><td class="n">(\d+)</td>', text))
    assert counts["clear"] == "2" and counts["needles"] == "1" and counts["crystals_3d"] == "1"
    assert counts["microcrystals"] == "1" and counts["heavy_precipitate"] == "0"
    assert counts[""] == "4"  # unlabelled: A02-2, A03-1, B01-2, B02-1


def test_annotators_are_listed_with_current_and_given_labels(plate, tmp_path):
    text = report(plate, tmp_path)
    table = text[text.index('<table class="people">'):]
    rows = re.findall(r"<tr><td>([^<]+)</td><td class=\"n\">(\d+)</td><td class=\"n\">(\d+)</td>",
                      table[: table.index("</table>")])
    assert rows == [("ann", "3", "3"), ("bob", "1", "2"), ("carol", "1", "1")]


def test_model_name_and_existing_metrics_are_shown(plate, tmp_path):
    text = report(plate, tmp_path)
    assert "resnet18-lab-2026" in text and "224 px" in text
    assert "81.4%" in text and "96.2%" in text and "5.9%" in text
    assert "Missed crystals (top-3)" not in text  # None in the registry: left out, not shown as 0


def test_without_a_model_the_report_says_so(tmp_path, db_path, monkeypatch):
    from xtalviewer.model import registry

    monkeypatch.setattr(registry, "shipped_base_model", lambda arch="resnet18": None)  # an install without one
    make_folders(tmp_path / "plates")
    with Store(db_path) as s:
        import_paths(s, [tmp_path / "plates"])
        (image_id,) = [r["id"] for r in s.query("SELECT id FROM image WHERE well = 'A01' AND drop_no = 1 "
                                                 "AND path LIKE ?", (f"%{LATEST}%",))]
        s.add_annotation(image_id, "plates", "ann")
    text = report(db_path, tmp_path)
    assert "No model is active" in text and "Model top 3" not in text and "in plate order" in text
    assert [a["data-drop"] for a in Elements(text).find("tr", **{"class": "hitrow"})] == ["A01-1"]


def test_text_from_the_database_is_escaped(tmp_path, db_path):
    path = write_image(tmp_path / "x.jpg")
    with Store(db_path) as s:
        plate_id = s.upsert_plate("<b>&x", PlateType(8, 12, 1))
        insp, _ = s.upsert_inspection(plate_id, "<i>k", imaged_at="2026-01-01", imager="<script>alert(1)</script>",
                                      profile=None, layout="generic", folder=None)
        s.upsert_images([ImageRow(insp, plate_id, "A01", 1, 1, 1, str(path), None, None, 64, 48)])
        s.add_annotation(s.query("SELECT id FROM image")[0]["id"], "needles", '"eve" <e@x>')
        text = build_report(s, "<b>&x", thumb_cache=ThumbnailCache(tmp_path / "thumbs"))
    assert "&lt;b&gt;&amp;x" in text and "<b>&x" not in text
    assert "<script" not in text and "&lt;script&gt;" in text and "<i>k" not in text
    assert "&quot;eve&quot; &lt;e@x&gt;" in text


def test_unknown_plate_is_a_report_error(plate):
    with Store(plate) as s, pytest.raises(ReportError, match="no plate 'NOPE'"):
        build_report(s, "NOPE")


def test_write_report_writes_the_file_and_refuses_a_missing_folder(plate, tmp_path):
    target = tmp_path / "out" / "r.html"
    with Store(plate) as s:
        with pytest.raises(ReportError, match="does not exist"):
            write_report(s, "P7", target)
        target.parent.mkdir()
        assert write_report(s, "P7", target, thumb_cache=ThumbnailCache(tmp_path / "t")) == target
        with pytest.raises(ReportError, match="is a folder"):
            write_report(s, "P7", tmp_path)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in target.parent.iterdir()] == ["r.html"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_report_exit_codes(plate, tmp_path, capsys, isolated_home):
    out = tmp_path / "report.html"
    code, stdout, _ = run(capsys, "report", "--db", plate, "--plate", "P7", "-o", out)
    assert code == 0 and out.exists() and str(out) in stdout
    assert any((isolated_home / "cache" / "thumbnails").rglob("*.jpg"))  # the app's cache, reused
    code, _, err = run(capsys, "report", "--db", plate, "--plate", "NOPE", "-o", tmp_path / "n.html")
    assert code == 2 and "no plate 'NOPE'" in err and not (tmp_path / "n.html").exists()
    code, _, err = run(capsys, "report", "--db", plate, "--plate", "P7", "--inspection", "x", "-o", out)
    assert code == 2 and "no inspection 'x'" in err
    code, _, err = run(capsys, "report", "--db", plate, "--plate", "P7", "-o", tmp_path / "missing" / "r.html")
    assert code == 2 and "cannot be written" in err
    code, _, err = run(capsys, "report", "--db", tmp_path / "none.db", "--plate", "P7", "-o", out)
    assert code == 2 and "does not exist" in err and not (tmp_path / "none.db").exists()


def test_cli_report_refuses_a_non_regular_target_and_leaves_it(plate, tmp_path, capsys):
    for kind, target in special_targets(tmp_path).items():
        before = file_type(target)
        code, _, err = run(capsys, "report", "--db", plate, "--plate", "P7", "-o", target)
        assert code == 2 and "not a regular file" in err and err.count("\n") == 1, kind
        assert file_type(target) == before, f"the {kind} was replaced"


def test_cli_report_writes_through_a_symbolic_link(plate, tmp_path, capsys):
    real = tmp_path / "shared" / "report.html"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "latest.html"
    link.symlink_to(real)
    code, _, _ = run(capsys, "report", "--db", plate, "--plate", "P7", "-o", link)
    assert code == 0 and link.is_symlink()
    assert real.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_cli_report_keeps_the_thumbnail_cache_within_the_preferences_limit(plate, tmp_path, capsys, isolated_home):
    save_settings(Settings(thumbnail_limit_mb=1))
    folder = isolated_home / "cache" / "thumbnails" / "00"
    folder.mkdir(parents=True)
    for i in range(30):  # 3 MB of entries written by earlier sessions
        old = folder / f"{i:040d}.jpg"
        old.write_bytes(b"\xff" * 100_000)
        os.utime(old, (1_600_000_000 + i, 1_600_000_000 + i))
    code, _, _ = run(capsys, "report", "--db", plate, "--plate", "P7", "-o", tmp_path / "r.html")
    assert code == 0
    used = sum(p.stat().st_size for p in (isolated_home / "cache" / "thumbnails").rglob("*.jpg"))
    assert used <= 1024 * 1024
