"""``xtal-train``: retrain from the corrected labels, compare, activate.

    xtal-train [--arch all] [--init active] [--crystal-recall 0.99] ...   train (default: the four families)
    xtal-train evaluate --model ID [--labels truth.csv]                     metrics JSON for a labelled set
    xtal-train export-onnx --model ID|PATH -o model.onnx                    for deployment outside the app
    xtal-train base --out resources/models/base-resnet18.pt                 the shipped base model, from synthetic plates
    xtal-train recalibrate [--model ID]                                     refit the hit threshold on the store's labels
    xtal-train --nproc N ...                                                DistributedDataParallel (torchrun)

Exit status: 0 done, 1 training failed, 2 bad arguments or nothing to train on, 130 cancelled.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from train.config import CROP_CHOICES, TrainConfig
from train.events import EXIT_CANCELLED, EXIT_FAILED, EXIT_USAGE  # noqa: F401  (part of this command's interface)
from xtalviewer.crystal_call import DEFAULT_TARGET_RECALL
from xtalviewer.model.devices import DEVICES
from xtalviewer.paths import data_dir
from xtalviewer.settings import default_db_location
from xtalviewer.store.location import adopt_password, location_of


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xtal-train", description="Train drop classifiers on the store's labels.")
    p.add_argument("--db", default=None, help=f"database: a file or postgresql:// URL (default {default_db_location()})")
    p.add_argument("--arch", default="all",
                   help="resnet, inception, vgg, alexnet, a variant (resnet50, vgg16 ...), a comma list, or all")
    p.add_argument("--init", default="active", metavar="active|base|imagenet|scratch|PATH",
                   help="where the weights start. active (default): continue from the current model of each "
                        "architecture (the active one, else the newest registered), else the shipped base model, "
                        "else scratch; base: the shipped base model; imagenet: torchvision's ImageNet weights "
                        "(cached or downloaded); scratch: random; or a checkpoint/state-dict file")
    p.add_argument("--crystal-recall", type=float, default=DEFAULT_TARGET_RECALL, metavar="R",
                   help="target crystal recall for the operating point, chosen on the validation split (default 0.99)")
    p.add_argument("--composite", type=int, default=0, metavar="N",
                   help="add N synthetic crystals drawn into the lab's own clear training drops (real backgrounds: "
                        "the imager's look is then the same for crystal and clear drops); default 0")
    p.add_argument("--shape", choices=("auto", "on", "off"), default="auto",
                   help="the straight-edge score beside the network: auto (kept where it does better on the "
                        "validation split), on, off")
    p.add_argument("--image-size", type=int, default=None,
                   help="input size in px (default: the recipe's, or the continued model's)")
    p.add_argument("--crop", default=None, choices=CROP_CHOICES,
                   help="what the model sees: the whole frame, the well or the drop (default: the recipe's)")
    p.add_argument("--epochs", type=int, default=None, help="default: 20 from scratch, 8 when continuing")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=None, help="AdamW learning rate (default: per architecture; "
                                                          "0.1x when continuing)")
    p.add_argument("--crystal-weight", type=float, default=None,
                   help="weight of the extra crystal-vs-rest loss on the summed crystal probability")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--patience", type=int, default=5, help="early stopping: epochs without a better validation loss")
    p.add_argument("--time-limit", type=float, default=None, metavar="MIN",
                   help="stop an architecture's training after this many minutes (its best epoch is kept)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--sources", default="human,import",
                   help="whose labels to learn from: human, import, accepted-prediction (comma list)")
    p.add_argument("--val", type=float, default=0.15, help="share of images for validation (split by plate)")
    p.add_argument("--test", type=float, default=0.15, help="share of images for the test metrics (split by plate)")
    p.add_argument("--balance", default="sqrt", choices=("none", "sqrt", "full"), help="class balancing of the sampler")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="threads decoding images into the cache")
    p.add_argument("--amp", default="auto", choices=("auto", "on", "off"),
                   help="mixed precision (auto: float16 on CUDA, bfloat16 on CPUs that run it natively)")
    p.add_argument("--events", default=None, metavar="FILE|-", help="write progress as JSON lines (- = stdout)")
    p.add_argument("--runs-dir", type=Path, default=None, help=f"where run folders go (default {data_dir() / 'runs'})")
    p.add_argument("--name", default=None, help="a word to add to the run id")
    p.add_argument("--resume", default=None, metavar="RUN", help="continue an interrupted run (folder or id)")
    p.add_argument("--activate", default="auto", choices=("auto", "best", "none"),
                   help="auto: activate the best model if none is active; best: always; none: never")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="train in N processes on this computer (DistributedDataParallel: one per GPU), started "
                        "through torchrun so that no train.py or train/ in the working folder can stand in for ours")
    return p


def parse_config(argv: Sequence[str]) -> TrainConfig:
    return TrainConfig.from_dict(vars(build_parser().parse_args(list(argv))))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from train.evaluate import EvaluateError, build_evaluate_parser, evaluate_model
    from train.loop import TrainingDiverged
    from train.warm_start import InitError
    from train.run import TrainError, train
    from xtalviewer.model.inference import DeviceError
    from xtalviewer.labels import SchemeError
    from xtalviewer.model.architectures import CheckpointError
    from xtalviewer.model.registry import RegistryError
    from xtalviewer.store.store import StoreError

    clear_errors = (TrainError, InitError, EvaluateError, StoreError, SchemeError, CheckpointError, DeviceError,
                    TrainingDiverged, RegistryError, ValueError)
    if argv and argv[0] == "base":
        from train.base import main as base_main

        try:
            return base_main(argv[1:])
        except clear_errors as exc:
            print(f"xtal-train base: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if argv and argv[0] == "recalibrate":
        from train.recalibrate import main as recalibrate_main
        from xtalviewer.model.recalibration import RecalibrationError

        try:
            return recalibrate_main(argv[1:])
        except (*clear_errors, RecalibrationError) as exc:
            print(f"xtal-train recalibrate: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if argv and argv[0] == "export-onnx":
        from train.onnx_export import main as export_main

        return export_main(argv[1:])
    if argv and argv[0] == "evaluate":
        args = build_evaluate_parser().parse_args(argv[1:])
        try:
            print(json.dumps(evaluate_model(args), indent=2))
            return 0
        except clear_errors as exc:
            print(f"xtal-train evaluate: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    args = build_parser().parse_args(argv)
    if args.db is not None:  # a password typed into a URL goes to PGPASSWORD, never to args.json or workers' argv
        safe = adopt_password(location_of(args.db)).argument()
        argv, args.db = [safe if a == args.db else a for a in argv], safe
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        from xtalviewer.module_launch import run_distributed, without_option

        return run_distributed("train", args.nproc, without_option(argv, "--nproc"), "xtal-train")
    config = TrainConfig.from_dict(vars(args))
    cancel = threading.Event()

    def on_signal(signum, frame):  # SIGTERM from the app's Cancel: stop at the next batch, keep last.pt
        cancel.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
    started = time.perf_counter()
    try:
        train(config, cancel)
        return 0
    except clear_errors as exc:
        print(f"xtal-train: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"xtal-train: cancelled after {time.perf_counter() - started:.0f} s; nothing was registered for the "
              "unfinished architecture. Resume with --resume RUN.", file=sys.stderr)
        return EXIT_CANCELLED
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
