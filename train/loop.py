"""Train one architecture: epochs over the decoded cache, early stopping on validation loss,
the best checkpoint, test metrics, and registration of the model once (and only once) it is done.

Plain functions in the manner of torchvision's reference scripts: ``train_one_epoch``,
``evaluate`` and ``fit``; the run folder holds args.json, summary.csv, last.pt (to resume),
best.pt (an xtalviewer checkpoint) and metrics.json.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from train.augment import augment, to_input
from train.data import DecodedCache, Sample, sample_weights
from train.events import EventWriter
from xtalviewer.core.labels import LabelScheme
from xtalviewer.core.metrics import compute_metrics, headline
from xtalviewer.core.models import (
    CheckpointMeta,
    Preprocess,
    build_model,
    file_sha256,
    imagenet_state_dict,
    load_backbone_weights,
    read_checkpoint,
    save_checkpoint,
)
from xtalviewer.core.store import Store

SUMMARY_COLUMNS = (
    "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_top3_accuracy",
    "val_missed_crystal_top1", "val_missed_crystal_top3", "lr", "seconds", "images_per_s",
)
# AdamW learning rates that train each family from scratch without diverging
DEFAULT_LR = {"resnet": 1e-3, "inception": 1e-3, "vgg": 5e-4, "alexnet": 1e-4}


@dataclass
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


@dataclass
class RunSpec:
    """Everything one architecture's run needs; ``args`` is what goes to args.json."""

    arch: str
    run_dir: Path
    run_id: str
    db: Path
    scheme: LabelScheme
    splits: dict[str, list[Sample]]
    split_unit: str
    preprocess: Preprocess
    device: torch.device
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    patience: int
    balance: str
    seed: int
    init: str | None
    amp: torch.dtype | None  # autocast type (float16 on CUDA, bfloat16 on a capable CPU), None: float32
    workers: int
    args: dict = field(default_factory=dict)
    time_limit_s: float | None = None


class Cancelled(KeyboardInterrupt):
    """Raised between batches when the run is asked to stop (Cancel in the app, SIGTERM)."""


def _init_weights(model: nn.Module, spec: RunSpec, log: Callable[[str], None]) -> str:
    """Apply --init and return what was used, in words (it goes into the checkpoint and the log)."""
    if not spec.init:
        return "random initialisation"
    if spec.init == "imagenet":
        state = imagenet_state_dict(spec.arch)
        if state is None:
            log(f"ImageNet weights for {spec.arch} are not in the local torch cache "
                f"({torch.hub.get_dir()}/checkpoints); starting from random initialisation instead")
            return "random initialisation (ImageNet weights not cached)"
        copied, skipped = load_backbone_weights(model, state)
        return f"ImageNet weights from the torch cache ({copied} tensors; {skipped} new, the head)"
    path = Path(spec.init)
    try:
        _, state = read_checkpoint(path)
    except Exception:
        state = torch.load(path, map_location="cpu", weights_only=True)  # a plain state dict
        if not isinstance(state, dict):
            raise ValueError(f"--init {path}: neither an xtalviewer checkpoint nor a state dict") from None
    copied, skipped = load_backbone_weights(model, state)
    if copied == 0:
        raise ValueError(f"--init {path}: no weights match {spec.arch}; is it a checkpoint of another architecture?")
    return f"weights from {path} ({copied} tensors; {skipped} new)"


