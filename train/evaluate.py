"""``xtal-train evaluate``: a model's metrics on a labelled set (the store's labels or a CSV).

The model is scored exactly as the app scores it (its preprocessing, crop and temperature), and hits
count at its own operating point, so these figures are what a reviewer will see.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from train.data import labelled_samples, samples_from_csv
from xtalviewer.crystal_call import softmax
from xtalviewer.imaging.decode import ImageLoadError, load_rgb
from xtalviewer.model.inference import DEVICES, Scorer, select_device
from xtalviewer.model.metrics import compute_metrics, expected_calibration_error
from xtalviewer.model.architectures import load_checkpoint
from xtalviewer.settings import default_db_location
from xtalviewer.store.location import adopt_password, location_of
from xtalviewer.model.registry import RegistryError, resolve_model
from xtalviewer.store.store import Store


class EvaluateError(Exception):
    """A clear reason why there is nothing to evaluate (exit status 2)."""


def build_evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xtal-train evaluate", description="Metrics of a model on a labelled set.")
    p.add_argument("--db", default=None)
    p.add_argument("--model", required=True, metavar="ID|PATH", help="registry id (or a checkpoint path)")
    p.add_argument("--labels", type=Path, default=None, metavar="truth.csv",
                   help="image_path,label CSV (default: the store's human and imported labels)")
    p.add_argument("--plate", default=None, metavar="BARCODE", help="only this plate's images")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--batch-size", type=int, default=32)
    return p


def evaluate_model(args: argparse.Namespace) -> dict:
    db = adopt_password(location_of(args.db or default_db_location()))
    if db.missing:
        raise EvaluateError(f"database {db} does not exist")
    with Store(db, readonly=True) as store:
        try:
            model = resolve_model(store, str(args.model), register=False)  # evaluating a file registers nothing
        except RegistryError as exc:
            raise EvaluateError(str(exc)) from None
        meta, net = load_checkpoint(model.path, store.scheme)
        samples, problems = samples_from_csv(store, args.labels) if args.labels else (labelled_samples(store), [])
        if args.plate:
            samples = [s for s in samples if s.plate == args.plate]
        scheme = store.scheme
    if not samples:
        raise EvaluateError("no labelled images to evaluate on")
    scorer = Scorer(net, meta, select_device(args.device))
    probs, truth, unreadable = [], [], 0
    for start in range(0, len(samples), args.batch_size):
        batch, labels = [], []
        for s in samples[start : start + args.batch_size]:
            try:
                batch.append(torch.from_numpy(meta.preprocess.fit_square(
                    load_rgb(s.path, min_side=meta.preprocess.decode_min_side()))))
                labels.append(s.label)
            except ImageLoadError:
                unreadable += 1
        if batch:
            probs.append(scorer.forward_uint8(torch.stack(batch)))
            truth.extend(labels)
    p = np.concatenate(probs) if probs else np.zeros((0, len(scheme.keys)))
    op = meta.operating_point
    metrics = compute_metrics(truth, p, scheme.keys, scheme.crystal_mask, threshold=op.threshold)
    # calibration before: the same logits at temperature 1 (log p differs from the logits by a constant)
    raw = softmax(np.log(np.clip(p, 1e-12, 1.0)) * op.temperature) if len(p) else p
    metrics.update(model_id=model.id, model=model.name, arch=meta.arch, labels=str(args.labels or "store"),
                   temperature=op.temperature, calibrated=op.calibrated, target_recall=op.target_recall,
                   ece_uncalibrated=expected_calibration_error(truth, raw), crop=meta.preprocess.crop,
                   image_size=meta.preprocess.input_size, unreadable=unreadable,
                   problem_lines=[f"line {n}: {t}" for n, t in problems])
    return metrics
