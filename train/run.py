"""``train(config)``: one training run from the store's labels to registered, calibrated models.

The CLI, the app's Retrain dialog (through the CLI in a subprocess), the demo and the benchmarks
all call this. Per architecture: decide the initialisation (checked before any decoding), the
settings (recipe), build or open the decoded cache, run the epoch loop, then calibrate on the
validation split (temperature, then the threshold for the target crystal recall), test, write the
final checkpoint, register it once, and record the result. A run folder holds config.json
(args.json), split.json and one folder per architecture with summary.csv, best.pt, metrics.json
and result.json, in the manner of timm's run folders.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from collections.abc import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from train.config import TrainConfig
from train.data import (
    DecodedCache,
    crystal_labels,
    describe_counts,
    describe_split,
    labelled_samples,
    load_split,
    sample_weights,
    save_split,
    split_samples,
    with_composites,
)
from train.events import EventWriter
from train.warm_start import InitError, InitPlan, apply_init, plan_init
from train.loop import Dist, LoopSpec, checkpoint_meta, evaluate, fit, unwrap
from train.recipe import Settings, resolve_settings
from train.run_setup import TrainError, check_resume_state, choose_amp, choose_device, dist_setup, resolve_run, runs_dir
from xtalviewer.crystal_call import softmax
from xtalviewer.files.image_roots import not_mapped_message, unmapped_root
from xtalviewer.model.calibration import fit_crystal_call
from xtalviewer.model.shape_score import fuse, shape_probability, straight_edge_scores
from xtalviewer.model.metrics import (
    HEADLINE, HEADLINE_KEYS, best_result, compute_metrics, expected_calibration_error, format_metric, headline,
)
from xtalviewer.model.architectures import build_model, read_checkpoint, resolve_arch, save_checkpoint
from xtalviewer.model.registry import register_checkpoint
from xtalviewer.store.rows import Model
from xtalviewer.store.location import location_of
from xtalviewer.store.store import Store


def comparison_table(results: list[dict]) -> str:
    """The architectures side by side on their test split, headline metrics from metrics.HEADLINE."""
    head = f"{'arch':<14}" + "".join(f"{m.short:>13}" for m in HEADLINE) + f"{'time':>8}  model  init"
    lines = [head]
    for r in results:
        m = r["metrics"]
        cells = "".join(f"{format_metric(h, m.get(h.key)):>13}" for h in HEADLINE)
        lines.append(f"{r['arch']:<14}{cells}{m.get('train_seconds', 0):>7.0f}s  {r['model_id']!s:>5}  {m.get('init', '')}")
    return "\n".join(lines)


def _gathered(indices: np.ndarray, d: Dist) -> np.ndarray:
    """``indices`` in the order ``evaluate`` returns their logits (each rank's share, rank by rank)."""
    return np.concatenate([indices[r :: d.world] for r in range(d.world)]) if d.world > 1 else indices


def headline_metrics(m: dict) -> dict:
    """What the registry keeps: the headline figures plus what the app's tables and plots show."""
    keep = set(HEADLINE_KEYS) | {
        "n", "crystal_images", "confusion_matrix", "classes", "per_class", "train_seconds", "best_epoch", "epochs_run",
        "split_unit", "image_size", "crop", "init", "threshold", "temperature", "ece_uncalibrated",
        "top3_crystal_recall", "target_recall", "val_crystal_recall", "val_review_load"}
    return {k: m[k] for k in keep if k in m}


class Trainer:
    """One run: the shared state of its architectures (folder, store data, device, events)."""

    def __init__(self, config: TrainConfig, cancel: Callable[[], bool], log: Callable[[str], None] | None):
        self.d = dist_setup()
        self.folder, self.config = resolve_run(config, self.d)
        self.events = EventWriter(self.config.events if self.d.main else None)
        stream = sys.stderr if self.events.to_stdout else sys.stdout
        self.log = (log or (lambda text: print(text, file=stream, flush=True))) if self.d.main else (lambda text: None)
        self.cancel = cancel

    def run(self) -> list[dict]:
        config, d, log = self.config, self.d, self.log
        try:
            archs = [resolve_arch(a) for a in config.arch_names()]
        except ValueError as exc:
            raise TrainError(str(exc)) from None
        db = location_of(config.db)
        if db.missing:
            raise TrainError(f"database {db} does not exist; import plates and label some drops first")
        self.device = choose_device(config, d)
        self.amp = choose_amp(config, self.device)
        check_resume_state(self.folder, archs)
        with Store(db) as store:
            self.scheme = store.scheme
            plans = {arch: plan_init(config.init, arch, store, log) for arch in archs}  # checked before decoding
            splits, unit = self._splits(store)
        self.splits, self.unit = splits, unit
        if d.main:
            config.save(self.folder / "args.json")
            log(f"Run {self.folder.name} in {self.folder}")
            log(f"Training images: {describe_counts(splits['train'], self.scheme.keys)}")
            for line in describe_split(splits, unit, crystal_labels(self.scheme),
                                       len({s.plate for part in splits.values() for s in part})):
                log(line)
            self.events.emit("run", run=self.folder.name, folder=str(self.folder), archs=archs, device=str(self.device),
                             train=len(splits["train"]), val=len(splits["val"]), test=len(splits["test"]),
                             split_unit=unit)
        d.barrier()
        results = []
        for arch in archs:
            if self.cancel():
                raise KeyboardInterrupt
            result = self._one(arch, plans[arch])
            results.append(result)
            if d.main:
                self.events.emit("run_done", run=result["run_id"], arch=arch, model_id=result["model_id"],
                                 metrics=headline_metrics(result["metrics"]))
        if d.main:
            self._finish(results)
        return results

    def _splits(self, store: Store) -> tuple[dict, str]:
        split_file = self.folder / "split.json"
        if split_file.is_file():
            return load_split(split_file)
        samples = labelled_samples(store, self.config.source_list())
        unmapped = Counter(root for s in samples if (root := unmapped_root(s.path)))
        for root, n in sorted(unmapped.items()):  # another workstation reads them: not unreadable
            self.log(f"{n} labelled image(s) left out: {not_mapped_message(root)}")
        samples = [s for s in samples if not unmapped_root(s.path)]
        unreadable = store.count_unreadable_labelled()
        if unreadable:
            self.log(f"{unreadable} labelled image(s) are marked unreadable and left out")
        if len(samples) < 10:
            raise TrainError(f"only {len(samples)} labelled images (sources: {self.config.sources}); "
                             "label more drops before training")
        splits, unit = split_samples(samples, self.config.val, self.config.test, self.config.seed,
                                     crystal_labels=crystal_labels(store.scheme))
        if self.d.main:
            save_split(split_file, splits, unit)
        return splits, unit

    def _cache(self, settings: Settings) -> DecodedCache:
        from tqdm import tqdm

        d, log = self.d, self.log
        all_samples = self.splits["train"] + self.splits["val"] + self.splits["test"]
        cache = DecodedCache(all_samples, settings.preprocess)
        if d.main and not cache.ready():
            what = f"decode @{settings.preprocess.input_size}px" + (
                f", {settings.preprocess.crop} crop" if settings.preprocess.crop != "none" else "")
            with tqdm(total=len(all_samples), desc=what, unit="img", leave=False, file=sys.stderr,
                      disable=None if not self.events.to_stdout else True) as bar:
                cache.build(workers=self.config.workers, progress=lambda done, total: bar.update(done - bar.n),
                            cancel=self.cancel)
            if cache.failed:
                log(f"{len(cache.failed)} image(s) could not be decoded and are left out, e.g. "
                    f"{cache.samples[cache.failed[0][0]].path}: {cache.failed[0][1]}")
            if cache.crop_fallbacks:
                log(f"crop: {cache.crop_fallbacks} of {len(all_samples)} image(s) fell back to the whole frame "
                    f"(no {settings.preprocess.crop} found)")
        d.barrier()
        return cache.open() if cache.ready() else cache.build(workers=self.config.workers)

    def _registered(self, run_id: str, arch: str) -> Model | None:
        """A model this run already registered for ``arch`` (killed before result.json was written)."""
        with Store(self.config.db) as store:
            return next((m for m in store.models() if m.run_id == run_id and m.arch == arch), None)

    def _one(self, arch: str, plan: InitPlan) -> dict:
        d, log, config = self.d, self.log, self.config
        arch_dir = self.folder / arch
        run_id = f"{self.folder.name}-{arch}"
        done_file = arch_dir / "result.json"
        if done_file.is_file():
            result = json.loads(done_file.read_text())
            log(f"{arch}: already finished in this run (model {result['model_id']})")
            return result
        registered = self._registered(run_id, arch)
        if registered is not None:  # registered, then killed: never retrain, re-test or rewrite best.pt
            result = {"arch": arch, "run_id": run_id, "metrics": registered.metrics or {}, "model_id": registered.id}
            if d.main:
                done_file.write_text(json.dumps(result, indent=2))
                (arch_dir / "last.pt").unlink(missing_ok=True)
            log(f"{arch}: already registered by this run (model {registered.id})")
            return result

        settings = resolve_settings(config, arch, plan, self.device)
        cache = self._cache(settings)
        arch_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(config.seed)
        model = build_model(arch, len(self.scheme.keys), settings.preprocess.input_size)
        init_text = apply_init(model, plan, arch, log)
        model = model.to(self.device).to(memory_format=torch.channels_last)
        if d.world > 1:
            model = nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        spec = LoopSpec(arch=arch, run_dir=arch_dir, run_id=run_id, scheme=self.scheme,
                        preprocess=settings.preprocess, device=self.device, epochs=settings.epochs,
                        batch_size=config.batch_size, lr=settings.lr, weight_decay=config.weight_decay,
                        patience=config.patience, seed=config.seed, amp=self.amp,
                        crystal_weight=settings.crystal_weight, target_recall=config.crystal_recall,
                        time_limit_s=60 * config.time_limit if config.time_limit else None, init_text=init_text)
        position = {s.image_id: i for i, s in enumerate(cache.samples)}
        ok = cache.ok
        split_index = {name: np.array([position[s.image_id] for s in part if ok[position[s.image_id]]], dtype=np.int64)
                       for name, part in self.splits.items()}
        if len(split_index["train"]) == 0:
            raise TrainError("no training images: label some drops first (or check --sources)")
        labels = np.array([s.label for s in cache.samples], dtype=np.int64)
        weights = sample_weights([cache.samples[i] for i in split_index["train"]], len(self.scheme.keys), config.balance)
        data = cache.array
        if config.composite:
            data, labels, split_index["train"], weights, used = with_composites(
                data, labels, split_index["train"], weights, cache.samples, settings.preprocess, self.scheme.keys,
                self.scheme.crystal_mask, config.composite, config.seed)
            log(f"{arch}: {config.composite} synthetic crystals composited into {used} of the lab's own clear training "
                "drops" if used else f"{arch}: --composite: no clear training drop to draw crystals into")
        if d.main:
            self.events.emit("start", run=run_id, arch=arch, epochs=spec.epochs, image_size=settings.preprocess.input_size,
                             crop=settings.preprocess.crop, train=len(split_index["train"]), val=len(split_index["val"]),
                             test=len(split_index["test"]), split_unit=self.unit, device=str(self.device),
                             init=init_text, lr=spec.lr, crystal_weight=spec.crystal_weight)
            log(f"{arch}@{settings.preprocess.input_size} ({settings.preprocess.crop} crop): "
                f"{len(split_index['train'])} train / {len(split_index['val'])} val / {len(split_index['test'])} test "
                f"images (split by {self.unit}); {init_text}; {spec.epochs} epochs at lr {spec.lr:g}; device {self.device}")
        from tqdm import tqdm

        def bar(total: int, desc: str):
            return tqdm(total=total, desc=desc, unit="img", leave=False, file=sys.stderr,
                        disable=None if not self.events.to_stdout else True)

        fitted = fit(spec, model, data, labels, split_index, weights, d, self.events, log, self.cancel, bar)
        start_op = plan.meta.operating_point if plan.meta is not None else None
        return self._calibrate_test_register(spec, model, fitted, data, labels, split_index, settings,
                                             start_op if start_op is not None and start_op.calibrated else None)

    def _calibrate_test_register(self, spec: LoopSpec, model: nn.Module, fitted, data, labels, split_index,
                                 settings: Settings, start_op=None) -> dict:
        d, log = self.d, self.log
        _, state = read_checkpoint(fitted.best_path)
        unwrap(model).load_state_dict(state)
        val_idx = split_index["val"] if len(split_index["val"]) else split_index["train"]
        if fitted.best_val is not None:
            val_logits, val_truth = fitted.best_val  # the loop scored the best epoch's weights already
        else:
            _, val_logits, val_truth = evaluate(model, data, labels, val_idx, spec, d)
        # the straight-edge score of the very squares the network saw (model/shape_score.py)
        op = fit_crystal_call(val_logits, val_truth, self.scheme.crystal_mask, spec.target_recall,
                                 shape_scores=straight_edge_scores(data[_gathered(val_idx, d)]),
                                 shape=self.config.shape,
                                 shape_default=start_op.fuses_shape if start_op is not None else True,
                                 shape_prior=(start_op.shape_slope, start_op.shape_offset)
                                 if start_op is not None and start_op.fuses_shape else None,
                                 fallback_threshold=start_op.threshold if start_op is not None else None,
                                 fallback_temperature=start_op.temperature if start_op is not None else None,
                                 fitted_on=f"the validation split ({len(val_idx)} drops)")
        test_loss, test_logits, test_truth = evaluate(model, data, labels, split_index["test"], spec, d)
        test_probs = softmax(test_logits, op.temperature)
        if op.fuses_shape:
            test_probs = fuse(test_probs, shape_probability(straight_edge_scores(data[_gathered(split_index["test"], d)]),
                                                            op.shape_slope, op.shape_offset), self.scheme.crystal_mask)
        metrics = compute_metrics(test_truth, test_probs, self.scheme.keys,
                                  self.scheme.crystal_mask, threshold=op.threshold)
        metrics.update(
            split="test", split_unit=self.unit, loss=test_loss, best_epoch=fitted.best_epoch,
            epochs_run=fitted.epochs_run, stopped_early=fitted.stopped_early,
            train_seconds=round(fitted.train_seconds, 1), arch=spec.arch, init=spec.init_text,
            temperature=op.temperature, target_recall=spec.target_recall, val_crystal_recall=op.val_recall,
            val_review_load=op.val_review_load, ece_uncalibrated=expected_calibration_error(test_truth, softmax(test_logits)),
            **settings.describe())
        result = {"arch": spec.arch, "run_id": spec.run_id, "metrics": metrics, "model_id": None}
        if d.main:
            if not op.calibrated:
                log(f"{spec.arch}: the validation split has no crystal drops, so no threshold could be tuned; "
                    "hits use crystal probability >= 50%")
            # the final checkpoint, written once; registration follows and nothing rewrites it after
            save_checkpoint(fitted.best_path, unwrap(model),
                            checkpoint_meta(spec, metrics=headline_metrics(metrics), operating_point=op))
            (spec.run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
            self.events.emit("metrics", run=spec.run_id, arch=spec.arch, metrics=metrics)
            log(f"{spec.arch}: {op.describe()}")
            log(f"{spec.arch} test: {headline(metrics)}")
            with Store(self.config.db) as store:
                model_id = register_checkpoint(store, fitted.best_path, name=f"{spec.arch}-{spec.run_id}",
                                               metrics=headline_metrics(metrics))
            result["model_id"] = model_id
            (spec.run_dir / "result.json").write_text(json.dumps(result, indent=2))
            (spec.run_dir / "last.pt").unlink(missing_ok=True)  # finished: the resume state is no longer needed
            self.events.emit("registered", run=spec.run_id, arch=spec.arch, model_id=model_id)
        if d.world > 1:
            box = [result["model_id"]]
            dist.broadcast_object_list(box, src=0)
            result["model_id"] = box[0]
        return result

    def _finish(self, results: list[dict]) -> None:
        from xtalviewer.model.metrics import BEST_RULE

        best = best_result(results)
        (self.folder / "comparison.json").write_text(json.dumps(
            [{"arch": r["arch"], "model_id": r["model_id"], **headline_metrics(r["metrics"])} for r in results], indent=2))
        self.log("\n" + comparison_table(results) + f"\n({BEST_RULE})")
        activated = None
        if best is not None and best["model_id"] is not None:
            with Store(self.config.db) as store:
                if self.config.activate == "best" or (self.config.activate == "auto" and store.active_model() is None):
                    store.activate_model(best["model_id"])
                    activated = best["model_id"]
            self.log(f"Best: {best['arch']} (model {best['model_id']})"
                     + (", now the active model" if activated else "; activate it with `xtalviewer models activate "
                                                                   f"{best['model_id']}`"))
        self.events.emit("done", run=self.folder.name, folder=str(self.folder),
                         best_model_id=best["model_id"] if best else None, activated=activated,
                         results=[{"arch": r["arch"], "model_id": r["model_id"]} for r in results])


def train(config: TrainConfig, cancel: threading.Event | Callable[[], bool] | None = None,
          log: Callable[[str], None] | None = None) -> list[dict]:
    """Run ``config``; returns one result dict per architecture (arch, run_id, metrics, model_id).

    Raises TrainError (and InitError, DeviceError, ...) with one clear line for what cannot start,
    KeyboardInterrupt when cancelled (the unfinished architecture keeps last.pt for --resume).
    """
    check = cancel.is_set if isinstance(cancel, threading.Event) else (cancel or (lambda: False))
    trainer = Trainer(config, check, log)
    try:
        return trainer.run()
    except KeyboardInterrupt:
        if trainer.d.main:
            trainer.events.emit("error", message="cancelled; resume with --resume " + str(trainer.folder), cancelled=True)
        raise
    except Exception as exc:
        if trainer.d.main:
            trainer.events.emit("error", message=str(exc), kind=type(exc).__name__)
        raise
    finally:
        trainer.events.close()


__all__ = ["TrainConfig", "TrainError", "InitError", "train", "runs_dir"]
