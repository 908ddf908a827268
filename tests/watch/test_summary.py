"""The morning summary: ``hits --format md|html|csv`` with one line per plate, and the file
``watch --summary`` rewrites; the ``watch`` command itself: one pass, and a clean end on SIGTERM
and Ctrl+C."""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import sys

import numpy as np
import pytest

from watchfiles import write_inspection, xchem_folder
from xtalviewer.cli import main
from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.plates import PlateType, well_name
from xtalviewer.report.hits import HIT_COLUMNS, plate_lines, render_hits, summary_format, write_hits_csv
from xtalviewer.settings import Settings, save_settings
from xtalviewer.store.store import ImageRow, PredictionRow, Store

# crystal probability of drops A01..A04 of plate SP1 at two inspections, and of SP2 at one
COURSE = {("SP1", 0): (0.10, 0.80, 0.05, 0.0), ("SP1", 1): (0.90, 0.70, 0.40, 0.0), ("SP2", 0): (0.60, 0.0, 0.0, 0.0)}
DAYS = {("SP1", 0): "2026-03-01", ("SP1", 1): "2026-03-08", ("SP2", 0): "2026-03-08"}


def with_crystal(p: float, keys: list[str]) -> np.ndarray:
    v = np.zeros(len(keys))
    v[keys.index("needles")], v[keys.index("clear")] = p, 1 - p
    return v


@pytest.fixture
def summary_db(db_path):
    """SP1: A01 first a hit at the second inspection, A02 a hit at both, A03 a new hit; SP2: A01 new."""
    with Store(db_path) as s:
        keys = s.scheme.keys
        model = s.add_model(name="calibrated", arch="resnet18", classes=keys, input_size=32, path="/m.pt",
                            activate=True, operating_point=OperatingPoint(threshold=0.3, target_recall=0.99))
        preds = []
        for (barcode, n), probs in COURSE.items():
            with s.transaction():
                pid = s.upsert_plate(barcode, PlateType(8, 12, 1))
                iid, _ = s.upsert_inspection(pid, f"{barcode}-{n + 1}", imaged_at=f"{DAYS[barcode, n]}T09:00:00",
                                             imager="RI", profile=None, layout="t", folder=None)
            paths = [f"/{barcode}/{n}/{c}.jpg" for c in range(1, 5)]
            s.upsert_images([ImageRow(iid, pid, well_name(1, c), 1, c, 1, paths[c - 1], 1, 1.0, 8, 8)
                             for c in range(1, 5)])
            preds += [PredictionRow(s.image_id_by_path(p), with_crystal(prob, keys)) for p, prob in zip(paths, probs)]
        s.put_predictions(model, preds)
    return db_path


def hits(db, **kw):
    with Store(db, readonly=True) as store:
        model = store.active_model()
        return store.hit_list(model["id"] if isinstance(model, dict) else model.id, **kw)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_one_line_per_plate_counts_new_hits_and_inspections(summary_db):
    assert plate_lines(hits(summary_db, new_only=True), new_only=True) == [
        "Plate SP1: 2 new hits in 1 inspection", "Plate SP2: 1 new hit in 1 inspection"]
    assert plate_lines(hits(summary_db), new_only=False) == [
        "Plate SP1: 3 hits (2 new) in 1 inspection", "Plate SP2: 1 hit (1 new) in 1 inspection"]
    assert plate_lines([], new_only=True) == []


def test_markdown_html_and_csv_documents(summary_db, tmp_path):
    rows = hits(summary_db, new_only=True)
    md = render_hits(rows, "md", rule="Model m: hit at 30%.", title="New hits since 2026-03-08", new_only=True)
    lines = md.splitlines()
    assert lines[:5] == ["# New hits since 2026-03-08", "", "Model m: hit at 30%.", "",
                         "- Plate SP1: 2 new hits in 1 inspection"]
    table = [line for line in lines if line.startswith("| SP")]
    assert len(table) == 3 and table[0].startswith("| SP1 | SP1-2 | 2026-03-08 09:00 | A01 | 1 | 90.0%")
    html = render_hits(rows, "html", rule="a <b> rule", title="New & old", new_only=True)
    assert html.startswith("<!DOCTYPE html>") and "<li>Plate SP2: 1 new hit in 1 inspection</li>" in html
    assert "a &lt;b&gt; rule" in html and "<title>New &amp; old</title>" in html and html.count("<tr>") == 4
    text = render_hits(rows, "csv", rule="", title="", new_only=True)
    write_hits_csv(tmp_path / "same.csv", rows)
    assert text == (tmp_path / "same.csv").read_bytes().decode("utf-8")  # the CSV contract, unchanged
    assert next(csv.reader(io.StringIO(text))) == list(HIT_COLUMNS)
    empty = render_hits([], "md", rule="r", title="t", new_only=True)
    assert "- No drops." in empty and "|" not in empty
    with pytest.raises(ValueError):
        render_hits(rows, "pdf", rule="", title="", new_only=True)
    assert [summary_format(n) for n in ("a.md", "a.HTML", "a.csv", "a.txt")] == ["md", "html", "csv", "md"]


