"""Many workstations on one store at once: N processes label drops of the same plate for S seconds
while a predict process writes predictions and an import adds inspections of that plate; then
every acknowledged write is looked for in the store. Run through ``bench/store.py``:

    python bench/store.py --contention --writers 8 --seconds 60 --json
    python bench/store.py --contention --writers 8 --seconds 60 --db postgresql://USER@HOST/EMPTY_DB --json

Each writer is a process of its own with its own Store, as a workstation is, labelling random drops
of the plate's first inspection as fast as the store takes them (a second look every tenth write,
the queue read as a window reads it every fifth) and logging each label and second look the store
acknowledged (the call returned). The predict process scores what is unscored (the imported
inspections) and otherwise scores the plate again, in batches of 32; the import process imports a
new inspection folder of the plate (192 small JPEG files) every few seconds through the importer.
``--drop-connections S`` (PostgreSQL) also ends a random writer's server session every S seconds,
as a restarted pooler or a network cut would: the writers reconnect and retry.

Counted afterwards, from a fresh connection:

- ``lost``: acknowledged labels or second looks not in the store, or not as acknowledged;
- ``duplicates``: writers' rows in the store that no call acknowledged (a write that landed twice or
  without its acknowledgement), plus ids acknowledged twice;
- ``tracebacks``: "Traceback" in the children's stderr; ``failed_processes``: children not exiting 0;
- ``refused``: calls that raised the store's one-line error (nothing written, the writer told);
- ``current_label_mismatches``: drops whose current label is not their newest annotation;
- ``predictions_missing``, ``import_images_missing``: acknowledged predictions or imported images
  not in the store.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xtalviewer.importers import import_paths  # noqa: E402
from xtalviewer.plates import row_letter  # noqa: E402
from xtalviewer.store.location import Location, location_of  # noqa: E402
from xtalviewer.store.rows import Annotation  # noqa: E402
from xtalviewer.store.store import PredictionRow, Store, StoreError  # noqa: E402

BARCODE = "BC0001"
WRITER = "bench-writer-"
READY_TIMEOUT_S = 120  # children start on a loaded 2-core machine: numpy, the store, a connection each


def _folder(root: Path, day: int) -> Path:
    return root / f"{BARCODE}_2026-01-{day:02d}_RI1000-0081-2drop"


def make_inspections(root: Path, count: int) -> list[Path]:
    """``count`` inspection folders of plate BC0001 (96 wells, two drops), tiny JPEG files each."""
    from PIL import Image

    seed = root / "seed.jpg"
    root.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (180, 160, 200)).save(seed, format="JPEG", quality=80)
    data = seed.read_bytes()
    seed.unlink()
    folders = []
    for day in range(1, count + 1):
        folder = _folder(root, day)
        folder.mkdir()
        for r in range(1, 9):
            for c in range(1, 13):
                for d in (1, 2):
                    (folder / f"{BARCODE}_{c:02d}{row_letter(r)}_{d}.jpg").write_bytes(data)
        folders.append(folder)
    return folders


# -- the children ----------------------------------------------------------------------------------


def _wait_for_go(work: Path, role: str) -> float:
    """Say this child is ready, wait for the parent's start; the time to stop."""
    (work / f"ready-{role}").touch()
    go = work / "go"
    end = time.monotonic() + READY_TIMEOUT_S
    while not go.exists():
        if time.monotonic() > end:
            raise SystemExit(f"{role}: no start signal")
        time.sleep(0.01)
    return float(go.read_text())


def _log(handle, *entry: object) -> None:
    handle.write(json.dumps(entry) + "\n")
    handle.flush()


def writer(location: Location, setup: dict, work: Path, number: int) -> None:
    rng = random.Random(number)
    name = f"{WRITER}{number}"
    ids, inspection = setup["image_ids"], setup["inspection_id"]
    with Store(location) as store, open(work / f"writer-{number}.log", "w") as log:
        keys = store.scheme.keys
        until = _wait_for_go(work, f"writer-{number}")
        n = 0
        while time.time() < until:
            image_id = rng.choice(ids)
            try:
                if n % 10 == 9:
                    flagged = rng.random() < 0.6
                    flag_id = store.add_flags([image_id], flagged, name, note="bench")[0]
                    _log(log, "flag", flag_id, image_id, flagged)
                else:
                    label = rng.choice(keys)
                    annotation_id = store.add_annotation(image_id, label, name, lead_ms=rng.randint(300, 3000))
                    _log(log, "label", annotation_id, image_id, label)
                if n % 5 == 0:
                    store.review_queue(None, "plate", inspection_id=inspection)
            except StoreError as exc:  # said in one line, nothing written: a reviewer would retry
                _log(log, "refused", str(exc))
            except Exception:
                traceback.print_exc()
            n += 1


