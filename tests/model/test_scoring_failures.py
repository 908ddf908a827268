"""A failure in any stage of scoring stops the whole run with one line, never a silent hang.

Each ``predict`` runs in a subprocess with a time limit: before the fix the writer stopped on its
error, the decoders could no longer send their end markers and the collector waited for ever.
"""

import os
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from dbfixtures import held_write_lock, run_on_read_only_medium
from imagefiles import write_image
from modelfiles import nan_output_checkpoint, tiny_checkpoint

from xtalviewer.importers import import_paths
from xtalviewer.model.architectures import load_checkpoint
from xtalviewer.model.inference import Scorer, ScoringRun, work_list
from xtalviewer.store.store import PredictionRow, Store

IMAGES = 40  # ten batches of 4: the writer fails while the decoders still have work
MODEL_ID = 1


@pytest.fixture
def plate(tmp_path):
    """A plate of 40 drops in a store on its own "medium" folder, and an active tiny model (id 1)."""
    medium = tmp_path / "medium"
    for i in range(IMAGES):
        write_image(tmp_path / "img" / "F1_2026-03-01_RI1000-0081-1drop" / f"F1_{1 + i % 5:02d}{'ABCDEFGH'[i // 5]}_1.jpg",
                    size=(64, 56), color=(i * 6, 90, 150))
    db = medium / "p.db"
    with Store(db) as s:
        import_paths(s, [tmp_path / "img"])
        ckpt = tiny_checkpoint(tmp_path / "tiny.pt", s.scheme)
        assert s.add_model(name="tiny", arch="resnet18", classes=s.scheme.keys, input_size=32, path=str(ckpt),
                           activate=True) == MODEL_ID
    return db


def predict(db, *extra, env=None, timeout=60):
    """``xtalviewer predict`` in a subprocess; a hang fails the test instead of blocking it."""
    cmd = [sys.executable, "-m", "xtalviewer", "predict", "--db", str(db), "--device", "cpu", "--batch-size", "4",
           *map(str, extra)]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        pytest.fail(f"predict did not end within {timeout} s (a stage waits for a message that never comes)")


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err


def stored(db) -> int:
    with Store(db) as s:
        return s.prediction_count()


def test_predict_stops_with_one_line_when_the_database_stays_busy_past_the_timeout(plate):
    started = time.monotonic()
    with held_write_lock(plate):
        proc = predict(plate, env={"XTALVIEWER_BUSY_TIMEOUT": "0.5"})
    assert proc.returncode == 2 and one_line(proc.stderr), proc.stderr
    assert "could not be stored" in proc.stderr and "is busy" in proc.stderr and f"0 of {IMAGES}" in proc.stderr
    assert "Scored" not in proc.stdout and time.monotonic() - started < 40
    assert stored(plate) == 0
    again = predict(plate)  # the lock is gone: a new run stores everything
    assert again.returncode == 0 and f"Scored {IMAGES} images" in again.stdout, again.stderr
    assert stored(plate) == IMAGES


def test_predict_stops_with_one_line_on_a_read_only_medium_with_wal_files(plate):
    reader = sqlite3.connect(plate)  # an open connection keeps the -wal and -shm files beside the database
    try:
        reader.execute("SELECT COUNT(*) FROM image").fetchone()
        assert (plate.parent / "p.db-wal").exists() and (plate.parent / "p.db-shm").exists()
        proc = run_on_read_only_medium(plate.parent, ["predict", "--db", plate, "--device", "cpu",
                                                      "--batch-size", "4"], timeout=60)
    finally:
        reader.close()
    assert proc.returncode == 2 and one_line(proc.stderr), proc.stderr
    assert "could not be stored" in proc.stderr and "read-only" in proc.stderr
    assert stored(plate) == 0


def test_predict_refuses_nan_outputs_with_one_line_and_stores_no_null(plate, tmp_path):
    with Store(plate) as s:
        broken = nan_output_checkpoint(tmp_path / "nan.pt", s.scheme)
    proc = predict(plate, "--model", broken)
    assert proc.returncode == 2 and one_line(proc.stderr), proc.stderr
    assert "NaN" in proc.stderr and "weights are broken" in proc.stderr and "F1_" in proc.stderr
    with Store(plate) as s:
        assert s.prediction_count() == 0
        assert s.query("SELECT COUNT(*) AS n FROM prediction WHERE p1 IS NULL")[0]["n"] == 0


def test_the_store_refuses_a_nan_probability_vector(plate):
    with Store(plate) as s:
        image_id = s.query("SELECT id FROM image LIMIT 1")[0]["id"]
        probs = np.full(len(s.scheme.keys), np.nan, np.float32)
        with pytest.raises(ValueError, match="not a number"):
            s.put_predictions(MODEL_ID, [PredictionRow(image_id, probs, None, None)])
        assert s.prediction_count() == 0


# -- the pipeline itself, in this process: each failure ends the iteration and says why ---------------


def finished_run(db, mutate=None, timeout=30):
    """Iterate a ScoringRun in a thread (a hang must fail the test, not block it); returns the run."""
    with Store(db) as s:
        meta, net = load_checkpoint(db.parent.parent / "tiny.pt", s.scheme)
        items = work_list(s, MODEL_ID)
    run = ScoringRun(Scorer(net, meta, torch.device("cpu")), items, db_path=db, model_id=MODEL_ID, batch_size=4,
                     workers=2)
    if mutate:
        mutate(run)
    worker = threading.Thread(target=lambda: list(run), daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), "the scoring run did not end"
    assert not any(t.name.startswith(("decode-", "store-writer")) and t.is_alive() for t in threading.enumerate())
    return run


def test_a_writer_failure_stops_the_decoders_and_the_collector(plate, monkeypatch):
    def refuse(self, model_id, rows):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Store, "put_predictions", refuse)
    run = finished_run(plate)
    assert run.error == "predictions could not be stored: OperationalError: disk I/O error"
    assert run.stored == 0 and run.scored < IMAGES


def test_a_decoder_failure_stops_the_run(plate):
    def break_decoding(run):
        calls = iter(range(10**6))
        take = run._next_item

        def next_item():
            if next(calls) == 6:
                raise MemoryError("no room for the image")
            return take()

        run._next_item = next_item

    run = finished_run(plate, break_decoding)
    assert run.error == "decoding stopped: MemoryError: no room for the image"


def test_a_forward_pass_failure_stops_the_run(plate):
    def break_model(run):
        def forward(batch):
            raise RuntimeError("CUDA error: an illegal memory access was encountered\nmore lines")

        run.scorer.forward = forward

    run = finished_run(plate, break_model)
    assert run.error == "scoring stopped: RuntimeError: CUDA error: an illegal memory access was encountered"
    assert run.stored == 0
