"""``WatchService`` on real folders and real files, written slowly as an imager (over a share) writes
them: an inspection is imported once, complete, and scored; a folder that goes away is retried and
followed again; a restart imports nothing twice and scores what was left unscored; a model that is
missing or cannot be loaded holds back the scores, never the imports."""

from __future__ import annotations

import os
import time

import pytest

from modelfiles import tiny_checkpoint
from watchfiles import (
    Recorder,
    config,
    jpeg_bytes,
    running,
    write_inspection,
    write_slowly,
    xchem_file,
    xchem_folder,
)
from xtalviewer.importers import import_paths
from xtalviewer.store.store import Store
from xtalviewer.watch import WatchService


def stored(db, paths):
    """(size, mtime, load error) the store recorded for each file, by its real path."""
    with Store(db, readonly=True) as store:
        known = store.known_files([os.path.realpath(p) for p in paths])
    return [known.get(os.path.realpath(p)) for p in paths]


def predictions(db) -> int:
    with Store(db, readonly=True) as store:
        return store.prediction_count()


@pytest.mark.parametrize("mode", ["events", "polling"])
def test_an_inspection_written_slowly_is_imported_once_complete_and_scored(tmp_path, watch_db, mode):
    root = tmp_path / "imager"
    root.mkdir()
    rec = Recorder()
    settings = dict(poll_s=0.2, events=False) if mode == "polling" else {}
    folder = xchem_folder(root)
    files = [xchem_file(folder, 1, "A", 1), xchem_file(folder, 1, "A", 2), xchem_file(folder, 2, "A", 1),
             xchem_file(folder, 2, "A", 2)]
    with running(WatchService(config(watch_db, [root], summary=tmp_path / "new.md", **settings), rec)):
        assert rec.wait_for(lambda r: any(line.startswith(f"Watching {root}:") for line in r.lines))
        # half of the first file stays there longer than the settle time: no end marker, so it waits
        write_slowly(files[0], jpeg_bytes(1), pause=1.6)
        assert not rec.imports, "a half-written file was imported"
        for n, path in enumerate(files[1:], start=2):
            write_slowly(path, jpeg_bytes(n), pause=0.3)
        last_written = time.monotonic()
        assert rec.wait_for(lambda r: r.scores, timeout=30), rec.lines
        time.sleep(1.5)  # a second import of the same files would come now
    mode_line = next(line for line in rec.lines if line.startswith(f"Watching {root}:"))
    assert ("polling every 0.2 s (--poll)" if mode == "polling" else "change events (inotify)") in mode_line
    assert len(rec.imports) == 1 and len(rec.scores) == 1
    imported = rec.imports[0]
    assert (imported.plate, imported.inspection) == ("WT01", folder.name)
    assert (imported.drops, imported.new_files, imported.unreadable, imported.truncated) == (4, 4, 0, ())
    assert imported.ready_at >= last_written  # not before the last file was whole
    assert [s[0] for s in stored(watch_db, files)] == [p.stat().st_size for p in files]  # whole files
    assert [s[2] for s in stored(watch_db, files)] == [None] * 4  # all readable
    assert predictions(watch_db) == 4
    scored = rec.scores[0]
    assert (scored.drops, scored.scored, scored.unreadable) == (4, 4, 0)
    lines = [line for line in rec.lines if line.startswith("Plate WT01")]
    assert len(lines) == 1 and "4 drops" in lines[0] and "new" in lines[0]  # ONE line per inspection
    summary = (tmp_path / "new.md").read_text(encoding="utf-8")
    assert summary.startswith("# New hits since") and "crystal probability" in summary


def test_polling_takes_the_later_files_of_an_arriving_inspection_without_waiting_for_its_round(tmp_path, watch_db):
    root = tmp_path / "share"
    folder = xchem_folder(root)
    files = [xchem_file(folder, 1, "A", 1), xchem_file(folder, 1, "A", 2), xchem_file(folder, 2, "A", 1),
             xchem_file(folder, 2, "A", 2)]
    folder.mkdir(parents=True)
    files[0].write_bytes(jpeg_bytes(1))  # found by the first scan; the next poll round is 30 s away
    rec = Recorder()
    with running(WatchService(config(watch_db, [root], poll_s=30.0, events=False), rec)):
        assert rec.wait_for(lambda r: any(line.startswith(f"Watching {root}:") for line in r.lines))
        for n, path in enumerate(files[1:], start=2):  # the imager is slower than the settle time overall
            time.sleep(0.6)
            path.write_bytes(jpeg_bytes(n))
        assert rec.wait_for(lambda r: r.scores, timeout=20), rec.lines
        time.sleep(1.5)
    assert [(e.drops, e.new_files) for e in rec.imports] == [(4, 4)]


def test_a_file_that_never_gets_its_end_marker_is_imported_after_the_give_up_time_and_marked(tmp_path, watch_db):
    root = tmp_path / "imager"
    folder = xchem_folder(root)
    folder.mkdir(parents=True)
    good = xchem_file(folder, 1, "A", 1)
    good.write_bytes(jpeg_bytes(1))
    cut = xchem_file(folder, 1, "A", 2)
    cut.write_bytes(jpeg_bytes(2)[:300])  # the imager died mid-file
    rec = Recorder()
    WatchService(config(watch_db, [root], give_up_s=2.0, events=False), rec).run_once(time_limit_s=10)
    assert len(rec.imports) == 1 and rec.imports[0].truncated == (str(cut),)
    assert any("never got an end marker" in line for line in rec.lines)
    assert stored(watch_db, [good])[0][2] is None and stored(watch_db, [cut])[0][2]  # marked, not a crash
    assert rec.scores[0].scored == 1 and rec.scores[0].unreadable == 1