def predictor(location: Location, setup: dict, work: Path) -> None:
    rng = np.random.default_rng(11)
    ids, model_id = setup["image_ids"], setup["model_id"]
    with Store(location) as store, open(work / "predict.log", "w") as log:
        n_classes = len(store.scheme.keys)
        until = _wait_for_go(work, "predict")
        while time.time() < until:
            try:
                batch = [row[0] for row in store.unscored_images(model_id)[:32]] or \
                    [int(i) for i in rng.choice(ids, size=32, replace=False)]
                logits = rng.normal(size=(len(batch), n_classes)) * 2.5
                probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
                store.put_predictions(model_id, [PredictionRow(i, p) for i, p in zip(batch, probs)])
                _log(log, "predictions", batch)
            except StoreError as exc:
                _log(log, "refused", str(exc))
            except Exception:
                traceback.print_exc()


def importer(location: Location, setup: dict, work: Path) -> None:
    folders = [Path(f) for f in setup["folders"]]
    with Store(location) as store, open(work / "import.log", "w") as log:
        until = _wait_for_go(work, "import")
        start = time.time()
        spacing = max(0.5, (until - start) / (len(folders) + 1))
        for k, folder in enumerate(folders, start=1):
            wait = start + k * spacing - time.time()
            if wait > 0:
                time.sleep(wait)
            if time.time() >= until:
                break
            try:
                report = import_paths(store, [folder])
                _log(log, "import", folder.name, report.images)
            except StoreError as exc:
                _log(log, "refused", str(exc))
            except Exception:
                traceback.print_exc()


def child_main(role: str, db: str, work: Path) -> int:
    setup = json.loads((work / "setup.json").read_text())
    location = location_of(db)
    if role == "predict":
        predictor(location, setup, work)
    elif role == "import":
        importer(location, setup, work)
    else:
        writer(location, setup, work, int(role.removeprefix("writer-")))
    return 0


# -- the run -------------------------------------------------------------------------------------------


def _read_log(path: Path) -> list[list]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def run(location: Location, *, writers: int = 8, seconds: float = 60.0, imports: int | None = None,
        drop_every: float | None = None, workdir: Path | None = None) -> dict:
    """Set up the plate, run the children for ``seconds``, count what the store holds."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        work = Path(tmp)
        imports = imports if imports is not None else max(1, min(27, int(seconds // 5)))
        folders = make_inspections(work / "plates", imports + 1)
        with Store(location) as store:
            if store.has_plates():
                raise SystemExit(f"bench/store.py: {location} already holds plates; give an empty database")
            import_paths(store, [folders[0]])
            plate = store.plate_by_barcode(BARCODE)
            inspection = store.inspections(plate.id)[0]
            ids = [r.id for r in store.review_queue(None, "plate", inspection_id=inspection.id)]
            model_id = store.add_model(name="bench-contention", arch="resnet18", classes=store.scheme.keys,
                                       input_size=224, path="/models/contention.pt", activate=True)
        (work / "setup.json").write_text(json.dumps({
            "image_ids": ids, "inspection_id": inspection.id, "model_id": model_id,
            "folders": [str(f) for f in folders[1:]]}))

        roles = [f"writer-{k}" for k in range(1, writers + 1)] + ["predict", "import"]
        env = {**os.environ, **location.child_env()}
        children = {}
        for role in roles:
            with open(work / f"{role}.err", "w") as err:
                children[role] = subprocess.Popen(
                    [sys.executable, str(Path(__file__).resolve()), "--child", role, "--db", location.argument(),
                     "--work", str(work)], stdout=subprocess.DEVNULL, stderr=err, env=env)
        end = time.monotonic() + READY_TIMEOUT_S
        while not all((work / f"ready-{r}").exists() for r in roles):
            if time.monotonic() > end or any(p.poll() is not None for p in children.values()):
                break
            time.sleep(0.05)
        started = time.time()
        (work / "go.part").write_text(str(started + seconds))
        os.replace(work / "go.part", work / "go")  # whole when a child sees it
        drops = _drop_connections(location, children, started + seconds, drop_every) if drop_every else 0
        for p in children.values():
            try:
                p.wait(timeout=seconds + 120)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        elapsed = time.time() - started
        result = _count(location, work, roles, children, ids, model_id, plate.id, folders[1:])
    return {"engine": location.engine, "writers": writers, "seconds": round(elapsed, 1),
            "connections_dropped": drops, **result,
            "labels_per_s": round(result["labels_acknowledged"] / max(elapsed, 1e-9), 1),
            "targets": {"lost": 0, "duplicates": 0, "tracebacks": 0},
            "targets_met": result["lost"] == 0 and result["duplicates"] == 0 and result["tracebacks"] == 0
            and result["failed_processes"] == 0}


def _drop_connections(location: Location, children: dict, until: float, every: float) -> int:
    """End a random writer's server session every ``every`` seconds until ``until``: how many."""
    rng = random.Random(3)
    writers = [p for role, p in children.items() if role.startswith("writer-")]
    dropped = 0
    with Store(location) as admin:
        while time.time() + every < until:
            time.sleep(every)
            dropped += admin.engine.end_sessions_of(admin, rng.choice(writers).pid)
    return dropped


