"""``xtal-train`` / ``python -m train``: retrain from the corrected labels, compare, activate.

    xtal-train [--arch all] [--image-size N] [--epochs N] ...   train (default: the four families)
    xtal-train evaluate --model ID [--labels truth.csv]           metrics JSON for a labelled set
    xtal-train export-onnx --model ID|PATH -o model.onnx          for deployment outside the app
    torchrun --nproc_per_node=N -m train ...                      DistributedDataParallel

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
from datetime import datetime
from pathlib import Path

from xtalviewer.core.paths import data_dir, default_db_path

from train.events import EXIT_CANCELLED, EXIT_FAILED, EXIT_USAGE  # noqa: F401  (part of this command's interface)
from xtalviewer.core.metrics import best_result


class TrainError(Exception):
    """A clear reason why training cannot start (exit status 2)."""


def runs_dir() -> Path:
    return data_dir() / "runs"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xtal-train", description="Train drop classifiers on the store's labels.")
    p.add_argument("--db", type=Path, default=None, help=f"database (default {default_db_path()})")
    p.add_argument("--arch", default="all",
                   help="resnet, inception, vgg, alexnet, a variant (resnet50, vgg16 ...), a comma list, or all")
    p.add_argument("--image-size", type=int, default=None, help="input size in px (default: each architecture's own)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=None, help="AdamW learning rate (default: per architecture)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--patience", type=int, default=5, help="early stopping: epochs without a better validation loss")
    p.add_argument("--time-limit", type=float, default=None, metavar="MIN",
                   help="stop an architecture's training after this many minutes (its best epoch is kept)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--init", default=None, metavar="PATH|imagenet",
                   help="start from a checkpoint or state dict, or torchvision's ImageNet weights if cached locally")
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
    p.add_argument("--runs-dir", type=Path, default=None, help=f"where run folders go (default {runs_dir()})")
    p.add_argument("--name", default=None, help="a word to add to the run id")
    p.add_argument("--resume", default=None, metavar="RUN", help="continue an interrupted run (folder or id)")
    p.add_argument("--activate", default="auto", choices=("auto", "best", "none"),
                   help="auto: activate the best model if none is active; best: always; none: never")
    return p


def build_evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xtal-train evaluate", description="Metrics of a model on a labelled set.")
    p.add_argument("--db", type=Path, default=None)
    p.add_argument("--model", required=True, metavar="ID", help="registry id (or a checkpoint path)")
    p.add_argument("--labels", type=Path, default=None, metavar="truth.csv",
                   help="image_path,label CSV (default: the store's human and imported labels)")
    p.add_argument("--plate", default=None, metavar="BARCODE", help="only this plate's images")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--batch-size", type=int, default=32)
    return p


def _dist_setup():
    import torch
    import torch.distributed as dist

    from train.loop import Dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else Dist()


def _resolve_run(args: argparse.Namespace, d) -> tuple[Path, dict]:
    """The run folder and its arguments: new, or read back from an interrupted run."""
    import torch.distributed as dist

    base = args.runs_dir or runs_dir()
    if args.resume:
        folder = Path(args.resume)
        if not folder.is_dir():
            folder = base / args.resume
        if (folder / "args.json").is_file() and not (folder / "split.json").is_file():
            folder = folder.parent  # an architecture's sub-folder was named
        if not (folder / "args.json").is_file():
            raise TrainError(f"--resume {args.resume}: no run folder with args.json there (looked in {folder})")
        saved = json.loads((folder / "args.json").read_text())
        saved.update(events=args.events, device=args.device, resume=str(folder))
        return folder, saved
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_id = f"{stamp}-{args.name}" if args.name else stamp
    if d.main:
        n = 1
        while (base / run_id).exists():  # two runs started in the same second get their own folders
            n += 1
            run_id = f"{stamp}-{n}" + (f"-{args.name}" if args.name else "")
        (base / run_id).mkdir(parents=True)
    box = [run_id]
    if d.world > 1:
        dist.broadcast_object_list(box, src=0)
    folder = base / box[0]
    resolved = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    resolved["db"] = str(Path(args.db or default_db_path()).absolute())
    return folder, resolved


def _comparison_table(results: list[dict]) -> str:
    def pct(v):
        return "-" if v is None else f"{100 * v:6.2f}%"

    lines = [f"{'arch':<14} {'accuracy':>9} {'top-3':>8} {'missed@1':>9} {'missed@3':>9} {'train time':>11}  model"]
    for r in results:
        m = r["metrics"]
        lines.append(f"{r['arch']:<14} {pct(m['accuracy']):>9} {pct(m['top3_accuracy']):>8} "
                     f"{pct(m['missed_crystal_rate_top1']):>9} {pct(m['missed_crystal_rate_top3']):>9} "
                     f"{m['train_seconds']:>10.0f}s  {r['model_id']}")
    return "\n".join(lines)


def train_main(args: argparse.Namespace, cancel_event: threading.Event | None = None) -> list[dict]:
    import torch

    from train.data import (
        DecodedCache,
        describe_counts,
        labelled_samples,
        load_split,
        save_split,
        split_samples,
    )
    from train.events import EventWriter
    from train.loop import DEFAULT_LR, RunSpec, fit
    from xtalviewer.core.inference import select_device
    from xtalviewer.core.models import Preprocess, autocast_dtype, default_input_size, family_of, resolve_arch
    from xtalviewer.core.store import Store

    d = _dist_setup()
    folder, conf = _resolve_run(args, d)
    events = EventWriter(conf.get("events") if d.main else None)
    log = (lambda text: print(text, file=sys.stderr if events.to_stdout else sys.stdout, flush=True)) if d.main \
        else (lambda text: None)
    cancel = cancel_event.is_set if cancel_event else (lambda: False)
    try:
        names = ["resnet", "inception", "vgg", "alexnet"] if conf["arch"] == "all" else conf["arch"].split(",")
        try:
            archs = [resolve_arch(a) for a in names]
        except ValueError as exc:
            raise TrainError(str(exc)) from None
        db = Path(conf["db"])
        if not db.exists():
            raise TrainError(f"database {db} does not exist; import plates and label some drops first")
        if d.world > 1 and conf["device"] == "auto" and torch.cuda.is_available():
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", d.rank)) % torch.cuda.device_count())
        else:
            device = select_device(conf["device"])
        if device.type == "cuda":
            torch.cuda.set_device(device)
            torch.backends.cudnn.benchmark = True
        amp = None if conf["amp"] == "off" else autocast_dtype(device, "", training=True)
        if conf["amp"] == "on" and amp is None:
            amp = torch.bfloat16 if device.type == "cpu" else torch.float16

        with Store(db) as store:
            scheme = store.scheme
            split_file = folder / "split.json"
            if split_file.is_file():
                splits, unit = load_split(split_file)
            else:
                sources = [s.strip() for s in conf["sources"].split(",") if s.strip()]
                samples = labelled_samples(store, sources)
                unreadable = store.conn.execute(
                    "SELECT COUNT(*) FROM image WHERE label IS NOT NULL AND load_error IS NOT NULL").fetchone()[0]
                if unreadable and d.main:
                    log(f"{unreadable} labelled image(s) are marked unreadable and left out")
                if len(samples) < 10:
                    raise TrainError(f"only {len(samples)} labelled images (sources: {', '.join(sources)}); "
                                     "label more drops before training")
                splits, unit = split_samples(samples, conf["val"], conf["test"], conf["seed"])
        if d.main:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "args.json").write_text(json.dumps({k: v for k, v in conf.items() if k != "resume"}, indent=2))
            if not split_file.is_file():
                save_split(split_file, splits, unit)
            log(f"Run {folder.name} in {folder}")
            log(f"Training images: {describe_counts(splits['train'], scheme.keys)}")
        d.barrier()
        if d.main:
            events.emit("run", run=folder.name, folder=str(folder), archs=archs, device=str(device),
                        train=len(splits["train"]), val=len(splits["val"]), test=len(splits["test"]), split_unit=unit)

        from tqdm import tqdm

        def bar(total: int, desc: str):
            return tqdm(total=total, desc=desc, unit="img", leave=False, disable=None if not events.to_stdout else True,
                        file=sys.stderr)

        results = []
        all_samples = splits["train"] + splits["val"] + splits["test"]
        for arch in archs:
            arch_dir = folder / arch
            done_file = arch_dir / "result.json"
            if done_file.is_file():
                results.append(json.loads(done_file.read_text()))
                log(f"{arch}: already finished in this run (model {results[-1]['model_id']})")
                continue
            if cancel():
                raise KeyboardInterrupt
            size = conf["image_size"] or default_input_size(arch)
            preprocess = Preprocess(input_size=size)
            cache = DecodedCache(all_samples, preprocess)
            if d.main and not cache.ready():
                with bar(len(all_samples), f"decode @{size}px") as b:
                    cache.build(workers=conf["workers"], progress=lambda done, total: b.update(done - b.n),
                                cancel=cancel)
                if cache.failed:
                    log(f"{len(cache.failed)} image(s) could not be decoded and are left out, e.g. "
                        f"{cache.samples[cache.failed[0][0]].path}: {cache.failed[0][1]}")
            d.barrier()
            cache.open() if cache.ready() else cache.build(workers=conf["workers"])
            arch_dir.mkdir(parents=True, exist_ok=True)
            spec = RunSpec(
                arch=arch, run_dir=arch_dir, run_id=f"{folder.name}-{arch}", db=db, scheme=scheme, splits=splits,
                split_unit=unit, preprocess=preprocess, device=device, epochs=conf["epochs"],
                batch_size=conf["batch_size"], lr=conf["lr"] or DEFAULT_LR[family_of(arch)],
                weight_decay=conf["weight_decay"], patience=conf["patience"], balance=conf["balance"],
                seed=conf["seed"], init=conf["init"], amp=amp, workers=conf["workers"], args=conf,
                time_limit_s=60 * conf["time_limit"] if conf.get("time_limit") else None,
            )
            result = fit(spec, cache, d, events, log, cancel=cancel, progress_factory=bar)
            results.append(result)
            if d.main:
                events.emit("run_done", run=spec.run_id, arch=arch, model_id=result["model_id"],
                            metrics={k: result["metrics"].get(k) for k in ("accuracy", "top3_accuracy",
                                     "missed_crystal_rate_top1", "missed_crystal_rate_top3", "train_seconds")})

        if d.main:
            best = best_result(results)
            (folder / "comparison.json").write_text(json.dumps(
                [{"arch": r["arch"], "model_id": r["model_id"], **{k: r["metrics"].get(k) for k in (
                    "accuracy", "top3_accuracy", "missed_crystal_rate_top1", "missed_crystal_rate_top3",
                    "train_seconds", "n")}} for r in results], indent=2))
            log("\n" + _comparison_table(results))
            activated = None
            if best is not None and best["model_id"] is not None:
                with Store(db) as store:
                    if conf["activate"] == "best" or (conf["activate"] == "auto" and store.active_model() is None):
                        store.activate_model(best["model_id"])
                        activated = best["model_id"]
                log(f"Best: {best['arch']} (model {best['model_id']})"
                    + (", now the active model" if activated else "; activate it with `xtalviewer models activate "
                                                                  f"{best['model_id']}`"))
            events.emit("done", run=folder.name, folder=str(folder), best_model_id=best["model_id"] if best else None,
                        activated=activated, results=[{"arch": r["arch"], "model_id": r["model_id"]} for r in results])
        return results
    except KeyboardInterrupt:
        if d.main:
            events.emit("error", message="cancelled; resume with --resume " + str(folder), cancelled=True)
        raise
    except Exception as exc:
        if d.main:
            events.emit("error", message=str(exc), kind=type(exc).__name__)
        raise
    finally:
        events.close()


def evaluate_main(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    from train.data import labelled_samples, samples_from_csv
    from xtalviewer.core.imaging import ImageLoadError, load_rgb
    from xtalviewer.core.inference import Scorer, select_device
    from xtalviewer.core.metrics import compute_metrics
    from xtalviewer.core.models import load_checkpoint
    from xtalviewer.core.store import Store
    from xtalviewer.core.registry import RegistryError, resolve_model

    db = Path(args.db or default_db_path())
    if not db.exists():
        raise TrainError(f"database {db} does not exist")
    with Store(db) as store:
        try:
            model = resolve_model(store, str(args.model), register=False)  # evaluating a file registers nothing
        except RegistryError as exc:
            raise TrainError(str(exc)) from None
        meta, net = load_checkpoint(model["path"], store.scheme)
        problems: list = []
        if args.labels:
            samples, problems = samples_from_csv(store, args.labels)
        else:
            samples = labelled_samples(store)
        if args.plate:
            samples = [s for s in samples if s.plate == args.plate]
        scheme = store.scheme
    if not samples:
        raise TrainError("no labelled images to evaluate on")
    scorer = Scorer(net, meta, select_device(args.device))
    probs, truth, unreadable = [], [], 0
    for start in range(0, len(samples), args.batch_size):
        batch, labels = [], []
        for s in samples[start : start + args.batch_size]:
            try:
                batch.append(meta.preprocess(load_rgb(s.path, min_side=meta.preprocess.decode_min_side())))
                labels.append(s.label)
            except ImageLoadError:
                unreadable += 1
        if batch:
            probs.append(scorer.forward(torch.stack(batch)))
            truth.extend(labels)
    metrics = compute_metrics(truth, np.concatenate(probs) if probs else np.zeros((0, len(scheme.keys))),
                              scheme.keys, scheme.crystal_mask)
    metrics.update(model_id=model["id"], model=model["name"], arch=meta.arch, labels=str(args.labels or "store"),
                   unreadable=unreadable, problem_lines=[f"line {n}: {t}" for n, t in problems])
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from xtalviewer.core.inference import DeviceError
    from xtalviewer.core.labels import SchemeError
    from xtalviewer.core.models import CheckpointError
    from xtalviewer.core.store import StoreError

    clear_errors = (TrainError, StoreError, SchemeError, CheckpointError, DeviceError, ValueError)
    if argv and argv[0] == "export-onnx":
        from train.onnx_export import main as export_main

        return export_main(argv[1:])
    if argv and argv[0] == "evaluate":
        args = build_evaluate_parser().parse_args(argv[1:])
        try:
            print(json.dumps(evaluate_main(args), indent=2))
            return 0
        except clear_errors as exc:
            print(f"xtal-train evaluate: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    args = build_parser().parse_args(argv)
    cancel = threading.Event()

    def on_signal(signum, frame):  # SIGTERM from the app's Cancel: stop at the next batch, keep last.pt
        cancel.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
    started = time.perf_counter()
    try:
        train_main(args, cancel)
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
