"""Model quality on the seeded 12-plate synthetic set: the four architectures with the default recipe.

    python bench/quality.py --json                       # all four, 8 CPU minutes each at most
    python bench/quality.py --arch resnet --minutes 5    # one architecture
    python bench/quality.py --workdir /tmp/q ...         # keep the rendered plates for the next run

Renders 12 synthetic 96-well two-drop plates (two inspections, 1224x1024, per-plate imaging style)
with the demo's generator and a fixed seed, stores every image's truth as a human label, splits by
plate (8 train, 2 validation, 2 test) and trains each architecture with ``train.run.train`` inside a
stated time budget. Printed per architecture, on the held-out test plates: top-1, top-3, missed
crystals at top-1 and top-3, crystal recall and precision at the operating point (tuned on the
validation plates for 99% recall), review load, balanced accuracy, ECE before and after
calibration, and the top-3 strategy's recall and review load. Targets: ResNet top-1 >= 95%,
crystal recall >= 99% at review load <= 25%.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from train.config import TrainConfig  # noqa: E402
from train.run import train  # noqa: E402
from xtalviewer.model.metrics import HEADLINE_KEYS  # noqa: E402
from xtalviewer.synthetic.demo import DemoConfig, run_demo  # noqa: E402
from xtalviewer.store.store import Store  # noqa: E402

KEYS = (*HEADLINE_KEYS, "ece_uncalibrated", "top3_crystal_recall", "threshold", "temperature", "n", "crystal_images",
        "train_seconds", "epochs_run",
        "best_epoch", "image_size", "crop", "init", "lr", "crystal_weight")
SEED = 12  # the quality set; the demo uses 0 and the base model its own


def build_set(root: Path, plates: int, inspections: int, size: tuple[int, int], seed: int) -> Path:
    """Render, import and fully label the set once; later runs with the same folder reuse it."""
    db = root / f"quality-{plates}x{inspections}-{size[0]}x{size[1]}-s{seed}.db"
    if db.exists():
        return db
    config = DemoConfig(out=root / f"plates-s{seed}", plates=plates, inspections=inspections, size=size, labelled=1.0,
                        seed=seed)
    with Store(db.with_suffix(".part.db")) as store:
        run_demo(store, config, log=lambda text: print(text, file=sys.stderr))
    os.replace(db.with_suffix(".part.db"), db)
    return db


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="all")
    ap.add_argument("--minutes", type=float, default=8.0, help="CPU time budget per architecture (training)")
    ap.add_argument("--plates", type=int, default=12)
    ap.add_argument("--inspections", type=int, default=2)
    ap.add_argument("--size", default="1224x1024")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--init", default="scratch", help="scratch (default: an honest baseline), base, imagenet, PATH")
    ap.add_argument("--image-size", type=int, default=None)
    ap.add_argument("--crop", default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--crystal-weight", type=float, default=None)
    ap.add_argument("--balance", default="sqrt")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the rendered set here (default: a temp folder)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))

    with tempfile.TemporaryDirectory() as tmp:
        root = args.workdir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        db = build_set(root, args.plates, args.inspections, (w, h), args.seed)
        build_s = time.perf_counter() - t0
        config = TrainConfig(db=str(db), arch=args.arch, init=args.init, image_size=args.image_size, crop=args.crop,
                             epochs=args.epochs, lr=args.lr, crystal_weight=args.crystal_weight, balance=args.balance,
                             batch_size=args.batch_size, time_limit=args.minutes, device=args.device,
                             runs_dir=str(root / "runs"), activate="none", patience=100,
                             val=0.15, test=0.15, name="quality")
        t1 = time.perf_counter()
        results = train(config, log=lambda text: print(text, file=sys.stderr, flush=True))
        train_s = time.perf_counter() - t1
    out = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}",
        "set": {"plates": args.plates, "inspections": args.inspections, "size": args.size, "seed": args.seed,
                "split": "by plate, 15% validation / 15% test", "build_seconds": round(build_s, 1)},
        "budget_minutes_per_arch": args.minutes,
        "train_seconds": round(train_s, 1),
        "results": {r["arch"]: {k: r["metrics"].get(k) for k in KEYS} for r in results},
        "targets": {"resnet18": {"accuracy": ">= 0.95", "crystal_recall": ">= 0.99", "review_load": "<= 0.25"}},
    }
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
