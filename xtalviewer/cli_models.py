"""The ``xtalviewer`` commands about models: ``models`` (the registry, activation), ``predict`` and
``demo`` (demo plates and the demo model trained on them)."""

from __future__ import annotations

import argparse

from xtalviewer.crystal_call import pct
from xtalviewer.store.location import Location
from xtalviewer.store.store import Store
from xtalviewer.cli_common import CommandError, open_store


def cmd_demo(args: argparse.Namespace) -> int:
    from xtalviewer.synthetic.demo import DemoConfig, run_demo

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise CommandError(f"--size must look like 1224x1024, not {args.size!r}") from None
    config = DemoConfig(
        out=args.out, plates=args.plates, inspections=args.inspections, size=(width, height),
        labelled=args.labelled, seed=args.seed,
    )
    with open_store(args, create=True) as store:
        run_demo(store, config, log=print)
        db = store.location
        has_model = store.active_model() is not None
    if args.no_train or has_model:
        if has_model:
            print("A model is already active; the demo's quick training is skipped (xtal-train retrains).")
        return 0
    return demo_model(db, args)


def demo_model(db: Location, args: argparse.Namespace) -> int:
    """A ResNet for the demo: the shipped base model fine-tuned on the demo's labels (from scratch when
    no base model is installed), calibrated on a held-out demo plate, then every demo drop scored."""
    from train.config import TrainConfig
    from train.warm_start import base_model_path
    from train.run import train
    from xtalviewer.predict import run_predict

    minutes = args.train_minutes
    start = "the shipped base model" if base_model_path("resnet18") else "scratch (no base model installed)"
    print(f"Fine-tuning ResNet-18 from {start} on the demo labels ({minutes:g} min at most; `xtal-train` trains "
          "all four architectures properly)...")
    (result,) = train(TrainConfig(db=db.argument(), arch="resnet", init="active", time_limit=minutes, activate="best",
                                  name="demo"))
    m = result["metrics"]
    print(f"Demo model on its held-out test plate: crystal recall {pct(m.get('crystal_recall'))} at review load "
          f"{pct(m.get('review_load'))} (hit at crystal probability >= {pct(m.get('threshold'))}); top-1 "
          f"{pct(m.get('accuracy'))}; top-3 strategy: recall {pct(m.get('top3_crystal_recall'))}, review load "
          f"{pct(m.get('top3_review_load'))}.")
    # each plate's latest inspection now; the review window scores the others as they are opened
    pargs = argparse.Namespace(db=db, model=None, plate=None, device="auto", batch_size=32, workers=2,
                               retry_errors=False, latest=True)
    run_predict(pargs)
    from xtalviewer.model.real_drops import describe_on_real_drops

    base = base_model_path("resnet18")
    with Store(db, readonly=True) as store:
        demo = store.model(result["model_id"]) if result.get("model_id") else None
    for name, path in (("Shipped base model", base), ("Demo model", demo and demo.path)):
        line = describe_on_real_drops(path) if path else None
        if line:
            print(f"{name} on real drops: {line}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from xtalviewer.model.inference import DeviceError
    from xtalviewer.model.architectures import CheckpointError
    from xtalviewer.predict import PredictError, launch_workers, run_predict

    launched = launch_workers(args)  # --nproc N: N processes under torchrun
    if launched is not None:
        return launched
    try:
        run_predict(args)
    except (PredictError, CheckpointError, DeviceError) as exc:
        raise CommandError(str(exc)) from None
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from xtalviewer.model.metrics import BEST_RULE, HEADLINE

    with open_store(args, readonly=args.action != "activate") as store:
        if args.action == "activate":
            if args.id is None:
                raise CommandError("say which model: xtalviewer models activate ID")
            from xtalviewer.model.registry import RegistryError, activate_model

            try:
                activate_model(store, args.id)
            except RegistryError as exc:
                raise CommandError(str(exc)) from None
            model = store.model(args.id)
            print(f"Active model: {model.name} ({model.id}); {model.operating_point.describe()}. "
                  "The app rescores with it.")
            return 0
        models = store.models()
        if not models:
            print("No models in the registry. Train with `xtal-train` (or run `xtalviewer demo`).")
            return 0
        shown = ("accuracy", "top3_accuracy", "missed_crystal_rate_top1", "missed_crystal_rate_top3", "crystal_recall",
                 "review_load", "balanced_accuracy")
        columns = [(m.short, m.key) for m in HEADLINE if m.key in shown]
        print(f"{'':1} {'id':>3}  {'name':<28} {'arch':<13} {'size':>4} {'crop':<5} "
              + " ".join(f"{title:>9}" for title, _ in columns) + f" {'hit at':>8}  created")
        uncalibrated = False
        for m in models:
            metrics = m.metrics or {}
            op = m.operating_point
            crop = (m.normalization or {}).get("crop", "none")
            threshold = pct(op.threshold) + ("" if op.calibrated else "*")
            uncalibrated |= not op.calibrated
            print(f"{'*' if m.active else ' '} {m.id:>3}  {m.name[:28]:<28} {m.arch:<13} {m.input_size:>4} "
                  f"{crop:<5} " + " ".join(f"{pct(metrics.get(key)):>9}" for _, key in columns)
                  + f" {threshold:>8}  {m.created_at[:16]}")
        print("* = active. Figures are on each run's held-out test plates; recall and load at the model's operating "
              "point (hit = crystal probability >= 'hit at').")
        if uncalibrated:
            print("'hit at' with * : trained before calibration; hits use the old rule, crystal probability >= 50%.")
        print(f"Retrain picks the {BEST_RULE}.")
    return 0