def test_hits_format_prints_the_document_alone_for_a_mail(capsys, summary_db, tmp_path):
    code, out, _ = run(capsys, "hits", "--db", summary_db, "--new", "--since", "2026-03-08", "--format", "md")
    assert code == 0 and out.startswith("# New hits since 2026-03-08\n")
    assert "- Plate SP1: 2 new hits in 1 inspection" in out and "- Plate SP2: 1 new hit in 1 inspection" in out
    code, out, _ = run(capsys, "hits", "--db", summary_db, "--new", "--format", "csv")
    assert code == 0 and out.splitlines()[0] == ",".join(HIT_COLUMNS) and len(out.splitlines()) == 4
    code, out, _ = run(capsys, "hits", "--db", summary_db, "-o", tmp_path / "morning.html")
    assert code == 0 and (tmp_path / "morning.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    code, out, _ = run(capsys, "hits", "--db", summary_db, "--new")
    assert "Plate SP1: 2 new hits in 1 inspection" in out  # the terminal table ends with the plate lines


def test_watch_once_logs_one_line_per_inspection_and_writes_the_summary(capsys, watch_db, tmp_path):
    root = tmp_path / "imager"
    write_inspection(xchem_folder(root, day="2026-03-01"), seed=1)
    write_inspection(xchem_folder(root, barcode="WT02", day="2026-03-01"), seed=2)
    code, out, err = run(capsys, "watch", root, "--db", watch_db, "--once", "--settle", "0.5",
                         "--summary", tmp_path / "overnight.html")
    assert code == 0, err
    plate_lines_logged = [line for line in out.splitlines() if " Plate WT0" in line]
    assert len(plate_lines_logged) == 2 and all("4 drops" in line for line in plate_lines_logged)
    assert out.splitlines()[0][:4].isdigit()  # every line starts with the time (a log without journald)
    assert "Stopped: 2 inspections imported, 2 scored." in out
    assert (tmp_path / "overnight.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    code, out, err = run(capsys, "watch", "--db", watch_db, "--once")
    assert code == 2 and "no folders to watch" in err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_command_ends_cleanly_on_sigterm_and_ctrl_c(watch_db, tmp_path, signum):
    root = tmp_path / "imager"
    write_inspection(xchem_folder(root), seed=1)
    proc = subprocess.Popen([sys.executable, "-m", "xtalviewer", "watch", str(root), "--db", str(watch_db),
                             "--settle", "0.3"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in proc.stdout:  # until the inspection is scored: the watcher is in its loop
            lines.append(line)
            if " Plate WT01" in line:
                break
        proc.send_signal(signum)
        rest, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    lines += rest.splitlines()
    assert proc.returncode == 0, lines
    assert any(f"Stopping ({signal.Signals(signum).name})" in line for line in lines)
    assert "Stopped: 1 inspection imported, 1 scored." in lines[-1]


def test_watch_takes_its_folders_and_summary_from_the_preferences(capsys, watch_db, tmp_path):
    root = tmp_path / "imager"
    write_inspection(xchem_folder(root), seed=1)
    save_settings(Settings(watch_folders=[str(root)], watch_summary=str(tmp_path / "new.csv")))
    code, out, err = run(capsys, "watch", "--db", watch_db, "--once", "--settle", "0.3")
    assert code == 0, err
    assert f"Watching {root}: one pass." in out and "Stopped: 1 inspection imported, 1 scored." in out
    assert (tmp_path / "new.csv").read_text(encoding="utf-8").startswith("plate,inspection,")
