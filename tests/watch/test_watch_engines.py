"""The watcher on either engine (an SQLite file, a lab's PostgreSQL server): an inspection written
slowly is imported once and scored, and a restart imports and scores nothing again."""

from __future__ import annotations

import pytest

from modelfiles import tiny_checkpoint
from watchfiles import Recorder, config, jpeg_bytes, running, write_slowly, xchem_file, xchem_folder
from xtalviewer.model.registry import register_checkpoint
from xtalviewer.store.location import location_of
from xtalviewer.store.store import Store
from xtalviewer.watch import WatchService


@pytest.fixture
def watch_store(store_location, tmp_path):
    with Store(store_location) as store:
        register_checkpoint(store, tiny_checkpoint(tmp_path / "tiny.pt", store.scheme, size=32), name="tiny",
                            activate=True)
    return location_of(store_location)


def test_a_slowly_written_inspection_is_imported_once_and_scored_and_a_restart_adds_nothing(tmp_path, watch_store):
    root = tmp_path / "imager"
    root.mkdir()
    rec = Recorder()
    folder = xchem_folder(root)
    files = [xchem_file(folder, c, "A", d) for c in (1, 2) for d in (1, 2)]
    with running(WatchService(config(watch_store, [root], poll_s=0.2, events=False), rec)):
        assert rec.wait_for(lambda r: any(line.startswith(f"Watching {root}:") for line in r.lines))
        for n, path in enumerate(files):
            write_slowly(path, jpeg_bytes(n), pause=0.2)
        assert rec.wait_for(lambda r: r.scores, timeout=30), rec.lines
    assert len(rec.imports) == 1 and rec.imports[0].drops == 4
    assert (rec.scores[0].drops, rec.scores[0].scored) == (4, 4)
    with Store(watch_store, readonly=True) as store:
        assert store.image_counts()[0] == 4 and store.prediction_count() == 4
    again = Recorder()
    assert WatchService(config(watch_store, [root]), again).run_once() == 0
    assert again.imports == [] and again.scores == []
    with Store(watch_store, readonly=True) as store:
        assert store.image_counts()[0] == 4 and store.prediction_count() == 4