def _count(location: Location, work: Path, roles: list[str], children: dict, ids: list[int], model_id: int,
           plate_id: int, folders: list[Path]) -> dict:
    acked: dict[tuple[str, int], tuple] = {}
    ack_counts: Counter = Counter()
    refused = predicted = 0
    refusals: Counter = Counter()
    predicted_ids: set[int] = set()
    imported: list[tuple[str, int]] = []
    for role in roles:
        log = work / (f"{role}.log" if role.startswith("writer-") else
                      {"predict": "predict.log", "import": "import.log"}[role])
        for entry in _read_log(log):
            kind = entry[0]
            if kind == "label":
                _, annotation_id, image_id, label = entry
                acked[("label", annotation_id)] = (image_id, label, role.replace("writer-", WRITER))
                ack_counts[("label", annotation_id)] += 1
            elif kind == "flag":
                _, flag_id, image_id, flagged = entry
                acked[("flag", flag_id)] = (image_id, flagged, role.replace("writer-", WRITER))
                ack_counts[("flag", flag_id)] += 1
            elif kind == "predictions":
                predicted += 1
                predicted_ids.update(entry[1])
            elif kind == "import":
                imported.append((entry[1], entry[2]))
            elif kind == "refused":
                refused += 1
                refusals[f"{role.rstrip('0123456789')}: {entry[1][:160]}"] += 1
    errs = {r: (work / f"{r}.err").read_text(errors="replace") for r in roles}
    tracebacks = sum(text.count("Traceback") for text in errs.values())
    last_lines = {r: text.strip().splitlines()[-1][:200] for r, text in errs.items() if "Traceback" in text}
    failed = sum(1 for p in children.values() if p.returncode != 0)

    stored: dict[tuple[str, int], tuple] = {}
    mismatches = 0
    with Store(location, readonly=True) as store:
        current = store.current_labels(ids)
        for image_id in ids:
            newest = None
            for event in store.drop_history(image_id):
                if isinstance(event, Annotation):
                    newest = event if newest is None or event.id > newest.id else newest
                    if event.annotator.startswith(WRITER):
                        stored[("label", event.id)] = (image_id, event.label, event.annotator)
                elif event.annotator.startswith(WRITER):
                    stored[("flag", event.id)] = (image_id, event.flagged, event.annotator)
            if current.get(image_id) != (newest.label if newest else None):
                mismatches += 1
        predictions_missing = sum(1 for i in predicted_ids if store.prediction(i, model_id) is None)
        inspections = len(store.inspections(plate_id))
        images_in_plate = store.image_counts(plate_id)[0]
    lost = sum(1 for key, value in acked.items() if stored.get(key) != value)
    duplicates = sum(1 for key in stored if key not in acked) + sum(n - 1 for n in ack_counts.values() if n > 1)
    expected_images = 192 * (1 + len(imported))
    return {
        "labels_acknowledged": sum(1 for k in acked if k[0] == "label"),
        "flags_acknowledged": sum(1 for k in acked if k[0] == "flag"),
        "prediction_batches": predicted,
        "inspections_imported": len(imported),
        "lost": lost, "duplicates": duplicates, "tracebacks": tracebacks, "traceback_ends": last_lines,
        "failed_processes": failed,
        "refused": refused, "refusals": dict(refusals.most_common(3)), "current_label_mismatches": mismatches,
        "predictions_missing": predictions_missing,
        "import_images_missing": max(0, expected_images - images_in_plate) + max(0, 1 + len(imported) - inspections),
    }


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="a child of bench/store.py --contention")
    ap.add_argument("--child", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--work", type=Path, required=True)
    args = ap.parse_args()
    raise SystemExit(child_main(args.child, args.db, args.work))
