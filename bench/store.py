"""Store benchmark: build a store of N image records and time what the review queue and labelling do.

    python bench/store.py --images 500000 --json
    python bench/store.py --images 500000 --db postgresql://USER@HOST/EMPTY_DB --json

Records go through the same calls the importers use (upsert_plate, upsert_inspection,
upsert_images), in one transaction per inspection; the paths need not exist. Every image then gets
a prediction of one model and 60% of them a human label, as on a lab's real store. Reported:
records imported per second, the p95 of the review-queue queries (top 100 unlabelled by crystal
probability, top 100 by smallest top-1/top-2 margin, one plate's drops), the p95 of committing one
label (a synced commit), and the database size. Optionally (--files N) it also imports N real
small JPEG files through import_paths, header reads included.

``--image-root`` stores every record below a named image root (``Archive`` at ``/archive``), so each
path is written root-relative and every queue row is read back through the workstation's mapping.

``--db postgresql://...`` builds the store in that (empty) PostgreSQL database instead of an SQLite
file: the same calls, the same queries, with the server's targets (a label commit goes over the
network: p95 under 10 ms; the build of 500,000 records under 2 minutes).

``--contention --writers 8 --seconds 60`` (either engine) instead runs 8 labelling processes on one
plate for 60 s beside a predict process and an import, and counts labels lost, duplicated and
tracebacks (``bench/store_contention.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xtalviewer.importers import import_paths  # noqa: E402
from xtalviewer.plates import PlateType, row_letter, well_name  # noqa: E402
from xtalviewer.store.location import location_of  # noqa: E402
from xtalviewer.store.store import AnnotationRow, ImageRow, PredictionRow, Store  # noqa: E402

ROWS, COLS, DROPS = 8, 12, 2


def p95(samples: list[float]) -> float:
    return float(np.percentile(samples, 95))


def build(store: Store, n_images: int, inspections_per_plate: int, rng: np.random.Generator) -> dict:
    per_inspection = ROWS * COLS * DROPS
    n_inspections = -(-n_images // per_inspection)
    made = 0
    t0 = time.perf_counter()
    for k in range(n_inspections):
        plate_no, insp_no = divmod(k, inspections_per_plate)
        barcode = f"B{plate_no:06d}"
        rows = []
        with store.transaction():
            pid = store.upsert_plate(barcode, PlateType(ROWS, COLS, DROPS))
            iid, _ = store.upsert_inspection(
                pid, f"{barcode}_{insp_no}", imaged_at=f"2026-01-{1 + insp_no:02d}", imager="RI1000-0081",
                profile=None, layout="bench", folder=f"/archive/{barcode}_{insp_no}",
            )
            for r in range(1, ROWS + 1):
                for c in range(1, COLS + 1):
                    for d in range(1, DROPS + 1):
                        if made + len(rows) >= n_images:
                            break
                        path = f"/archive/{barcode}_{insp_no}/{barcode}_{c:02d}{row_letter(r)}_{d}.jpg"
                        rows.append(ImageRow(iid, pid, well_name(r, c), r, c, d, path, 412_000, 1.7e9, 1224, 1024))
            store.upsert_images(rows)
        made += len(rows)
    elapsed = time.perf_counter() - t0
    return {"records": made, "seconds": elapsed, "records_per_s": made / elapsed}


def predict_all(store: Store, model_id: int, rng: np.random.Generator) -> float:
    ids = store.image_ids()
    t0 = time.perf_counter()
    n_classes = len(store.scheme.keys)
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        logits = rng.normal(size=(len(chunk), n_classes)) * 2.5
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        store.put_predictions(model_id, [PredictionRow(i, p, 412_000, 1.7e9) for i, p in zip(chunk, probs)])
    return time.perf_counter() - t0


def label_share(store: Store, share: float, rng: np.random.Generator) -> int:
    ids = np.array(store.image_ids())
    chosen = ids[rng.random(len(ids)) < share]
    keys = store.scheme.keys
    labels = rng.choice(len(keys), size=len(chosen))
    for start in range(0, len(chosen), 20000):
        store.add_annotations([
            AnnotationRow(int(i), keys[l], "bench", source="import", created_at="2026-01-02T00:00:00Z")
            for i, l in zip(chosen[start : start + 20000], labels[start : start + 20000])
        ])
    return len(chosen)


def time_queries(store: Store, model_id: int, rng: np.random.Generator, repeats: int) -> dict:
    plate_ids = store.plate_ids()
    timings: dict[str, list[float]] = {"top100_unlabelled_by_crystal": [], "top100_smallest_margin": [],
                                       "one_plate_drops": []}
    for _ in range(repeats):
        t = time.perf_counter()
        rows = store.review_queue(model_id, "crystal", unlabelled_only=True, limit=100)
        timings["top100_unlabelled_by_crystal"].append(time.perf_counter() - t)
        assert len(rows) == 100
        t = time.perf_counter()
        rows = store.review_queue(model_id, "margin", limit=100)
        timings["top100_smallest_margin"].append(time.perf_counter() - t)
        assert len(rows) == 100
        plate = int(rng.choice(plate_ids))
        t = time.perf_counter()
        rows = store.review_queue(model_id, "plate", plate_id=plate)
        timings["one_plate_drops"].append(time.perf_counter() - t)
        assert rows
    return {k: {"p50_ms": 1000 * statistics.median(v), "p95_ms": 1000 * p95(v)} for k, v in timings.items()}


def time_label_commits(store: Store, rng: np.random.Generator, repeats: int) -> dict:
    n = max(store.image_ids())
    keys = store.scheme.keys
    samples = []
    for _ in range(repeats):
        image_id = int(rng.integers(1, n + 1))
        t = time.perf_counter()
        store.add_annotation(image_id, keys[int(rng.integers(len(keys)))], "bench", lead_ms=900)
        samples.append(time.perf_counter() - t)
    return {"p50_ms": 1000 * statistics.median(samples), "p95_ms": 1000 * p95(samples), "commits": repeats}


def import_real_files(n_files: int, workdir: Path) -> dict:
    from PIL import Image

    folder = workdir / "files" / "BF0001_2026-01-05_RI1000-0081-2drop"
    folder.mkdir(parents=True)
    buf = Path(folder / "seed.bin")
    Image.new("RGB", (1224, 1024), (180, 160, 200)).save(buf, format="JPEG", quality=85)
    data = buf.read_bytes()
    buf.unlink()
    made = 0
    plate = 0
    while made < n_files:
        target = folder if plate == 0 else workdir / "files" / f"BF{plate + 1:04d}_2026-01-05_RI1000-0081-2drop"
        target.mkdir(parents=True, exist_ok=True)
        for r in range(1, 9):
            for c in range(1, 13):
                for d in (1, 2):
                    if made < n_files:
                        (target / f"BF{plate + 1:04d}_{c:02d}{row_letter(r)}_{d}.jpg").write_bytes(data)
                        made += 1
        plate += 1
    with Store(workdir / "files.db") as store:
        t0 = time.perf_counter()
        report = import_paths(store, [workdir / "files"])
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        import_paths(store, [workdir / "files"])
        again = time.perf_counter() - t0
    return {"files": report.images, "files_per_s": report.images / first, "reimport_files_per_s": report.images / again}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=500_000)
    ap.add_argument("--inspections-per-plate", type=int, default=4)
    ap.add_argument("--labelled", type=float, default=0.6)
    ap.add_argument("--repeats", type=int, default=60, help="timed repetitions of each query")
    ap.add_argument("--commits", type=int, default=200, help="timed single-label commits")
    ap.add_argument("--files", type=int, default=0, help="also import this many real JPEG files")
    ap.add_argument("--db", default=None, help="where to build the store: a new SQLite file (default: in a temp "
                    "folder) or an empty PostgreSQL database, postgresql://USER@HOST/DBNAME")
    ap.add_argument("--image-root", action="store_true", help="store the records below the image root 'Archive' "
                    "(/archive), read back through this workstation's mapping")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--contention", action="store_true", help="instead: --writers processes label one plate for "
                    "--seconds while predict writes and an import adds inspections; count lost and duplicated labels "
                    "and tracebacks (bench/store_contention.py)")
    ap.add_argument("--writers", type=int, default=8, help="--contention: labelling processes")
    ap.add_argument("--seconds", type=float, default=60.0, help="--contention: how long they label")
    ap.add_argument("--drop-connections", type=float, default=None, metavar="S",
                    help="--contention on PostgreSQL: end a random writer's server session every S seconds")
    args = ap.parse_args(argv)
    if args.contention:
        return contention(args)

    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        location = location_of(args.db or Path(tmp) / "bench.db")
        if location.path is not None and location.path.exists():
            location.path.unlink()
        store = Store(location, roots={"Archive": "/archive"} if args.image_root else None)
        if store.has_plates():
            raise SystemExit(f"bench/store.py: {location} already holds plates; give an empty database")
        if args.image_root:
            store.define_image_root("Archive", "/archive")
        built = build(store, args.images, args.inspections_per_plate, rng)
        model_id = store.add_model(name="bench-resnet18", arch="resnet18", classes=store.scheme.keys, input_size=224,
                                   path="/models/bench.pt", activate=True)
        predict_seconds = predict_all(store, model_id, rng)
        started = time.perf_counter()
        labelled = label_share(store, args.labelled, rng)
        label_seconds = time.perf_counter() - started
        store.optimize()
        queries = time_queries(store, model_id, rng, args.repeats)
        commits = time_label_commits(store, rng, args.commits)
        size = store.size_bytes()
        store.close()
        files = import_real_files(args.files, Path(tmp)) if args.files else None

    server = location.is_server
    targets = {"import_seconds_max": 120 if server else 60, "query_p95_ms_max": 50,
               "label_commit_p95_ms_max": 10 if server else 5}
    result = {
        "engine": location.engine,
        "image_root": args.image_root,
        "images": built["records"],
        "import_seconds": round(built["seconds"], 2),
        "records_per_s": round(built["records_per_s"]),
        "predictions_per_s": round(built["records"] / predict_seconds),
        "labelled": labelled,
        "queries": {k: {m: round(v, 2) for m, v in q.items()} for k, q in queries.items()},
        "label_commit": {k: round(v, 2) for k, v in commits.items()},
        "db_size_mb": round(size / 1e6, 1),
        "build_seconds": round(built["seconds"] + predict_seconds + label_seconds, 2),
        "targets": targets,
    }
    if files:
        result["real_files"] = {k: round(v) for k, v in files.items()}
    result["targets_met"] = (
        result["import_seconds"] * 500_000 / max(1, result["images"]) < targets["import_seconds_max"]
        and all(q["p95_ms"] < targets["query_p95_ms_max"] for q in result["queries"].values())
        and result["label_commit"]["p95_ms"] < targets["label_commit_p95_ms_max"]
    )
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 0


def contention(args: argparse.Namespace) -> int:
    """``--contention``: many workstations on one store at once (``bench/store_contention.py``)."""
    import store_contention

    with tempfile.TemporaryDirectory() as tmp:
        location = location_of(args.db or Path(tmp) / "contention.db")
        result = store_contention.run(location, writers=args.writers, seconds=args.seconds,
                                      drop_every=args.drop_connections)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 0 if result["targets_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
