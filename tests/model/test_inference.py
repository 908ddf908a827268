import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from imagefiles import write_image
from modelfiles import tiny_checkpoint

from xtalviewer.importers import import_paths
from xtalviewer.model.inference import DeviceError, Scorer, ScoringRun, select_device, work_list
from xtalviewer.model.architectures import load_checkpoint
from xtalviewer.store.store import Store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scored_plate(tmp_path, db_path):
    """A 40-image plate (one truncated JPEG among them) and a registered, active tiny model."""
    folder = tmp_path / "Q1_2026-03-01_RI1000-0081-2drop"
    for i in range(40):
        row, col = "ABCDEFGH"[i // 5 % 8], 1 + i % 5
        drop = 1 + i // 40
        write_image(folder / f"Q1_{col:02d}{row}_{drop}.jpg", size=(96, 80), color=(i * 6, 80, 160))
    good = (folder / "Q1_01A_1.jpg").read_bytes()
    (folder / "Q1_02A_1.jpg").write_bytes(good[: len(good) // 3])  # header intact, pixels cut
    with Store(db_path) as s:
        import_paths(s, [tmp_path])
        ckpt = tiny_checkpoint(tmp_path / "tiny.pt", s.scheme)
        model_id = s.add_model(name="tiny", arch="resnet18", classes=s.scheme.keys, input_size=32, path=str(ckpt),
                               activate=True)
    return db_path, model_id, ckpt, folder


def make_run(db_path, model_id, ckpt, items=None, **kw):
    with Store(db_path) as s:
        meta, net = load_checkpoint(ckpt, s.scheme)
        items = work_list(s, model_id) if items is None else items
    return ScoringRun(Scorer(net, meta, torch.device("cpu")), items, db_path=db_path, model_id=model_id, **kw)


def test_run_scores_every_image_stores_top3_and_marks_the_corrupt_one(scored_plate):
    db_path, model_id, ckpt, folder = scored_plate
    run = make_run(db_path, model_id, ckpt, batch_size=8)
    results = list(run)
    assert len(results) == 40 and run.scored == 39 and run.errors == 1
    bad = [r for r in results if r.error]
    assert len(bad) == 1 and ("truncated" in bad[0].error or "corrupt" in bad[0].error)
    good = next(r for r in results if not r.error)
    assert len(good.top3) == 3 and good.top3[0][1] >= good.top3[1][1] >= good.top3[2][1]
    with Store(db_path) as s:
        assert s.conn.execute("SELECT COUNT(*) FROM prediction WHERE model_id = ?", (model_id,)).fetchone()[0] == 39
        stored = s.prediction(good.image_id, model_id)
        assert stored.top1 == good.top3[0][0] and stored.p1 == pytest.approx(good.top3[0][1], abs=1e-6)
        marked = s.query("SELECT path, load_error FROM image WHERE load_error IS NOT NULL")
        assert len(marked) == 1 and marked[0]["path"].endswith("Q1_02A_1.jpg")


def test_rerun_skips_cached_images_and_rescores_changed_ones(scored_plate):
    db_path, model_id, ckpt, folder = scored_plate
    list(make_run(db_path, model_id, ckpt))
    with Store(db_path) as s:
        assert work_list(s, model_id) == []  # the unreadable one is not retried either
        assert len(work_list(s, model_id, retry_errors=True)) == 1
        changed = folder / "Q1_03A_1.jpg"
        write_image(changed, size=(90, 80))
        st = changed.stat()
        s.conn.execute("UPDATE image SET size = ?, mtime = ? WHERE path = ?", (st.st_size, st.st_mtime, str(changed)))
        todo = work_list(s, model_id)
        assert [t.path for t in todo] == [str(changed)]


def test_priority_image_comes_first(scored_plate):
    db_path, model_id, ckpt, _ = scored_plate
    run = make_run(db_path, model_id, ckpt, batch_size=4, workers=1)
    last = run._pending[-1].image_id
    assert run.prioritize(last)
    results = iter(run)
    assert next(results).image_id == last
    target = run._pending[-1].image_id  # now the last one waiting, behind ~30 others
    assert run.prioritize(target)
    order = [r.image_id for r in results]
    assert order.index(target) < 12  # the rest of this batch and at most two more, not the end of the queue (31)
    assert not run.prioritize(10_000)  # not in this run


def test_cancel_stops_the_run_cleanly(scored_plate):
    db_path, model_id, ckpt, _ = scored_plate
    run = make_run(db_path, model_id, ckpt, batch_size=4, workers=2)
    seen = []
    for result in run:
        seen.append(result)
        if len(seen) == 4:
            run.cancel()
    assert run.cancelled and 4 <= len(seen) < 40
    with Store(db_path) as s:  # what was scored before the cancel is stored
        assert s.conn.execute("SELECT COUNT(*) FROM prediction").fetchone()[0] == run.scored
    assert run.scored + run.errors == len(seen)


def test_leaving_the_loop_early_stops_the_decoders(scored_plate):
    import threading

    db_path, model_id, ckpt, _ = scored_plate
    run = make_run(db_path, model_id, ckpt, batch_size=2, workers=2)
    for _ in run:
        break
    assert not any(t.name.startswith("decode-") and t.is_alive() for t in threading.enumerate())


def test_devices():
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA was requested"):
            select_device("cuda")
    with pytest.raises(DeviceError, match="unknown device"):
        select_device("tpu")


def test_predict_command_scores_and_reports_throughput(scored_plate, capsys):
    from xtalviewer.cli import main

    db_path, model_id, ckpt, _ = scored_plate
    assert main(["predict", "--db", str(db_path), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "Scored 39 images with tiny (resnet18@32) on cpu" in out and "img/s" in out and "1 unreadable" in out
    assert main(["predict", "--db", str(db_path)]) == 0
    assert "Scored 0 images" in capsys.readouterr().out


def test_predict_with_a_checkpoint_path_registers_it(scored_plate, capsys, tmp_path):
    from xtalviewer.cli import main

    db_path, _, _, _ = scored_plate
    other = tiny_checkpoint(tmp_path / "other.pt", Store(db_path).scheme, seed=3)
    assert main(["predict", "--db", str(db_path), "--model", str(other), "--plate", "Q1"]) == 0
    with Store(db_path) as s:
        assert [m.name for m in s.models()] == ["tiny", "other"]
        assert s.active_model().name == "tiny"


def test_a_new_store_scores_with_the_shipped_base_model_without_a_model_step(tmp_path, capsys):
    import csv

    import cv2

    from dropimages import small_drop
    from xtalviewer.cli import main
    from xtalviewer.model.registry import BASE_MODEL_NAME, shipped_base_model

    assert shipped_base_model() is not None
    folder = tmp_path / "90j8_2018-04-11_RI1000-0081-2drop"
    folder.mkdir()
    for well, label in (("01A", "crystals_3d"), ("02A", "clear")):
        cv2.imwrite(str(folder / f"90j8_{well}_1.jpg"), cv2.cvtColor(small_drop(label), cv2.COLOR_RGB2BGR))
    db = tmp_path / "lab.db"
    assert main(["import", "--db", str(db), str(folder)]) == 0
    assert "shipped base model is registered and active" in capsys.readouterr().out
    with Store(db) as s:
        assert [m.name for m in s.models()] == [BASE_MODEL_NAME] and s.active_model().name == BASE_MODEL_NAME
        registered = Path(s.active_model().path)
    # a copy named by its content: an upgrade that ships a new base model leaves this store's model as it was
    assert registered != shipped_base_model() and registered.parent.name == "models"
    assert registered.read_bytes() == shipped_base_model().read_bytes()
    assert main(["predict", "--db", str(db)]) == 0  # no --model: the base model scores
    out = tmp_path / "export.csv"
    assert main(["export", "--db", str(db), "-o", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 and all(r["model"] == BASE_MODEL_NAME and r["pred1"] for r in rows)
    with Store(db) as s:
        threshold = s.active_model().operating_point.threshold
    for r in rows:
        assert 0.0 <= float(r["crystal_prob"]) <= 1.0
        assert r["hit"] == str(int(float(r["crystal_prob"]) >= threshold - 5e-5))


def test_predict_with_a_registered_model_activates_it_when_none_is(tmp_path, capsys):
    from xtalviewer.cli import main

    db = tmp_path / "lab.db"
    with Store(db) as s:
        ckpt = tiny_checkpoint(tmp_path / "tiny.pt", s.scheme)
        other = tiny_checkpoint(tmp_path / "other.pt", s.scheme, seed=4)
        s.add_model(name="unused", arch="resnet18", classes=s.scheme.keys, input_size=32, path=str(other),
                    sha256="0", activate=False)
    assert main(["predict", "--db", str(db), "--model", str(ckpt)]) == 0
    with Store(db) as s:
        assert s.active_model().path == str(ckpt.absolute())  # export, hits and the app now use it


def test_predict_without_a_fitting_model_says_how_to_train_one(tmp_path, capsys):
    from xtalviewer.cli import main

    db = tmp_path / "empty.db"
    Store(db, scheme="marco4").close()  # the shipped base model classifies xtal10: it does not fit
    assert main(["predict", "--db", str(db)]) == 2
    assert "no trained model in the registry" in capsys.readouterr().err


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_torchrun_shards_the_work_over_two_processes(scored_plate):
    db_path, model_id, _, _ = scored_plate
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}", "-m",
         "xtalviewer.predict", "--db", str(db_path), "--device", "cpu", "--batch-size", "4"],
        capture_output=True, text=True, env=env, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "x 2 processes" in proc.stdout and "Scored 39 images" in proc.stdout
    with Store(db_path) as s:
        assert s.conn.execute("SELECT COUNT(*) FROM prediction WHERE model_id = ?", (model_id,)).fetchone()[0] == 39


def test_scorer_applies_the_checkpoint_temperature(tmp_path):
    from dataclasses import replace

    from xtalviewer.crystal_call import OperatingPoint
    from xtalviewer.labels import load_scheme

    scheme = load_scheme("xtal10")
    meta, net = load_checkpoint(tiny_checkpoint(tmp_path / "t.pt", scheme), scheme)
    x = torch.randn(3, 3, 32, 32)
    plain = Scorer(net, meta, torch.device("cpu"), amp=False).forward(x)
    hot = Scorer(net, replace(meta, operating_point=OperatingPoint(temperature=3.0)), torch.device("cpu"),
                 amp=False).forward(x)
    with torch.inference_mode():
        logits = net.eval()(x.contiguous(memory_format=torch.channels_last)).float()
    assert plain == pytest.approx(torch.softmax(logits, 1).numpy(), abs=1e-4)
    assert hot == pytest.approx(torch.softmax(logits / 3.0, 1).numpy(), abs=1e-4)
    assert hot.max() < plain.max()  # softer


def test_predict_counts_hits_at_the_operating_point_and_models_shows_the_rule(scored_plate, capsys, tmp_path):
    from xtalviewer.cli import main
    from xtalviewer.crystal_call import OperatingPoint

    db_path, model_id, ckpt, _ = scored_plate
    assert main(["predict", "--db", str(db_path), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    with Store(db_path) as s:
        probs = [r["crystal_prob"] for r in s.query("SELECT crystal_prob FROM prediction")]
        top3 = sum(r["crystal_top3"] for r in s.query("SELECT crystal_top3 FROM prediction"))
        calibrated = s.add_model(name="calibrated", arch="resnet18", classes=s.scheme.keys, input_size=32,
                                 path=str(ckpt), operating_point=OperatingPoint(threshold=0.25, target_recall=0.99))
    hits = sum(p >= 0.5 for p in probs)
    assert f"Hits: {hits} of 39 scored drops" in out and "not calibrated: the old 50% rule" in out
    assert f"{top3} with a crystal class in the top 3" in out
    assert main(["models", "--db", str(db_path)]) == 0
    listing = capsys.readouterr().out
    tiny = next(line for line in listing.splitlines() if " tiny " in line)
    other = next(line for line in listing.splitlines() if " calibrated " in line)
    assert "50.0%*" in tiny and "25.0%" in other and "25.0%*" not in other
    assert "trained before calibration" in listing and "highest crystal recall" in listing
    assert main(["models", "activate", str(calibrated), "--db", str(db_path)]) == 0
    assert "chosen for 99% crystal recall" in capsys.readouterr().out


def test_the_gpu_path_crops_like_the_cpu_path(tmp_path):
    """forward_uint8_gpu runs on any device; on the CPU it must see the same drop as the CPU path."""
    import dataclasses

    import cv2
    import numpy as np
    from torchvision.io import decode_jpeg

    from xtalviewer.imaging.decode import decode
    from xtalviewer.labels import load_scheme
    from xtalviewer.model.architectures import Preprocess
    from dropimages import small_drop

    rgb = small_drop("needles", size=(1224, 1024))
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    scheme = load_scheme("xtal10")
    meta, net = load_checkpoint(tiny_checkpoint(tmp_path / "t.pt", scheme, size=64), scheme)
    meta = dataclasses.replace(meta, preprocess=Preprocess(input_size=64, crop="drop"))
    scorer = Scorer(net, meta, torch.device("cpu"), amp=False)
    full = decode_jpeg(torch.frombuffer(bytearray(buf.tobytes()), dtype=torch.uint8))
    region = scorer.gpu_region(full)
    cpu_rgb = decode(buf.tobytes(), min_side=meta.preprocess.decode_min_side())
    box = meta.preprocess.crop_box(cpu_rgb)
    assert box.found == "drop"
    h, w = full.shape[-2:]
    assert region.shape[-1] / w == pytest.approx(box.x1 - box.x0, abs=0.02)
    assert region.shape[-2] / h == pytest.approx(box.y1 - box.y0, abs=0.02)
    gpu = scorer.forward_uint8_gpu([full])[0]
    cpu = scorer.forward_uint8(torch.from_numpy(meta.preprocess.fit_square(cpu_rgb)[None]))[0]
    assert np.abs(gpu - cpu).max() < 0.05


def test_predict_latest_scores_each_plates_latest_inspection_only(tmp_path, capsys):
    from xtalviewer.cli import main

    for day in ("2026-03-01", "2026-03-08"):
        for i in range(6):
            write_image(tmp_path / f"L1_{day}_RI1000-0081-1drop" / f"L1_{i + 1:02d}A_1.jpg", size=(64, 48),
                        color=(i * 30, 90, 120))
    db = tmp_path / "l.db"
    with Store(db) as s:
        import_paths(s, [tmp_path])
        ckpt = tiny_checkpoint(tmp_path / "tiny.pt", s.scheme)
        s.add_model(name="tiny", arch="resnet18", classes=s.scheme.keys, input_size=32, path=str(ckpt), activate=True)
    assert main(["predict", "--db", str(db), "--latest", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "Scored 6 images" in out and "6 in earlier inspections left for later" in out
    with Store(db) as s:
        scored = {r["key"] for r in s.query("SELECT n.key FROM prediction p JOIN image i ON i.id = p.image_id "
                                            "JOIN inspection n ON n.id = i.inspection_id")}
    assert len(scored) == 1 and "2026-03-08" in scored.pop()
