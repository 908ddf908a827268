"""Score drops with a trained model: ``xtalviewer predict`` and ``python -m xtalviewer.predict``.

Under ``torchrun --nproc_per_node=N -m xtalviewer.predict ...`` every process takes every N-th
image of the work list (GPUs or nodes alike) and writes to the same store; rank 0 prints the
summary. The store's WAL mode and busy timeout let the writers share the database.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.distributed as dist

from xtalviewer.cli import add_predict_arguments
from xtalviewer.core.inference import DeviceError, Scorer, ScoringRun, describe_device, select_device, work_list
from xtalviewer.core.labels import SchemeError
from xtalviewer.core.models import CheckpointError, file_sha256, load_checkpoint
from xtalviewer.core.paths import default_db_path
from xtalviewer.core.store import Store, StoreError

NO_MODEL_HELP = (
    "there is no trained model in the registry. Train one with `xtal-train --db DB` (all four architectures) or "
    "`xtal-train --arch resnet --db DB`, or run `xtalviewer demo`, which ends with a trained ResNet; "
    "then run predict again (or pass --model PATH to a checkpoint)."
)


class PredictError(Exception):
    """A clear reason why predict cannot run; exit status 2."""


def resolve_model(store: Store, ref: str | None) -> dict:
    """Registry row for an id, a checkpoint path (registered on first use) or the active model."""
    if ref is None:
        model = store.active_model()
        if model is None:
            raise PredictError(NO_MODEL_HELP if not store.models() else
                               "no model is active; choose one with `xtalviewer models activate ID` or pass --model")
        return model
    if ref.isdigit():
        model = store.model(int(ref))
        if model is None:
            raise PredictError(f"no model {ref} in the registry (see `xtalviewer models`)")
        return model
    path = Path(ref).absolute()
    meta, _ = load_checkpoint(path, store.scheme)
    digest = file_sha256(path)
    for model in store.models():
        if model["sha256"] == digest:
            return model
    model_id = store.add_model(
        name=path.stem if path.stem not in ("best", "model") else f"{meta.arch}-{meta.run_id or path.parent.name}",
        arch=meta.arch, classes=meta.classes, input_size=meta.input_size, path=str(path),
        normalization={"mean": list(meta.preprocess.mean), "std": list(meta.preprocess.std),
                       "fit": meta.preprocess.fit},
        run_id=meta.run_id, metrics=meta.metrics, sha256=digest,
    )
    return store.model(model_id)


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    rank = dist.get_rank() if dist.is_initialized() else 0
    return rank, world


def run_predict(args: argparse.Namespace, log=print) -> dict:
    """Score every image that lacks a current prediction; returns the run's figures."""
    rank, world = _distributed()
    db = args.db or default_db_path()
    if not Path(db).exists():
        raise PredictError(f"database {db} does not exist; import plates first (`xtalviewer import` or `xtalviewer demo`)")
    store = Store(db)
    try:
        if world == 1:
            model = resolve_model(store, args.model)
        else:
            # rank 0 resolves (and may register) the model; the others take its answer, error included
            answer: list = [None]
            if rank == 0:
                try:
                    answer = [resolve_model(store, args.model)["id"]]
                except (PredictError, CheckpointError, SchemeError) as exc:
                    answer = [f"error: {exc}"]
            dist.broadcast_object_list(answer, src=0)
            if isinstance(answer[0], str):
                raise PredictError(answer[0].removeprefix("error: "))
            model = store.model(answer[0])
        plate_id = None
        if args.plate:
            plate = store.plate_by_barcode(args.plate)
            if plate is None:
                raise PredictError(f"no plate '{args.plate}' in {store.path}")
            plate_id = plate["id"]
        items = work_list(store, model["id"], plate_id=plate_id, retry_errors=args.retry_errors)
        scope = (" WHERE plate_id = ?", (plate_id,)) if plate_id else ("", ())
        total_images, marked = store.conn.execute(
            f"SELECT COUNT(*), SUM(load_error IS NOT NULL) FROM image{scope[0]}", scope[1]).fetchone()
        # images marked unreadable earlier are skipped (unless --retry-errors); say how many
        skipped_unreadable = 0 if args.retry_errors else (marked or 0)
        meta, net = load_checkpoint(model["path"], store.scheme)
    finally:
        store.close()

    if world > 1:
        items = items[rank::world]
    if args.device == "auto" and world > 1 and torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
    else:
        device = select_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    scorer = Scorer(net, meta, device)
    run = ScoringRun(scorer, items, db_path=db, model_id=model["id"], batch_size=args.batch_size, workers=args.workers)

    from tqdm import tqdm

    with tqdm(total=len(items), desc=f"predict {model['name']}", unit="img", disable=None if rank == 0 else True,
              leave=False) as bar:
        for _ in run:
            bar.update(1)
    # count what the writer committed, not what went through the model: a summary claims stored rows only
    figures = torch.tensor([run.stored, run.errors, len(items), float(run.write_error is not None)],
                           dtype=torch.float64)
    if world > 1:
        dist.all_reduce(figures)
        seconds = torch.tensor([run.seconds], dtype=torch.float64)
        dist.all_reduce(seconds, op=dist.ReduceOp.MAX)
        run_seconds = float(seconds[0])
    else:
        run_seconds = run.seconds
    scored, errors, todo, failed = (int(v) for v in figures)
    result = {
        "model": model["name"], "model_id": model["id"], "device": describe_device(device), "processes": world,
        "scored": scored, "unreadable": errors, "skipped_unreadable": skipped_unreadable,
        "cached": total_images - todo - skipped_unreadable, "seconds": run_seconds,
        "images_per_s": scored / run_seconds if run_seconds > 0 else 0.0, "write_error": run.write_error,
    }
    if run.write_error:
        raise PredictError(f"predictions could not be stored: {run.write_error} ({run.stored} of {len(items)} were "
                           "stored before that; predict scores the rest when run again)")
    if rank == 0 and not failed:
        log(f"Scored {scored} image{'s' * (scored != 1)} with {model['name']} ({meta.arch}@{meta.input_size}) on "
            f"{result['device']}{f' x {world} processes' if world > 1 else ''} in {run_seconds:.1f} s: "
            f"{result['images_per_s']:.1f} img/s; {result['cached']} already scored, {errors} unreadable (marked)"
            + (f", {skipped_unreadable} skipped as marked unreadable earlier (--retry-errors tries them again)"
               if skipped_unreadable else "") + ".")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="xtalviewer predict", description="Score drop images with a trained model.")
    p.add_argument("--db", type=Path, default=None, help=f"database (default {default_db_path()})")
    add_predict_arguments(p)
    args = p.parse_args(argv)
    try:
        run_predict(args)
        return 0
    except (PredictError, StoreError, SchemeError, CheckpointError, DeviceError) as exc:
        print(f"xtalviewer predict: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
