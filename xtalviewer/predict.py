"""Score drops with a trained model: ``xtalviewer predict``.

With ``--nproc N`` it starts N processes under torchrun (``module_launch``: a folder called
``xtalviewer/`` where it runs cannot stand in for ours); each takes every N-th image of the work
list (GPUs or nodes alike, also under a torchrun of your own) and writes to the same store; rank 0
prints the summary. The store's WAL mode and busy timeout let the writers share the database.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from xtalviewer.model.devices import DEVICES
from xtalviewer.settings import default_db_location
from xtalviewer.store.location import adopt_password, location_of


class PredictError(Exception):
    """A clear reason why predict cannot run; exit status 2."""


def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `xtalviewer predict`, shared with `python -m xtalviewer.predict` (torchrun)."""
    p.add_argument("--model", default=None, metavar="ID|PATH", help="registry id or checkpoint file (default: active)")
    p.add_argument("--plate", default=None, metavar="BARCODE", help="only this plate")
    p.add_argument("--device", default="auto", choices=DEVICES, help="auto: CUDA, then Apple MPS, then CPU")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--workers", type=int, default=2, help="decoding threads")
    p.add_argument("--retry-errors", action="store_true", help="try images marked unreadable again")
    p.add_argument("--latest", action="store_true",
                   help="only each plate's latest inspection (the app scores the others when they are opened)")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="score in N processes on this computer (one per GPU), started through torchrun")


def worker_arguments(args: argparse.Namespace) -> list[str]:
    """The options of ``args`` again, for each worker of ``--nproc`` (which the workers do not get); a
    password in a database URL travels in PGPASSWORD, never on a command line."""
    argv = [] if args.db is None else ["--db", adopt_password(location_of(args.db)).argument()]
    for option, value in (("--model", args.model), ("--plate", args.plate)):
        argv += [] if value is None else [option, str(value)]
    argv += ["--device", args.device, "--batch-size", str(args.batch_size), "--workers", str(args.workers)]
    return argv + ["--retry-errors"] * args.retry_errors + ["--latest"] * args.latest


def launch_workers(args: argparse.Namespace) -> int | None:
    """``--nproc N`` (outside torchrun): run N workers and return their exit status; None: score here."""
    if args.nproc <= 1 or "WORLD_SIZE" in os.environ:
        return None
    from xtalviewer.module_launch import run_distributed

    return run_distributed("xtalviewer.predict", args.nproc, worker_arguments(args), "xtalviewer predict")


def _distributed() -> tuple[int, int]:
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    rank = dist.get_rank() if dist.is_initialized() else 0
    return rank, world


