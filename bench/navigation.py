"""Navigation benchmark for the review window (offscreen Qt, the real MainWindow).

    python bench/navigation.py --json

Measures, on real-size (1224x1024) JPEG drops:
- next-drop latency on a 1536-well plate map: from the Right-arrow key press (the next well) until
  the new drop's image and prediction are painted; p50/p95, with a reviewer's dwell between
  presses and in a burst with none; also the main thread's CPU time per press (wall time is noisy
  on a loaded machine);
- plate-open time of the 1536-well plate map: until it is painted (colour tiles);
- plate-open time until the plate map is visible, and until every thumbnail in view is filled, for
  a 96-well 2-drop plate (all 192 drops are in view), with a cold and a warm thumbnail cache;
- resident memory with a 500,000-image store open and a model loaded (--store-images).
Targets on a 2-core machine: p95 < 50 ms; 1536 map < 300 ms; grid < 300 ms; all 192 thumbnails
< 2 s cold, < 300 ms warm; memory < 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from xtalviewer.importers import import_paths  # noqa: E402
from xtalviewer.plates import row_letter  # noqa: E402
from xtalviewer.settings import Settings  # noqa: E402
from xtalviewer.store.store import PredictionRow, Store  # noqa: E402
from xtalviewer.synthetic.renderer import CLASS_KEYS, random_drop  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def unique_drops(n: int, size=(1224, 1024)) -> list[bytes]:
    rng = np.random.default_rng(5)
    out = []
    for i in range(n):
        rgb = random_drop(CLASS_KEYS[i % len(CLASS_KEYS)], rng, size=size)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        out.append(buf.tobytes())
    return out


def write_hwi_1536(root: Path, drops: list[bytes]) -> Path:
    folder = root / "XV00001536202611250900-jpg"
    folder.mkdir(parents=True)
    for well in range(1, 1537):
        (folder / f"XV00001536{well:04d}20261125.jpg").write_bytes(drops[well % len(drops)])
    return folder


def write_xchem_96x2(root: Path, drops: list[bytes]) -> Path:
    folder = root / "NAV96_2026-11-25_RI1000-0081-2drop"
    folder.mkdir(parents=True)
    i = 0
    for r in range(1, 9):
        for c in range(1, 13):
            for d in (1, 2):
                (folder / f"NAV96_{c:02d}{row_letter(r)}_{d}.jpg").write_bytes(drops[i % len(drops)])
                i += 1
    return folder


def fake_predictions(store: Store, model_id: int) -> None:
    rng = np.random.default_rng(1)
    ids = store.image_ids()
    logits = rng.normal(size=(len(ids), len(store.scheme.keys))) * 2
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    store.put_predictions(model_id, [PredictionRow(i, v) for i, v in zip(ids, p)])


def register_model(store: Store, root: Path, size: int = 224) -> int:
    from xtalviewer.model.architectures import CheckpointMeta, Preprocess, build_model, save_checkpoint

    path = root / "resnet18.pt"
    meta = CheckpointMeta(arch="resnet18", scheme_id=store.scheme.id, classes=store.scheme.keys,
                          crystal=store.scheme.crystal_mask, preprocess=Preprocess(input_size=size))
    save_checkpoint(path, build_model("resnet18", len(store.scheme.keys), size), meta)
    return store.add_model(name="bench-resnet18", arch="resnet18", classes=store.scheme.keys, input_size=size,
                           path=str(path), activate=True)


def pump(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)


def wait_for(app, cond, timeout: float = 30.0) -> bool:
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        app.processEvents()
        if cond():
            return True
        time.sleep(0.0005)
    return False


def visible_rows(window) -> list[int]:
    """Queue rows in view, on the plate map or in the flowing queue."""
    return window.drops.visible_rows()


def open_window(db: Path, settings: Settings):
    from xtalviewer.gui.app.launch import application
    from xtalviewer.gui.app.main_window import MainWindow

    app = application()
    window = MainWindow(db, settings, start_scoring=False)
    window.resize(1600, 1000)
    window.show()
    wait_for(app, lambda: window.inspection is not None and window.grid_model.rowCount() > 0)
    return app, window


def bench_keys(db: Path, settings: Settings, presses: int, dwell: float) -> dict:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    app, window = open_window(db, settings)
    window.grid.setFocus()
    shown: list[int] = []
    window.drop_shown.connect(shown.append)
    pump(app, 0.5)
    samples, cpu = [], []
    for _ in range(presses):
        before = window.current_image_id()
        layout, here = window.session.layout, window.session.current_drop
        if layout is not None and here.col == layout.cols:  # the row's last well: on to the next row's first
            window.set_current_row(layout.drops_at(here.row % layout.rows + 1, 1)[0])
            pump(app, 0.05)
            before = window.current_image_id()
        shown.clear()
        c0 = time.thread_time()
        t0 = time.perf_counter()
        QTest.keyClick(window.grid, Qt.Key.Key_Right)
        target = window.current_image_id()
        ok = wait_for(app, lambda: target in shown, 5.0)
        window.image_view.viewport().repaint()  # the paint itself, synchronously
        window.prediction.repaint()
        samples.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        if not ok or target == before:
            raise RuntimeError("the next drop was not shown")
        if dwell:
            pump(app, dwell)
    plate_map = window.drops.showing_plate
    window.close()
    ms = [1000 * s for s in samples]
    cpu_ms = [1000 * s for s in cpu]
    return {"presses": presses, "dwell_ms": int(dwell * 1000), "p50_ms": round(statistics.median(ms), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2), "max_ms": round(max(ms), 2),
            "main_thread_cpu_p50_ms": round(statistics.median(cpu_ms), 2),
            "main_thread_cpu_p95_ms": round(float(np.percentile(cpu_ms, 95)), 2),
            "plate_map": plate_map}


def bench_open(db: Path, settings: Settings, cold: bool, thumbnails: bool = True) -> dict:
    """Open the plate again in a window: until the grid (plate map or queue) is painted, and (with
    ``thumbnails``) until every thumbnail in view is filled, from the disk cache or (``cold``) not."""
    from xtalviewer.gui.app.launch import application
    from xtalviewer.gui.app.main_window import MainWindow

    app = application()
    window = MainWindow(db, settings, start_scoring=False)
    window.resize(1600, 1000)
    window.show()
    wait_for(app, lambda: window.inspection is not None and window.grid_model.rowCount() > 0)
    target = window.inspection.id
    wait_for(app, lambda: window.thumbs.idle() and window.images.idle(), 30)  # the window's own first open
    window.session.close_inspection()
    window.drops.reset()
    window.thumbs.clear()  # nothing in memory: warm means the disk cache only
    if cold:
        shutil.rmtree(settings.thumbnail_folder(), ignore_errors=True)
    pump(app, 0.2)
    c0, t0 = time.thread_time(), time.perf_counter()
    window.open_inspection(target)
    window.grid.viewport().repaint()
    grid_s, grid_cpu = time.perf_counter() - t0, time.thread_time() - c0
    plate_map = window.drops.showing_plate
    if not thumbnails:
        n_visible = len(visible_rows(window))
        window.close()
        return {"grid_visible_ms": round(1000 * grid_s, 1), "main_thread_cpu_ms": round(1000 * grid_cpu, 1),
                "visible_cells": n_visible, "plate_map": plate_map}

    def filled() -> bool:
        rows = visible_rows(window)
        return bool(rows) and all(window.thumbs.cached(window.grid_model.queue_row(r).id) is not None for r in rows)

    wait_for(app, filled, 30)
    window.grid.viewport().repaint()
    thumbs_s = time.perf_counter() - t0
    n_visible = len(visible_rows(window))
    window.close()
    return {"grid_visible_ms": round(1000 * grid_s, 1), "thumbnails_filled_ms": round(1000 * thumbs_s, 1),
            "main_thread_cpu_ms": round(1000 * grid_cpu, 1), "visible_cells": n_visible, "plate_map": plate_map}


def bench_memory(root: Path, n_images: int, settings: Settings) -> dict:
    """Build the big store here, then measure a fresh process that opens it in the window and loads
    the model, so nothing this benchmark allocated itself is counted."""
    import subprocess

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from store import build  # bench/store.py: the same 500k-record builder

    db = root / "big.db"
    store = Store(db)
    build(store, n_images, 4, np.random.default_rng(0))
    model_id = register_model(store, root)
    fake_predictions(store, model_id)
    store.close()
    out = subprocess.run([sys.executable, __file__, "--memory-of", str(db), "--thumbs", str(root / "thumbs")],
                         capture_output=True, text=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
                         timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return {"store_images": n_images, **json.loads(out.stdout.strip().splitlines()[-1])}


def memory_of(db: Path, thumbs: Path) -> dict:
    from xtalviewer.gui.plate.scoring import cached_scorer

    settings = Settings(annotator="bench", thumbnail_dir=str(thumbs))
    app, window = open_window(db, settings)
    wait_for(app, lambda: window.browser_model.inspection_ids(), 120)
    cached_scorer(window.model.path, window.model.sha256, "cpu", window.scheme)
    pump(app, 1.0)
    result = {"rss_mb": round(rss_mb(), 1), "plates_listed": len(window.browser_model.inspection_ids())}
    window.close()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presses", type=int, default=200)
    ap.add_argument("--dwell", type=float, default=0.3, help="seconds a reviewer looks at a drop (paced run)")
    ap.add_argument("--store-images", type=int, default=500_000, help="records in the memory test (0 skips it)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--memory-of", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--thumbs", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_of:
        print(json.dumps(memory_of(args.memory_of, args.thumbs)))
        return 0

    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        drops = unique_drops(48)
        settings = Settings(annotator="bench", thumbnail_dir=str(root / "thumbs"), thumbnail_size=120)
        os.environ["XTALVIEWER_HOME"] = str(root / "home")

        big = root / "plate1536"
        write_hwi_1536(big, drops)
        db1536 = root / "nav1536.db"
        with Store(db1536) as s:
            import_paths(s, [big])
            fake_predictions(s, register_model(s, root))
        result["next_drop_1536"] = {
            "paced": bench_keys(db1536, settings, args.presses, args.dwell),
            "burst": bench_keys(db1536, settings, args.presses, 0.0),
        }
        result["open_1536_map"] = bench_open(db1536, settings, cold=False, thumbnails=False)

        small = root / "plate96"
        write_xchem_96x2(small, drops)
        db96 = root / "nav96.db"
        with Store(db96) as s:
            import_paths(s, [small])
        result["open_96x2"] = {"cold": bench_open(db96, settings, cold=True),
                               "warm": bench_open(db96, settings, cold=False)}
        if args.store_images:
            result["memory"] = bench_memory(root, args.store_images, settings)

    paced = result["next_drop_1536"]["paced"]
    result["targets"] = {"next_drop_p95_ms": 50, "map_1536_ms": 300, "grid_ms": 300, "thumbs_cold_ms": 2000,
                         "thumbs_warm_ms": 300, "all_192_thumbnails_in_view": True, "rss_mb": 1536}
    result["targets_met"] = (
        paced["p95_ms"] < 50
        and result["open_1536_map"]["grid_visible_ms"] < 300
        and result["open_96x2"]["cold"]["visible_cells"] == 192
        and result["open_96x2"]["cold"]["grid_visible_ms"] < 300
        and result["open_96x2"]["cold"]["thumbnails_filled_ms"] < 2000
        and result["open_96x2"]["warm"]["thumbnails_filled_ms"] < 300
        and ("memory" not in result or result["memory"]["rss_mb"] < 1536)
    )
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
