"""Inference benchmark: is the model, not decoding or storing, what limits scoring speed?

    python bench/inference.py --json                      # resnet18 at 224 px
    python bench/inference.py --arch all --json           # the four architectures

On a plate of real-size (1224x1024) synthetic drop JPEGs it measures, per architecture:
- forward-only throughput: preprocessed tensors already in memory, batches through Scorer.forward;
- end-to-end throughput: files on disk to probabilities committed in the store (ScoringRun:
  decoding threads, forward pass, store writer);
- their ratio (target on the CPU: >= 0.9, i.e. decoding and storing hidden behind the forward pass).
Weights are random: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xtalviewer.crystal_call import OperatingPoint  # noqa: E402
from xtalviewer.importers import import_paths  # noqa: E402
from xtalviewer.imaging.decode import load_rgb  # noqa: E402
from xtalviewer.model.inference import Scorer, ScoringRun, describe_device, select_device, work_list  # noqa: E402
from xtalviewer.model.architectures import (  # noqa: E402
    FAMILIES,
    CheckpointMeta,
    Preprocess,
    build_model,
    default_input_size,
    resolve_arch,
)
from xtalviewer.plates import row_letter  # noqa: E402
from xtalviewer.model.shape_score import PRIOR_OFFSET, PRIOR_SLOPE  # noqa: E402
from xtalviewer.store.store import Store  # noqa: E402
from xtalviewer.synthetic.renderer import CLASS_KEYS, random_drop  # noqa: E402


def write_plate(folder: Path, n: int, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(11)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        row, col = divmod(i % 96, 12)
        drop = 1 + i // 96
        label = CLASS_KEYS[i % len(CLASS_KEYS)]
        rgb = random_drop(label, rng, size=size)
        cv2.imwrite(str(folder / f"BENCH_{col + 1:02d}{row_letter(row + 1)}_{drop}.jpg"),
                    cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])


def bench_arch(arch: str, db_path: Path, device: torch.device, batch_size: int, workers: int,
               input_size: int | None, repeats: int, shape: bool = False) -> dict:
    size = input_size or default_input_size(arch)
    with Store(db_path) as store:
        meta = CheckpointMeta(arch=arch, scheme_id=store.scheme.id, classes=store.scheme.keys,
                              crystal=store.scheme.crystal_mask, preprocess=Preprocess(input_size=size))
        n_images = len(store.image_ids())
    torch.manual_seed(0)
    net = build_model(arch, len(meta.classes), size)
    scorer = Scorer(net, meta, device)
    # the same model with the straight-edge score joined to it (model/shape_score.py), as shipped models score
    shaped = Scorer(net, replace(meta, operating_point=OperatingPoint(shape_slope=PRIOR_SLOPE, shape_offset=PRIOR_OFFSET)),
                    device)
    with Store(db_path) as store:
        paths = store.image_paths()
    # forward-only input: the very tensors the forward pass takes (normalised, channels_last), in memory
    squares = [meta.preprocess.fit_square(load_rgb(p, min_side=size)) for p in paths]
    batches = [meta.preprocess.normalise_batch(torch.from_numpy(np.stack(squares[i : i + batch_size])))
               for i in range(0, len(squares), batch_size)]
    scorer.forward(batches[0])  # warm-up: allocator, kernels, cudnn autotuning

    def forward_only() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for b in batches:
            scorer.forward(b)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return n_images / (time.perf_counter() - t0)

    def end_to_end(round_no: int, scorer: Scorer = scorer) -> float:
        with Store(db_path) as store:  # a fresh registry entry, so nothing is cached
            model_id = store.add_model(name=f"bench-{arch}-{round_no}", arch=arch, classes=store.scheme.keys,
                                       input_size=size, path="/dev/null")
            items = work_list(store, model_id)
        run = ScoringRun(scorer, items, db_path=db_path, model_id=model_id, batch_size=batch_size, workers=workers)
        t0 = time.perf_counter()
        n = sum(1 for r in run if r.error is None)
        seconds = time.perf_counter() - t0  # the run joins its store writer, so the last commit is inside
        with Store(db_path) as store:
            stored = store.prediction_count(model_id)
        assert stored == n == len(items) == n_images, (stored, n, len(items))
        return n / seconds

    # alternate the two measurements and keep each one's best, so a busy moment hurts neither side
    forward_runs, e2e_runs, shape_runs = [], [], []
    for i in range(repeats):
        forward_runs.append(forward_only())
        e2e_runs.append(end_to_end(i))
        if shape:
            shape_runs.append(end_to_end(1000 + i, shaped))
    forward_ips, e2e_ips = max(forward_runs), max(e2e_runs)
    extra = {}
    if shape:
        extra = {"end_to_end_with_shape_img_s": round(max(shape_runs), 2),
                 "shape_slowdown": round(e2e_ips / max(shape_runs) - 1, 3),
                 "shape_runs": [round(v, 2) for v in shape_runs]}
    return {**extra,
        "input_size": size,
        "images": n_images,
        "forward_img_s": round(forward_ips, 2),
        "end_to_end_img_s": round(e2e_ips, 2),
        "ratio": round(e2e_ips / forward_ips, 3),
        "runs": {"forward": [round(v, 2) for v in forward_runs], "end_to_end": [round(v, 2) for v in e2e_runs]},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="resnet18", help="an architecture, a comma list, or 'all' (the four families)")
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--image-size", default="1224x1024", help="drop image WIDTHxHEIGHT on disk")
    ap.add_argument("--input-size", type=int, default=None, help="model input (default: the architecture's own)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2, help="decoding threads")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=2, help="alternating rounds of each measurement; best is kept")
    ap.add_argument("--shape", action="store_true",
                    help="also score end to end with the straight-edge score joined (target: < 10%% slower)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    archs = list(FAMILIES.values()) if args.arch == "all" else [resolve_arch(a) for a in args.arch.split(",")]
    width, height = (int(v) for v in args.image_size.split("x"))
    device = select_device(args.device)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "BENCH_2026-01-05_RI1000-0081-2drop"
        write_plate(folder, args.images, (width, height))
        db_path = Path(tmp) / "bench.db"
        with Store(db_path) as store:
            import_paths(store, [folder])
        for arch in archs:
            results[arch] = bench_arch(arch, db_path, device, args.batch_size, args.workers, args.input_size,
                                       args.repeats, args.shape)
            if not args.json:
                print(arch, results[arch], flush=True)
    out = {
        "device": describe_device(device),
        "torch": torch.__version__,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "results": results,
        "target_ratio": 0.9,
        "targets_met": all(r["ratio"] >= 0.9 for r in results.values()),
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