def run_predict(args: argparse.Namespace, log=print) -> dict:
    """Score every image that lacks a current prediction; returns the run's figures."""
    import torch
    import torch.distributed as dist

    from xtalviewer.model.inference import (Scorer, ScoringRun, describe_device, select_device, set_aside_unmapped,
                                            unmapped_lines, work_list)
    from xtalviewer.labels import SchemeError
    from xtalviewer.model.architectures import CheckpointError, load_checkpoint
    from xtalviewer.model.registry import RegistryError, resolve_model
    from xtalviewer.store.store import Store

    rank, world = _distributed()
    db = adopt_password(location_of(args.db or default_db_location()))
    if db.path is not None and not db.path.exists():
        raise PredictError(f"database {db} does not exist; import plates first (`xtalviewer import` or `xtalviewer demo`)")
    store = Store(db)
    try:
        if world == 1:
            try:
                model = resolve_model(store, args.model)
            except RegistryError as exc:
                raise PredictError(str(exc)) from None
        else:
            # rank 0 resolves (and may register) the model; the others take its answer, error included
            answer: list = [None]
            if rank == 0:
                try:
                    answer = [resolve_model(store, args.model).id]
                except (RegistryError, CheckpointError, SchemeError) as exc:
                    answer = [f"error: {exc}"]
            dist.broadcast_object_list(answer, src=0)
            if isinstance(answer[0], str):
                raise PredictError(answer[0].removeprefix("error: "))
            model = store.model(answer[0])
        plate_id = None
        if args.plate:
            plate = store.plate_by_barcode(args.plate)
            if plate is None:
                raise PredictError(f"no plate '{args.plate}' in {store.location}")
            plate_id = plate.id
        items = work_list(store, model.id, plate_id=plate_id, retry_errors=args.retry_errors,
                          latest_only=getattr(args, "latest", False))
        items, unmapped = set_aside_unmapped(items)  # under an image root this workstation does not map
        # the images of the model's own mode: UV and SHG images are never "already scored" by a visible model
        total_images, marked = store.image_counts(plate_id, mode=model.mode)
        other_modes = store.image_counts(plate_id)[0] - total_images
        # with --latest, the earlier inspections' unscored images wait for the app (or a later run)
        left = len(set_aside_unmapped(work_list(store, model.id, plate_id=plate_id,
                                                retry_errors=args.retry_errors))[0]) - len(items) \
            if getattr(args, "latest", False) else 0
        # images marked unreadable earlier are skipped (unless --retry-errors); say how many
        skipped_unreadable = 0 if args.retry_errors else (marked or 0)
        meta, net = load_checkpoint(model.path, store.scheme)
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
    run = ScoringRun(scorer, items, db_path=db, model_id=model.id, batch_size=args.batch_size, workers=args.workers)

    from tqdm import tqdm

    with tqdm(total=len(items), desc=f"predict {model.name}", unit="img", disable=None if rank == 0 else True,
              leave=False) as bar:
        for _ in run:
            bar.update(1)
    # count what the writer committed, not what went through the model: a summary claims stored rows only
    figures = torch.tensor([run.stored, run.errors, len(items), float(run.error is not None)],
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
        "model": model.name, "model_id": model.id, "device": describe_device(device), "processes": world,
        "scored": scored, "unreadable": errors, "skipped_unreadable": skipped_unreadable,
        "cached": total_images - todo - skipped_unreadable - left - sum(unmapped.values()), "left_for_later": left,
        "other_modes": other_modes, "unmapped_roots": unmapped,
        "seconds": run_seconds,
        "images_per_s": scored / run_seconds if run_seconds > 0 else 0.0, "error": run.error,
    }
    if run.error:  # any stage stopped the run: one line (the store's busy or read-only reason, NaN, ...)
        raise PredictError(f"{run.error} ({run.stored} of {len(items)} were stored before that)")
    if rank == 0 and not failed:
        from xtalviewer.crystal_call import pct

        with Store(db, readonly=True) as store:
            calls = store.hit_counts(model.id, plate_id)
        op = model.operating_point
        result.update(hits=calls.hits, crystal_top3=calls.crystal_top3, threshold=op.threshold)
        log(f"Scored {scored} image{'s' * (scored != 1)} with {model.name} ({meta.arch}@{meta.input_size}) on "
            f"{result['device']}{f' x {world} processes' if world > 1 else ''} in {run_seconds:.1f} s: "
            f"{result['images_per_s']:.1f} img/s; {result['cached']} already scored, {errors} unreadable (marked)"
            + (f", {skipped_unreadable} skipped as marked unreadable earlier (--retry-errors tries them again)"
               if skipped_unreadable else "")
            + (f", {left} in earlier inspections left for later (the app scores an inspection when it is opened)"
               if left else "")
            + (f"; {other_modes} images of other imaging modes are not this model's to score" if other_modes else "")
            + ".")
        for line in unmapped_lines(unmapped):
            log(line)
        log(f"Hits: {calls.hits} of {calls.scored} scored drops at the operating point (crystal probability >= "
            f"{pct(op.threshold)}{'' if op.calibrated else ', not calibrated: the old 50% rule'}); "
            f"{calls.crystal_top3} with a crystal class in the top 3.")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    import torch.distributed as dist

    from xtalviewer.model.inference import DeviceError
    from xtalviewer.labels import SchemeError
    from xtalviewer.model.architectures import CheckpointError
    from xtalviewer.store.store import StoreError

    p = argparse.ArgumentParser(prog="xtalviewer predict", description="Score drop images with a trained model.")
    p.add_argument("--db", default=None, help=f"database: a file or postgresql:// URL (default {default_db_location()})")
    add_predict_arguments(p)
    args = p.parse_args(argv)
    launched = launch_workers(args)
    if launched is not None:
        return launched
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