def test_a_folder_that_goes_away_is_retried_and_followed_again_when_back(tmp_path, watch_db):
    root = tmp_path / "share"
    away = tmp_path / "share-elsewhere"
    write_inspection(xchem_folder(root, day="2026-03-01"), seed=1)
    rec = Recorder()
    with running(WatchService(config(watch_db, [root]), rec)):
        assert rec.wait_for(lambda r: len(r.scores) == 1, timeout=30), rec.lines
        os.rename(root, away)  # the share is unmounted (or the folder renamed)
        assert rec.wait_for(lambda r: any("is unavailable" in line for line in r.lines)), rec.lines
        assert rec.wait_for(lambda r: any("still unavailable" in line for line in r.lines)), rec.lines
        write_inspection(xchem_folder(away, day="2026-03-08"), seed=2)  # the imager wrote on meanwhile
        os.rename(away, root)
        assert rec.wait_for(lambda r: any("is back after" in line for line in r.lines)), rec.lines
        assert rec.wait_for(lambda r: len(r.scores) == 2, timeout=30), rec.lines
        write_inspection(xchem_folder(root, day="2026-03-15"), seed=3)  # and is followed again
        assert rec.wait_for(lambda r: len(r.scores) == 3, timeout=30), rec.lines
    assert [e.inspection.split("_")[1] for e in rec.scores] == ["2026-03-01", "2026-03-08", "2026-03-15"]
    assert len(rec.imports) == 3 and predictions(watch_db) == 12


def test_a_restart_imports_nothing_twice_and_scores_what_was_imported_but_not_scored(tmp_path, watch_db):
    root = tmp_path / "imager"
    first = write_inspection(xchem_folder(root, day="2026-03-01"), seed=1)
    rec = Recorder()
    assert WatchService(config(watch_db, [root]), rec).run_once() == 0
    assert len(rec.imports) == 1 and len(rec.scores) == 1
    # the next inspection was imported, then the watcher stopped before scoring it
    second_folder = xchem_folder(root, day="2026-03-08")
    second = write_inspection(second_folder, seed=2)
    with Store(watch_db) as store:
        import_paths(store, [second_folder])
    assert predictions(watch_db) == 4
    before = stored(watch_db, first + second)

    rec = Recorder()
    assert WatchService(config(watch_db, [root]), rec).run_once() == 0
    assert rec.imports == []  # every file was known: nothing imported again
    assert [(e.inspection, e.scored, e.ready_at) for e in rec.scores] == [(second_folder.name, 4, None)]
    assert any(line.startswith("Catching up: 4 unscored drops in 1 inspection") for line in rec.lines)
    assert stored(watch_db, first + second) == before and predictions(watch_db) == 8
    with Store(watch_db, readonly=True) as store:
        assert store.image_counts()[0] == 8  # no duplicates

    rec = Recorder()
    WatchService(config(watch_db, [root]), rec).run_once()
    assert rec.imports == [] and rec.scores == [] and predictions(watch_db) == 8


def test_without_a_model_inspections_are_imported_and_the_reason_is_said_once(tmp_path):
    db = tmp_path / "bare.db"
    with Store(db) as store:  # a store with a model that is not active and has scored nothing
        store.add_model(name="idle", arch="resnet18", classes=store.scheme.keys, input_size=32,
                        path=str(tmp_path / "missing.pt"))
    root = tmp_path / "imager"
    write_inspection(xchem_folder(root), seed=1)
    rec = Recorder()
    service = WatchService(config(db, [root]), rec)
    service.run_once()
    assert len(rec.imports) == 1 and rec.scores == []
    assert sum("Not scoring: no model" in line for line in rec.lines) == 1
    assert service.state().not_scoring == "no model to score with"  # what a status view shows
    assert [line for line in rec.lines if line.startswith("Plate WT01")] == [
        f"Plate WT01, inspection {xchem_folder(root).name}: 4 drops; imported, not scored (no model to score with)."]


def test_a_model_that_cannot_be_loaded_is_retried_and_the_waiting_inspections_scored_when_it_can(tmp_path):
    db = tmp_path / "late.db"
    checkpoint = tmp_path / "late.pt"
    with Store(db) as store:  # the active model's file is not there yet (a share with the models is down)
        store.add_model(name="late", arch="resnet18", classes=store.scheme.keys, input_size=32, path=str(checkpoint),
                        activate=True)
        scheme = store.scheme
    root = tmp_path / "imager"
    write_inspection(xchem_folder(root), seed=1)
    rec = Recorder()
    with running(WatchService(config(db, [root]), rec)):
        assert rec.wait_for(lambda r: any("imported, not scored (model late cannot be loaded)" in line
                                          for line in r.lines), timeout=20), rec.lines
        tiny_checkpoint(checkpoint, scheme, size=32)
        assert rec.wait_for(lambda r: r.scores, timeout=20), rec.lines
    assert sum(line.startswith("Not scoring: model late cannot be loaded") for line in rec.lines) == 1
    assert rec.scores[0].scored == 4 and predictions(db) == 4
