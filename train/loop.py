"""The epoch loop: batches in, a trained model and its best checkpoint out.

Plain functions in the manner of torchvision's reference scripts: ``train_one_epoch`` over a batch
iterator, ``evaluate`` returning logits, and ``fit`` with early stopping on the validation loss, a
stock warm-up + cosine schedule (``LambdaLR``), ``last.pt`` to resume and ``summary.csv`` per epoch.
Nothing here registers models or knows about run folders beyond its own: that is ``train.run``.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from train.augment import augment, to_input
from train.events import EventWriter
from xtalviewer.crystal_call import DEFAULT_TARGET_RECALL, crystal_probability, softmax
from xtalviewer.model.calibration import choose_threshold
from xtalviewer.labels import LabelScheme
from xtalviewer.model.metrics import compute_metrics, headline
from xtalviewer.model.architectures import CheckpointMeta, Preprocess, non_finite_tensors, save_checkpoint

SUMMARY_COLUMNS = (
    "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_top3_accuracy",
    "val_missed_crystal_top1", "val_missed_crystal_top3", "val_balanced_accuracy", "val_ece",
    "val_review_load", "val_top3_review_load", "lr", "seconds", "images_per_s",
)


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
class LoopSpec:
    """What the epoch loop needs for one architecture."""

    arch: str
    run_dir: Path
    run_id: str
    scheme: LabelScheme
    preprocess: Preprocess
    device: torch.device
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    patience: int
    seed: int
    amp: torch.dtype | None  # autocast type (float16 on CUDA, bfloat16 on a capable CPU), None: float32
    crystal_weight: float = 0.0
    target_recall: float = DEFAULT_TARGET_RECALL
    time_limit_s: float | None = None
    init_text: str = "random initialisation"
    extra: dict = field(default_factory=dict)


@dataclass
class FitResult:
    best_path: Path
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    train_seconds: float
    best_val: tuple[np.ndarray, np.ndarray] | None = None  # validation (logits, truth) of the best epoch


class Cancelled(KeyboardInterrupt):
    """Raised between batches when the run is asked to stop (Cancel in the app, SIGTERM)."""


class TrainingDiverged(Exception):
    """The loss or the weights became NaN or infinite: nothing the model computes from then on
    means anything, so the run stops before it can save, calibrate or register such a model."""


DIVERGED_ADVICE = (": training stopped and nothing was registered. Start from other weights (--init scratch or "
                   "another checkpoint), or lower the learning rate (--lr)")


def loss_is_finite(loss: torch.Tensor) -> bool:
    """On every rank at once (a rank that stopped alone would leave the others waiting in a collective)."""
    finite = torch.isfinite(loss.detach()).float().reshape(1)
    if dist.is_initialized():
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    return bool(finite.item())


def crystal_aware_loss(logits: torch.Tensor, y: torch.Tensor, crystal: torch.Tensor, weight: float) -> torch.Tensor:
    """Cross-entropy over the classes plus ``weight`` x a crystal-vs-rest cross-entropy on the summed
    crystal probability: a crystal drop is then penalised for leaking probability to non-crystal
    classes even when its own crystal class is confused with another crystal class."""
    logp = F.log_softmax(logits.float(), dim=1)
    loss = F.nll_loss(logp, y)
    if weight > 0:
        log_crystal = torch.logsumexp(logp[:, crystal], dim=1)
        log_rest = torch.logsumexp(logp[:, ~crystal], dim=1)
        is_crystal = crystal[y]
        loss = loss + weight * -torch.where(is_crystal, log_crystal, log_rest).mean()
    return loss


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup: int, horizon: dict) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine decay to zero at ``horizon['steps']`` (a dict, so a time limit can
    shorten the horizon after the first epoch and the schedule still anneals)."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, horizon["steps"] - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def epochs_that_fit(seconds_left: float, batch_seconds: float, n_batches: int, val_images: int,
                    batch_size: int) -> int:
    """How many whole epochs fit in ``seconds_left``, from the time of one training batch measured
    early in the first epoch (validation: a forward pass over its images, about a third of a step)."""
    epoch_seconds = batch_seconds * (n_batches + val_images / max(1, batch_size) / 3)
    return max(1, int(seconds_left / max(epoch_seconds, 1e-6)))


def epoch_indices(weights: np.ndarray, seed: int, epoch: int, d: Dist) -> np.ndarray:
    """This rank's share of the epoch's weighted sample (same draw on every rank, then dealt out)."""
    rng = np.random.default_rng([seed, epoch])
    chosen = rng.choice(len(weights), size=len(weights), replace=True, p=weights / weights.sum())
    return chosen[d.rank :: d.world]


def batches(data: np.ndarray, labels: np.ndarray, indices: np.ndarray, batch_size: int,
            device: torch.device, drop_last: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(uint8 images (B, S, S, 3), labels) on ``device``; sorted reads within a batch suit a memmap."""
    n = len(indices)
    count = max(1, n // batch_size) if drop_last and n >= batch_size else math.ceil(n / batch_size)
    for b in range(count):
        idx = np.sort(indices[b * batch_size : (b + 1) * batch_size])
        yield (torch.from_numpy(np.ascontiguousarray(data[idx])).to(device, non_blocking=True),
               torch.from_numpy(labels[idx]).to(device))


def train_one_epoch(model: nn.Module, batch_iter, optimizer, scheduler, spec: LoopSpec,
                    gen: torch.Generator, scaler, crystal: torch.Tensor, cancel: Callable[[], bool],
                    on_batch: Callable[[int, float, int], None]) -> tuple[float, float]:
    """One pass over ``batch_iter``; returns (mean loss, accuracy) on the augmented batches."""
    model.train()
    loss_sum = correct = seen = 0
    for b, (x_u8, y) in enumerate(batch_iter):
        if cancel():
            raise Cancelled()
        x = augment(x_u8, spec.preprocess, gen).contiguous(memory_format=torch.channels_last)
        with torch.autocast(spec.device.type, dtype=spec.amp or torch.float32, enabled=spec.amp is not None):
            logits = model(x)
        loss = crystal_aware_loss(logits, y, crystal, spec.crystal_weight)
        if not loss_is_finite(loss):
            raise TrainingDiverged(f"batch {b + 1}")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        scheduler.step()
        loss_sum += loss.item() * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        on_batch(b + 1, loss.item(), len(y))
    return loss_sum / max(1, seen), correct / max(1, seen)


@torch.inference_mode()
def evaluate(model: nn.Module, data: np.ndarray, labels: np.ndarray, indices: np.ndarray, spec: LoopSpec, d: Dist,
             batch_size: int = 64) -> tuple[float | None, np.ndarray, np.ndarray]:
    """(mean cross-entropy, logits, truth) over ``indices``, shared out across ranks and gathered back."""
    model.eval()
    logits_out, truth, loss_sum = [], [], 0.0
    for x_u8, y in batches(data, labels, indices[d.rank :: d.world], batch_size, spec.device, drop_last=False):
        x = to_input(x_u8, spec.preprocess).contiguous(memory_format=torch.channels_last)
        with torch.autocast(spec.device.type, dtype=spec.amp or torch.float32, enabled=spec.amp is not None):
            logits = model(x).float()
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        logits_out.append(logits.cpu().numpy())
        truth.append(y.cpu().numpy())
    z = np.concatenate(logits_out) if logits_out else np.zeros((0, len(spec.scheme.keys)), np.float32)
    t = np.concatenate(truth) if truth else np.zeros(0, np.int64)
    if d.world > 1:
        gathered: list = [None] * d.world
        dist.all_gather_object(gathered, (z, t, loss_sum))
        z = np.concatenate([g[0] for g in gathered])
        t = np.concatenate([g[1] for g in gathered])
        loss_sum = sum(g[2] for g in gathered)
    return (loss_sum / len(t) if len(t) else None), z, t


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def checkpoint_meta(spec: LoopSpec, **extra) -> CheckpointMeta:
    return CheckpointMeta(arch=spec.arch, scheme_id=spec.scheme.id, classes=spec.scheme.keys,
                          crystal=spec.scheme.crystal_mask, preprocess=spec.preprocess, run_id=spec.run_id,
                          init=spec.init_text, **extra)


def _epoch_row(epoch: int, train_loss: float, train_acc: float, val_loss: float | None, val_logits: np.ndarray,
               val_truth: np.ndarray, spec: LoopSpec, lr: float, seconds: float, images: int) -> tuple[dict, dict]:
    probs = softmax(val_logits)
    mask = np.asarray(spec.scheme.crystal_mask)
    # the review load this epoch's model would need for the target recall on validation
    threshold, _, load = choose_threshold(crystal_probability(probs, mask), mask[val_truth] if len(val_truth) else
                                          np.zeros(0, bool), spec.target_recall)
    m = compute_metrics(val_truth, probs, spec.scheme.keys, spec.scheme.crystal_mask, threshold=threshold)
    row = {
        "epoch": epoch, "train_loss": round(train_loss, 5), "train_accuracy": round(train_acc, 5),
        "val_loss": _r(val_loss), "val_accuracy": _r(m["accuracy"]), "val_top3_accuracy": _r(m["top3_accuracy"]),
        "val_missed_crystal_top1": _r(m["missed_crystal_rate_top1"]),
        "val_missed_crystal_top3": _r(m["missed_crystal_rate_top3"]),
        "val_balanced_accuracy": _r(m["balanced_accuracy"]), "val_ece": _r(m["ece"]),
        "val_review_load": _r(None if math.isnan(load) else load), "val_top3_review_load": _r(m["top3_review_load"]),
        "lr": f"{lr:.3g}", "seconds": round(seconds, 2), "images_per_s": round(images / max(seconds, 1e-9), 2),
    }
    return row, m


def fit(spec: LoopSpec, model: nn.Module, data: np.ndarray, labels: np.ndarray, split_index: dict[str, np.ndarray],
        weights: np.ndarray, d: Dist, events: EventWriter, log: Callable[[str], None],
        cancel: Callable[[], bool] = lambda: False, progress_factory=None) -> FitResult:
    """Train ``model`` (already initialised, on its device, DDP-wrapped when distributed), early-stop
    on the validation loss, keep ``best.pt``; resumes from ``last.pt`` when present."""
    run_dir = spec.run_dir
    train_idx = split_index["train"]
    val_idx = split_index["val"] if len(split_index["val"]) else train_idx
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    scaler = torch.amp.GradScaler("cuda") if spec.amp == torch.float16 and spec.device.type == "cuda" else None
    per_rank = len(train_idx) // d.world
    steps_per_epoch = max(1, per_rank // spec.batch_size) if per_rank >= spec.batch_size else 1
    horizon = {"steps": steps_per_epoch * spec.epochs}
    scheduler = warmup_cosine(optimizer, max(1, horizon["steps"] // (5 * max(1, spec.epochs))), horizon)
    crystal = torch.tensor(spec.scheme.crystal_mask, device=spec.device)

    start_epoch, best_loss, bad_epochs, best_epoch, elapsed = 1, math.inf, 0, 0, 0.0
    best_val: tuple[np.ndarray, np.ndarray] | None = None
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if last_path.is_file():
        state = torch.load(last_path, map_location="cpu", weights_only=True)
        unwrap(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        horizon["steps"] = state["horizon"]
        start_epoch = state["epoch"] + 1
        best_loss, bad_epochs, best_epoch = state["best_loss"], state["bad_epochs"], state["best_epoch"]
        elapsed = state.get("elapsed", 0.0)
        log(f"{spec.arch}: resuming after epoch {state['epoch']} (best validation loss {best_loss:.4f})")
    gen = torch.Generator().manual_seed(spec.seed * 1000 + start_epoch + d.rank)

    started = time.perf_counter() - elapsed
    stopped_early = False
    epoch = start_epoch - 1
    for epoch in range(start_epoch, spec.epochs + 1):
        t0 = time.perf_counter()
        if d.main:
            events.emit("epoch_start", run=spec.run_id, arch=spec.arch, epoch=epoch, epochs=spec.epochs)
        indices = train_idx[epoch_indices(weights, spec.seed, epoch, d)]
        n_batches = max(1, len(indices) // spec.batch_size) if len(indices) >= spec.batch_size else 1
        bar = progress_factory(len(indices), f"{spec.arch} epoch {epoch}/{spec.epochs}") if (progress_factory and d.main) else None
        # under a time limit, the first epoch of this process measures a few batches and fits the
        # schedule to the epochs that will fit, so even a one-epoch run anneals (one process only:
        # ranks timing themselves could disagree on the learning rate)
        probe = max(1, min(n_batches - 1, max(3, n_batches // 10))) if spec.time_limit_s and \
            epoch == start_epoch and d.world == 1 else 0  # before the last batch, so its step sees the fit

        def on_batch(b: int, loss: float, n: int) -> None:
            if bar:
                bar.update(n)
            if b == probe:
                fits = epochs_that_fit(spec.time_limit_s - (t0 - started), (time.perf_counter() - t0) / b,
                                       n_batches, len(val_idx), spec.batch_size)
                horizon["steps"] = steps_per_epoch * min(spec.epochs, epoch - 1 + fits)
            if d.main:
                events.batch(run=spec.run_id, arch=spec.arch, epoch=epoch, batch=b, batches=n_batches,
                             loss=round(loss, 4), lr=scheduler.get_last_lr()[0])

        try:
            train_loss, train_acc = train_one_epoch(
                model, batches(data, labels, indices, spec.batch_size, spec.device), optimizer, scheduler,
                spec, gen, scaler, crystal, cancel, on_batch)
        except TrainingDiverged as exc:
            raise TrainingDiverged(f"{spec.arch}: the training loss became NaN or infinite in epoch {epoch}, {exc} "
                                   f"({spec.init_text}){DIVERGED_ADVICE}") from None
        finally:
            if bar:
                bar.close()
        val_loss, val_logits, val_truth = evaluate(model, data, labels, val_idx, spec, d)
        # the same on every rank: the validation scores are gathered, and DDP keeps the weights equal
        broken = non_finite_tensors(unwrap(model).state_dict())
        if broken or (val_loss is not None and not math.isfinite(val_loss)):
            what = f"weights ({broken[0]}{' ...' if len(broken) > 1 else ''})" if broken else f"validation loss ({val_loss})"
            raise TrainingDiverged(f"{spec.arch}: the {what} became NaN or infinite in epoch {epoch} "
                                   f"({spec.init_text}){DIVERGED_ADVICE}")
        seconds = time.perf_counter() - t0
        row, m = _epoch_row(epoch, train_loss, train_acc, val_loss, val_logits, val_truth, spec,
                            optimizer.param_groups[0]["lr"], seconds, len(indices) * d.world)
        if spec.time_limit_s:
            # fit the schedule to the epochs the time limit allows, so it still anneals; re-estimated
            # from the mean epoch so far (a first epoch slowed by a busy machine must not end it early)
            mean_epoch = (time.perf_counter() - started) / max(1, epoch)
            fits = max(epoch, int(spec.time_limit_s / max(mean_epoch, 1e-6)))
            horizon["steps"] = steps_per_epoch * min(spec.epochs, fits)
        improved = val_loss is not None and val_loss < best_loss - 1e-4
        if improved:
            best_loss, bad_epochs, best_epoch = val_loss, 0, epoch
            best_val = (val_logits, val_truth)  # calibration reuses them: the same weights, not scored twice
        else:
            bad_epochs += 1
        if d.main:
            if improved:
                save_checkpoint(best_path, unwrap(model), checkpoint_meta(spec))
            torch.save({"model": unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "horizon": horizon["steps"], "epoch": epoch,
                        "best_loss": best_loss, "bad_epochs": bad_epochs, "best_epoch": best_epoch,
                        "elapsed": time.perf_counter() - started}, run_dir / "last.pt.part")
            (run_dir / "last.pt.part").replace(last_path)
            append_summary(run_dir / "summary.csv", row)
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
    if d.main and not best_path.is_file():  # no epoch improved (or none ran): keep what there is
        save_checkpoint(best_path, unwrap(model), checkpoint_meta(spec))
    d.barrier()
    return FitResult(best_path, best_epoch, epoch, stopped_early, time.perf_counter() - started, best_val)


def _r(v: float | None) -> float | str:
    return "" if v is None else round(v, 5)


def append_summary(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=SUMMARY_COLUMNS)
        if new:
            w.writeheader()
        w.writerow(row)