def _lr_at(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def epoch_indices(weights: np.ndarray, seed: int, epoch: int, d: Dist) -> np.ndarray:
    """This rank's share of the epoch's weighted sample (same draw on every rank, then dealt out)."""
    rng = np.random.default_rng([seed, epoch])
    p = weights / weights.sum()
    chosen = rng.choice(len(weights), size=len(weights), replace=True, p=p)
    return chosen[d.rank :: d.world]


def train_one_epoch(model, optimizer, data: np.ndarray, labels: np.ndarray, indices: np.ndarray, spec: RunSpec,
                    step0: int, total_steps: int, events: EventWriter, epoch: int, gen: torch.Generator,
                    scaler, cancel: Callable[[], bool], progress: Callable[[int], None] | None) -> tuple[float, float, int]:
    model.train()
    bs = spec.batch_size
    n_batches = max(1, len(indices) // bs) if len(indices) >= bs else 1
    loss_sum = correct = seen = 0
    step = step0
    warmup = max(1, total_steps // (5 * max(1, spec.epochs)))
    for b in range(n_batches):
        if cancel():
            raise Cancelled()
        idx = np.sort(indices[b * bs : (b + 1) * bs])  # sorted reads are kinder to a memmap
        x_u8 = torch.from_numpy(np.ascontiguousarray(data[idx])).to(spec.device, non_blocking=True)
        y = torch.from_numpy(labels[idx]).to(spec.device)
        x = augment(x_u8, spec.preprocess, gen).contiguous(memory_format=torch.channels_last)
        lr = _lr_at(step, total_steps, spec.lr, warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast(spec.device.type, dtype=spec.amp or torch.float32, enabled=spec.amp is not None):
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        step += 1
        loss_sum += loss.item() * len(idx)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(idx)
        if progress:
            progress(len(idx))
        events.batch(run=spec.run_id, arch=spec.arch, epoch=epoch, batch=b + 1, batches=n_batches,
                     loss=round(loss.item(), 4), lr=lr)
    return loss_sum / max(1, seen), correct / max(1, seen), step


@torch.inference_mode()
def evaluate(model, data: np.ndarray, labels: np.ndarray, indices: np.ndarray, spec: RunSpec, d: Dist,
             batch_size: int = 64) -> tuple[float | None, np.ndarray, np.ndarray]:
    """(mean loss, probabilities, truth) over ``indices``, shared out across ranks and gathered back."""
    model.eval()
    mine = indices[d.rank :: d.world]
    probs, truth, loss_sum = [], [], 0.0
    for start in range(0, len(mine), batch_size):
        idx = mine[start : start + batch_size]
        x = to_input(torch.from_numpy(np.ascontiguousarray(data[idx])).to(spec.device), spec.preprocess)
        x = x.contiguous(memory_format=torch.channels_last)
        y = torch.from_numpy(labels[idx]).to(spec.device)
        with torch.autocast(spec.device.type, dtype=spec.amp or torch.float32, enabled=spec.amp is not None):
            logits = model(x)
        loss_sum += float(F.cross_entropy(logits.float(), y, reduction="sum"))
        probs.append(torch.softmax(logits.float(), 1).cpu().numpy())
        truth.append(labels[idx])
    p = np.concatenate(probs) if probs else np.zeros((0, len(spec.scheme.keys)), np.float32)
    t = np.concatenate(truth) if truth else np.zeros(0, np.int64)
    if d.world > 1:
        gathered: list = [None] * d.world
        dist.all_gather_object(gathered, (p, t, loss_sum))
        p = np.concatenate([g[0] for g in gathered])
        t = np.concatenate([g[1] for g in gathered])
        loss_sum = sum(g[2] for g in gathered)
    n = len(t)
    return (loss_sum / n if n else None), p, t


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _meta(spec: RunSpec, init_text: str, metrics: dict | None = None) -> CheckpointMeta:
    return CheckpointMeta(arch=spec.arch, scheme_id=spec.scheme.id, classes=spec.scheme.keys,
                          crystal=spec.scheme.crystal_mask, preprocess=spec.preprocess, run_id=spec.run_id,
                          metrics=metrics, init=init_text)


def fit(spec: RunSpec, cache: DecodedCache, d: Dist, events: EventWriter, log: Callable[[str], None],
        cancel: Callable[[], bool] = lambda: False, progress_factory=None) -> dict:
    """Train, early-stop, evaluate on the test split and register; resumes from last.pt when present."""
    run_dir = spec.run_dir
    torch.manual_seed(spec.seed)
    split_index: dict[str, np.ndarray] = {}
    position = {s.image_id: i for i, s in enumerate(cache.samples)}
    ok = cache.ok
    for name, samples in spec.splits.items():
        split_index[name] = np.array([position[s.image_id] for s in samples if ok[position[s.image_id]]], dtype=np.int64)
    labels = np.array([s.label for s in cache.samples], dtype=np.int64)
    data = cache.array
    train_idx = split_index["train"]
    if len(train_idx) == 0:
        raise ValueError("no training images: label some drops first (or check --sources)")
    weights = sample_weights([cache.samples[i] for i in train_idx], len(spec.scheme.keys), spec.balance)

    model = build_model(spec.arch, len(spec.scheme.keys), spec.preprocess.input_size)
    init_text = _init_weights(model, spec, log)
    model = model.to(spec.device).to(memory_format=torch.channels_last)  # faster on CPU and GPU alike
    if d.world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[spec.device.index] if spec.device.type == "cuda" else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    scaler = torch.amp.GradScaler("cuda") if spec.amp == torch.float16 and spec.device.type == "cuda" else None

    steps_per_epoch = max(1, (len(train_idx) // d.world) // spec.batch_size) if len(train_idx) // d.world >= spec.batch_size else 1
    total_steps = steps_per_epoch * spec.epochs
    start_epoch, step, best_loss, bad_epochs, best_epoch = 1, 0, math.inf, 0, 0
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if last_path.is_file():
        state = torch.load(last_path, map_location="cpu", weights_only=True)
        _unwrap(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, step = state["epoch"] + 1, state["step"]
        best_loss, bad_epochs, best_epoch = state["best_loss"], state["bad_epochs"], state["best_epoch"]
        init_text = state.get("init", init_text)
        log(f"{spec.arch}: resuming after epoch {state['epoch']} (best validation loss {best_loss:.4f})")
    gen = torch.Generator().manual_seed(spec.seed * 1000 + start_epoch + d.rank)

    if d.main:
        events.emit("start", run=spec.run_id, arch=spec.arch, epochs=spec.epochs, image_size=spec.preprocess.input_size,
                    train=len(train_idx), val=len(split_index["val"]), test=len(split_index["test"]),
                    split_unit=spec.split_unit, device=str(spec.device), init=init_text, resumed_from=start_epoch - 1)
        log(f"{spec.arch}@{spec.preprocess.input_size}: {len(train_idx)} train / {len(split_index['val'])} val / "
            f"{len(split_index['test'])} test images (split by {spec.split_unit}); {init_text}; device {spec.device}")
    started = time.perf_counter()
    stopped_early = False
    epoch = start_epoch - 1
    for epoch in range(start_epoch, spec.epochs + 1):
        t0 = time.perf_counter()
        if d.main:
            events.emit("epoch_start", run=spec.run_id, arch=spec.arch, epoch=epoch, epochs=spec.epochs)
        indices = epoch_indices(weights, spec.seed, epoch, d)
        indices = train_idx[indices]
        bar = progress_factory(len(indices), f"{spec.arch} epoch {epoch}/{spec.epochs}") if (progress_factory and d.main) else None
        try:
            train_loss, train_acc, step = train_one_epoch(
                model, optimizer, data, labels, indices, spec, step, total_steps, events if d.main else EventWriter(None),
                epoch, gen, scaler, cancel, bar.update if bar else None)
        finally:
            if bar:
                bar.close()
        val_idx = split_index["val"] if len(split_index["val"]) else train_idx
        val_loss, val_probs, val_truth = evaluate(model, data, labels, val_idx, spec, d)
        m = compute_metrics(val_truth, val_probs, spec.scheme.keys, spec.scheme.crystal_mask)
        seconds = time.perf_counter() - t0
        row = {
            "epoch": epoch, "train_loss": round(train_loss, 5), "train_accuracy": round(train_acc, 5),
            "val_loss": round(val_loss, 5) if val_loss is not None else "", "val_accuracy": _r(m["accuracy"]),
            "val_top3_accuracy": _r(m["top3_accuracy"]), "val_missed_crystal_top1": _r(m["missed_crystal_rate_top1"]),
            "val_missed_crystal_top3": _r(m["missed_crystal_rate_top3"]),
            "lr": f"{optimizer.param_groups[0]['lr']:.3g}", "seconds": round(seconds, 2),
            "images_per_s": round(len(indices) * d.world / seconds, 2),
        }
        if spec.time_limit_s and epoch == start_epoch:
            # fit the learning-rate schedule to the epochs the time limit allows, so it still anneals
            fits = max(epoch, int(spec.time_limit_s / max(seconds, 1e-6)))
            total_steps = steps_per_epoch * min(spec.epochs, fits)
        improved = val_loss is not None and val_loss < best_loss - 1e-4
        if improved:
            best_loss, bad_epochs, best_epoch = val_loss, 0, epoch
        else:
            bad_epochs += 1
        if d.main:
            if improved:
                save_checkpoint(best_path, _unwrap(model), _meta(spec, init_text))
            torch.save({"model": _unwrap(model).state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                        "step": step, "best_loss": best_loss, "bad_epochs": bad_epochs, "best_epoch": best_epoch,
                        "init": init_text}, run_dir / "last.pt.part")
            (run_dir / "last.pt.part").replace(last_path)
            _append_summary(run_dir / "summary.csv", row)
            events.emit("epoch_end", run=spec.run_id, arch=spec.arch, **row, best=improved)
            log(f"{spec.arch} epoch {epoch}/{spec.epochs}: train loss {train_loss:.4f}, val loss "
                f"{val_loss if val_loss is None else round(val_loss, 4)}, val {headline(m)} ({seconds:.1f} s)")
        d.barrier()
        if bad_epochs >= spec.patience:
            stopped_early = True
            if d.main:
                log(f"{spec.arch}: stopping early, validation loss has not improved for {spec.patience} epochs")
            break
        if spec.time_limit_s and time.perf_counter() - started + seconds > spec.time_limit_s:
            stopped_early = True  # the next epoch would run past the time limit
            if d.main:
                log(f"{spec.arch}: stopping at the time limit ({spec.time_limit_s / 60:.1f} min); best epoch {best_epoch}")
            break
    train_seconds = time.perf_counter() - started

    # test the best checkpoint, then (and only then) register it
    _, state = read_checkpoint(best_path) if best_path.is_file() else (None, _unwrap(model).state_dict())
    _unwrap(model).load_state_dict(state)
    test_idx = split_index["test"]
    test_loss, test_probs, test_truth = evaluate(model, data, labels, test_idx, spec, d)
    metrics = compute_metrics(test_truth, test_probs, spec.scheme.keys, spec.scheme.crystal_mask)
    metrics.update(split="test", split_unit=spec.split_unit, loss=test_loss, best_epoch=best_epoch,
                   epochs_run=epoch, stopped_early=stopped_early, train_seconds=round(train_seconds, 1),
                   arch=spec.arch, image_size=spec.preprocess.input_size, init=init_text)
    result = {"arch": spec.arch, "run_id": spec.run_id, "metrics": metrics, "model_id": None}
    if d.main:
        save_checkpoint(best_path, _unwrap(model), _meta(spec, init_text, _headline_metrics(metrics)))
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        events.emit("metrics", run=spec.run_id, arch=spec.arch, metrics=metrics)
        log(f"{spec.arch} test: {headline(metrics)}")
        with Store(spec.db) as store:
            model_id = store.add_model(
                name=f"{spec.arch}-{spec.run_id}", arch=spec.arch, classes=spec.scheme.keys,
                input_size=spec.preprocess.input_size, path=str(best_path.absolute()),
                normalization={"mean": list(spec.preprocess.mean), "std": list(spec.preprocess.std),
                               "fit": spec.preprocess.fit},
                run_id=spec.run_id, metrics=_headline_metrics(metrics), sha256=file_sha256(best_path),
            )
        result["model_id"] = model_id
        (run_dir / "result.json").write_text(json.dumps(result, indent=2))
        last_path.unlink(missing_ok=True)  # finished: the resume state is no longer needed
        events.emit("registered", run=spec.run_id, arch=spec.arch, model_id=model_id)
    if d.world > 1:
        box = [result["model_id"]]
        dist.broadcast_object_list(box, src=0)
        result["model_id"] = box[0]
    return result


def _headline_metrics(m: dict) -> dict:
    """What the registry keeps: the headline figures plus the confusion matrix for the app."""
    keep = ("accuracy", "top3_accuracy", "missed_crystal_rate_top1", "missed_crystal_rate_top3", "n", "crystal_images",
            "confusion_matrix", "classes", "per_class", "train_seconds", "best_epoch", "epochs_run", "split_unit",
            "image_size", "init")
    return {k: m[k] for k in keep if k in m}


def _r(v: float | None) -> float | str:
    return "" if v is None else round(v, 5)


def _append_summary(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=SUMMARY_COLUMNS)
        if new:
            w.writeheader()
        w.writerow(row)
