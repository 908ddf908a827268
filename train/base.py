"""``xtal-train base``: build the base model a lab fine-tunes from, from seeded synthetic plates.

    xtal-train base --out resources/models/base-resnet18.pt [--plates 24] [--seed 1000] [--minutes 45]

Renders its own synthetic plates (every imaging style the generator knows, seeded, different from
the demo's and the quality benchmark's), labels them with their truth, trains ResNet-18 from
scratch with the default recipe, calibrates and tests it on held-out plates, and writes a compact
float16 copy of the best checkpoint (with its metrics and a build record beside it). The run
folder stays in --workdir, so the model can be traced to its data and settings.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import time
from pathlib import Path

from train.config import TrainConfig
from train.run import train
from xtalviewer.synthetic.demo import DemoConfig, run_demo
from xtalviewer.model.architectures import file_sha256, load_checkpoint, save_checkpoint
from xtalviewer.paths import data_dir
from xtalviewer.store.store import Store


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xtal-train base", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="where the compact checkpoint goes")
    p.add_argument("--arch", default="resnet")
    p.add_argument("--plates", type=int, default=24)
    p.add_argument("--inspections", type=int, default=2)
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--size", default="1224x1024", help="rendered image size WIDTHxHEIGHT")
    p.add_argument("--minutes", type=float, default=45.0, help="training time budget")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--crop", default=None)
    p.add_argument("--init", default="scratch",
                   help="scratch (default) or a checkpoint to continue from, e.g. the previous base model")
    p.add_argument("--workdir", type=Path, default=None, help="plates, database and run folder (kept)")
    return p


def build_base(args: argparse.Namespace, command: str, log=print) -> dict:
    """Build, test and write the base model; ``command`` (as typed) goes into the build record."""
    width, height = (int(v) for v in args.size.lower().split("x"))
    workdir = args.workdir or data_dir() / "base-build" / f"seed-{args.seed}"
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "base.db"
    started = time.perf_counter()
    if not db.exists():
        part = workdir / "base.part.db"
        part.unlink(missing_ok=True)
        with Store(part) as store:
            run_demo(store, DemoConfig(out=workdir / "plates", plates=args.plates, inspections=args.inspections,
                                       size=(width, height), labelled=1.0, seed=args.seed), log=log)
        os.replace(part, db)
    config = TrainConfig(db=str(db), arch=args.arch, init=str(args.init), time_limit=args.minutes, epochs=args.epochs,
                         image_size=args.image_size, crop=args.crop, runs_dir=str(workdir / "runs"), name="base",
                         activate="none", patience=100, val=0.1, test=0.1, seed=args.seed,
                         shape="on")  # day one: synthetic validation cannot show what edges add on real drops
    (result,) = train(config, log=log)
    with Store(db) as store:
        best = store.model(result["model_id"])
    meta, model = load_checkpoint(best.path)
    meta.run_id = f"base-{result['run_id']}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(args.out, model, meta, half=True)
    record = {
        "command": command,
        "seed": args.seed, "plates": args.plates, "init": str(args.init), "inspections": args.inspections, "size": args.size,
        "arch": meta.arch,
        "input_size": meta.preprocess.input_size, "crop": meta.preprocess.crop, "run_folder": str(Path(best.path).parent),
        "build_minutes": round((time.perf_counter() - started) / 60, 1), "bytes": args.out.stat().st_size,
        "sha256": file_sha256(args.out), "operating_point": meta.operating_point.to_dict(),
        "test_metrics": {k: v for k, v in result["metrics"].items() if k not in ("confusion_matrix", "per_class")},
    }
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2))
    log(f"Base model written to {args.out} ({record['bytes'] / 1e6:.1f} MB); build record {args.out.with_suffix('.json')}")
    return record


def main(argv: list[str]) -> int:
    build_base(build_parser().parse_args(argv), "xtal-train base " + shlex.join(str(a) for a in argv))
    return 0
