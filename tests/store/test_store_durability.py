"""No acknowledged label is ever lost: kill the labelling process at random moments (SIGKILL),
and let several processes write at once."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from imagefiles import write_image

from xtalviewer.importers import import_paths
from xtalviewer.store.store import AnnotationRow, Store

CHILD = Path(__file__).resolve().parents[1] / "crashchild.py"
ROOT = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("XTALVIEWER_KILLS", "25"))


@pytest.fixture
def small_plate_db(tmp_path):
    folder = tmp_path / "img" / "DUR1_2026-05-01_RI1000-0081-1drop"
    for i in range(24):
        write_image(folder / f"DUR1_{i % 12 + 1:02d}{'AB'[i // 12]}_1.jpg", size=(48, 40))
    db = tmp_path / "dur.db"
    with Store(db) as s:
        import_paths(s, [tmp_path / "img"])
    return db


def spawn(db, writer, n, *extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.Popen([sys.executable, str(CHILD), str(db), writer, str(n), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def kill_at_random(proc, rng, min_acks, max_wait):
    """Read acknowledgements, then SIGKILL the child mid-stream; return every acknowledged line."""
    acks = []
    target = rng.randint(min_acks, min_acks + 40)
    deadline = time.monotonic() + max_wait
    while len(acks) < target and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acks.append(line.split())
    time.sleep(rng.random() * 0.01)  # land anywhere inside the next write
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate()
    acks += [line.split() for line in rest.splitlines() if line.strip()]  # written before the kill
    return acks


def check_survivors(db, acks):
    with Store(db) as s:
        assert s.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for ann, image_id, label in acks:
            row = s.conn.execute("SELECT image_id, label FROM annotation WHERE id = ?", (int(ann),)).fetchone()
            assert row == (int(image_id), label), f"acknowledged label {ann} lost"
        # the current label is still the newest annotation of each image
        bad = s.conn.execute(
            "SELECT COUNT(*) FROM image i WHERE i.annotation_id IS NOT (SELECT MAX(id) FROM annotation a "
            "WHERE a.image_id = i.id)").fetchone()[0]
        assert bad == 0


def test_labels_survive_sigkill_at_random_points(small_plate_db):
    rng = random.Random(1)
    survived = 0
    for k in range(KILLS):
        proc = spawn(small_plate_db, f"child{k}", 100_000)
        acks = kill_at_random(proc, rng, min_acks=1, max_wait=30)
        assert acks, proc.stderr.read() if proc.stderr else ""
        check_survivors(small_plate_db, acks)
        survived += len(acks)
    with Store(small_plate_db) as s:
        assert s.conn.execute("SELECT COUNT(*) FROM annotation").fetchone()[0] >= survived


def test_labels_from_the_review_window_survive_sigkill(small_plate_db):
    rng = random.Random(2)
    for k in range(3):
        proc = spawn(small_plate_db, f"gui{k}", 100_000, "--gui")
        acks = kill_at_random(proc, rng, min_acks=3, max_wait=60)
        assert acks, proc.stderr.read() if proc.stderr else ""
        check_survivors(small_plate_db, acks)


def test_two_processes_write_1000_labels_each_concurrently(small_plate_db):
    procs = [spawn(small_plate_db, name, 1000) for name in ("alice", "bob")]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
        assert "locked" not in err
    acks = [line.split() for out, _ in outputs for line in out.splitlines()]
    assert len(acks) == 2000
    check_survivors(small_plate_db, acks)
    with Store(small_plate_db) as s:
        per = dict(s.conn.execute("SELECT annotator, COUNT(*) FROM annotation GROUP BY annotator"))
    assert per == {"alice": 1000, "bob": 1000}


def test_two_reviewers_on_the_same_drop_last_write_wins_and_both_stay_in_history(small_plate_db):
    with Store(small_plate_db) as a, Store(small_plate_db) as b:
        image_id = a.query("SELECT id FROM image LIMIT 1")[0]["id"]
        a.add_annotation(image_id, "needles", "alice")
        b.add_annotation(image_id, "plates", "bob")
        assert a.current_label(image_id) == b.current_label(image_id) == "plates"
        assert [(h.annotator, h.label) for h in a.history(image_id)] == [("bob", "plates"), ("alice", "needles")]


def test_labelling_predicting_and_training_at_once(small_plate_db, tmp_path):
    """The GUI's writes, a predict run and a train run share one database: nobody sees 'locked'."""
    from modelfiles import tiny_checkpoint

    with Store(small_plate_db) as s:
        ids = [r["id"] for r in s.query("SELECT id FROM image ORDER BY id")]
        s.add_annotations([AnnotationRow(i, ["clear", "needles"][i % 2], "seed", source="human")
                           for i in ids])
        ckpt = tiny_checkpoint(tmp_path / "tiny.pt", s.scheme)
        s.add_model(name="tiny", arch="resnet18", classes=s.scheme.keys, input_size=32, path=str(ckpt), activate=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    predict = subprocess.Popen([sys.executable, "-m", "xtalviewer", "predict", "--db", str(small_plate_db),
                                "--device", "cpu", "--batch-size", "2"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    train = subprocess.Popen([sys.executable, "-m", "train", "--db", str(small_plate_db), "--arch", "resnet",
                              "--image-size", "32", "--epochs", "2", "--batch-size", "4",
                              "--runs-dir", str(tmp_path / "runs")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    written = []
    with Store(small_plate_db) as gui:
        while predict.poll() is None or train.poll() is None:
            image_id = ids[len(written) % len(ids)]
            written.append((gui.add_annotation(image_id, "plates", "reviewer"), image_id))
            time.sleep(0.002)
    p_out, p_err = predict.communicate()
    t_out, t_err = train.communicate()
    assert predict.returncode == 0, p_err
    assert train.returncode == 0, t_err
    assert "locked" not in p_err + t_err
    assert "Scored 24 images" in p_out
    check_survivors(small_plate_db, [(a, i, "plates") for a, i in written])
    with Store(small_plate_db) as s:
        assert len(s.models()) == 2  # the tiny one and the freshly trained one
