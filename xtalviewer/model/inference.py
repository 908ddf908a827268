"""Batch scoring: decode in worker threads, forward in batches, store in a writer thread.

A ``ScoringRun`` streams one ``ScoredImage`` per image as results arrive, so a GUI can paint them
at once; ``prioritize`` moves the image on screen to the front of the queue; ``cancel`` stops it
cleanly. Decoding (JPEG at reduced scale in the DCT domain) and storing overlap the forward pass,
so the model, not the plumbing, sets the pace. On CUDA the forward pass runs under autocast with
channels_last, and JPEGs can be decoded on the GPU.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from xtalviewer.files.image_roots import not_mapped_message, unmapped_root
from xtalviewer.imaging.decode import ImageLoadError, decode, is_upright, open_header, read_bytes
from xtalviewer.model.architectures import CheckpointMeta, Preprocess, autocast_dtype
from xtalviewer.model.devices import DEVICES, DeviceError, describe_device, select_device  # noqa: F401 (re-exported)
from xtalviewer.model.scoring_stages import DecodeStage, Halt, PredictionWriter, failure_text
from xtalviewer.model.shape_score import fuse, shape_probability, straight_edge_scores
from xtalviewer.store.store import PredictionRow, Store

CROP_WORK_SIDE = 512  # long side of the copy the crop finder sees on the GPU path (it works at 256 itself)


@dataclass(frozen=True)
class WorkItem:
    image_id: int
    path: str
    size: int | None
    mtime: float | None


@dataclass
class ScoredImage:
    image_id: int
    probs: np.ndarray | None = None
    error: str | None = None
    top3: list[tuple[str, float]] = field(default_factory=list)


class Scorer:
    """A model on a device: preprocessed batches in, class probabilities out."""

    def __init__(self, model: nn.Module, meta: CheckpointMeta, device: torch.device, amp: bool | None = None):
        self.meta = meta
        self.preprocess: Preprocess = meta.preprocess
        self.device = device
        self.amp_dtype = autocast_dtype(device, meta.arch, training=False) if amp is not False else None
        self.amp = self.amp_dtype is not None
        # channels_last: 1.3-1.7x faster on CPU (oneDNN) as on GPU (tensor cores)
        self.model = model.eval().to(device).to(memory_format=torch.channels_last)
        # calibrated probabilities: the checkpoint's temperature (1 for models trained before calibration)
        self.temperature = float(meta.operating_point.temperature or 1.0)

    @torch.inference_mode()
    def forward(self, batch: torch.Tensor) -> np.ndarray:
        """Normalised float batch (N, 3, S, S) -> calibrated probabilities (N, classes) as float32."""
        x = batch.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp):
            logits = self.model(x)
        return torch.softmax(logits.float() / self.temperature, dim=1).cpu().numpy()

    def forward_uint8(self, batch_u8: torch.Tensor) -> np.ndarray:
        """(N, S, S, 3) uint8 squares -> probabilities; normalised on the device in one pass, then
        joined with the straight-edge score of the same squares where the model's operating point
        says so (the crystal probability every path of the app shows)."""
        probs = self.forward(self.preprocess.normalise_batch(batch_u8.to(self.device, non_blocking=True)))
        return self.with_shape(probs, batch_u8)

    def with_shape(self, probs: np.ndarray, squares_u8: torch.Tensor | np.ndarray) -> np.ndarray:
        """Network probabilities of a batch -> the model's crystal call on it (see model/shape_score.py)."""
        op = self.meta.operating_point
        if not op.fuses_shape:
            return probs
        squares = squares_u8.cpu().numpy() if isinstance(squares_u8, torch.Tensor) else np.asarray(squares_u8)
        shape = shape_probability(straight_edge_scores(squares), op.shape_slope, op.shape_offset)
        return fuse(probs, shape, self.meta.crystal)

    @torch.inference_mode()
    def gpu_region(self, img: torch.Tensor) -> torch.Tensor:
        """The part of a CHW uint8 image (on any device) the model sees: the preprocessing's crop box,
        found on a small copy brought to the CPU (the box is in frame fractions, so the same box as
        the CPU path finds), applied to the full image where it lies."""
        if self.preprocess.crop == "none":
            return img
        h, w = img.shape[-2:]
        scale = CROP_WORK_SIDE / max(h, w)
        small = img if scale >= 1 else torch.nn.functional.interpolate(
            img.unsqueeze(0).float(), size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="area")[0]
        box = self.preprocess.crop_box(small.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy())
        x0, x1 = int(round(box.x0 * w)), max(int(round(box.x1 * w)), int(round(box.x0 * w)) + 1)
        y0, y1 = int(round(box.y0 * h)), max(int(round(box.y1 * h)), int(round(box.y0 * h)) + 1)
        return img[:, y0:y1, x0:x1]

    def forward_uint8_gpu(self, images: list[torch.Tensor]) -> np.ndarray:
        """GPU-decoded CHW uint8 tensors of any size -> probabilities; cropping and resizing happen on
        the GPU (only the crop finder's small copy visits the CPU)."""
        s = self.preprocess.input_size
        fitted = [torch.nn.functional.interpolate(self.gpu_region(img).unsqueeze(0).float(), size=(s, s),
                                                  mode="bilinear", antialias=True, align_corners=False)
                  for img in images]
        x = torch.cat(fitted)
        probs = self.forward(self.preprocess.normalise(x / 255.0))
        if not self.meta.operating_point.fuses_shape:
            return probs
        return self.with_shape(probs, x.round().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1))

    def top3(self, probs: np.ndarray) -> list[tuple[str, float]]:
        order = np.argsort(-probs, kind="stable")[:3]
        return [(self.meta.classes[i], float(probs[i])) for i in order]


def work_list(store: Store, model_id: int, *, plate_id: int | None = None, image_ids: Sequence[int] | None = None,
              retry_errors: bool = False, latest_only: bool = False) -> list[WorkItem]:
    """Images that still need this model's prediction: never scored, or the file changed since."""
    items = [WorkItem(*r) for r in store.unscored_images(model_id, plate_id=plate_id, retry_errors=retry_errors,
                                                         latest_only=latest_only)]
    if image_ids is not None:
        wanted = set(image_ids)
        items = [it for it in items if it.image_id in wanted]
    return items


def set_aside_unmapped(items: Sequence[WorkItem]) -> tuple[list[WorkItem], dict[str, int]]:
    """(the items this workstation can read, root -> how many lie under an image root it does not
    map): those are not unreadable and are left for a workstation that maps their root."""
    kept, unmapped = [], {}
    for it in items:
        root = unmapped_root(it.path)
        if root is None:
            kept.append(it)
        else:
            unmapped[root] = unmapped.get(root, 0) + 1
    return kept, unmapped


def unmapped_lines(unmapped: dict[str, int]) -> list[str]:
    """One line per image root not mapped here, with how many drops it kept from being scored."""
    return [f"{n} drop{'s' * (n != 1)} not scored: {not_mapped_message(root)}" for root, n in sorted(unmapped.items())]


class ScoringRun:
    """Score ``items`` with ``scorer``; iterate to receive results as they are produced.

    Results are committed to the database at ``db_path`` by a writer thread (its own connection),
    every batch; unreadable images are marked there with their reason. Iteration happens in the
    caller's thread, which also runs the forward pass. When any stage fails (the store refuses a
    write, the model computes NaN, a decoder breaks) the whole run stops: iteration ends and
    ``error`` says why, in one line (see ``scoring_stages``).
    """

    def __init__(
        self,
        scorer: Scorer,
        items: Sequence[WorkItem],
        *,
        db_path: str | Path | None = None,
        model_id: int | None = None,
        batch_size: int = 16,
        workers: int = 2,
        gpu_decode: bool | None = None,
    ):
        self.scorer = scorer
        self.batch_size = max(1, batch_size)
        self.workers = max(1, workers)
        self.db_path = db_path
        self.model_id = model_id
        self.gpu_decode = scorer.device.type == "cuda" if gpu_decode is None else gpu_decode
        self._pending: deque[WorkItem] = deque(items)
        self._total = len(items)
        self._lock = threading.Lock()
        self._priority: set[int] = set()
        self._cancel = threading.Event()  # asked for by the user
        self._halt = Halt()  # every stage stops: cancelled, failed, or the consumer went away
        # On a GPU, decoding on the CPU overlaps the forward pass. On a CPU the forward pass already
        # uses every core: decoding beside it preempts the model's threads and stalls them all, so
        # there the decoders run between forward passes, on every core at once (2 cores, ResNet-18
        # at 224 px: 0.85 -> 0.9x of forward-only throughput).
        self.overlap = scorer.device.type != "cpu"
        self._decoders = DecodeStage(self._halt, self.batch_size, overlap=self.overlap,
                                     queue_size=max(4, 2 * self.batch_size))
        self._writer: PredictionWriter | None = None
        self.scored = 0  # forward passes done
        self.errors = 0  # unreadable images, marked in the store
        self.unmapped: dict[str, int] = {}  # root -> images under an image root not mapped here (never marked)
        self.seconds = 0.0

    @property
    def total(self) -> int:
        return self._total

    @property
    def stored(self) -> int:
        """Predictions the writer committed: what a summary may claim."""
        return self._writer.stored if self._writer is not None else 0

    @property
    def error(self) -> str | None:
        """Why the run stopped early, in one line; None when it ran to the end or was cancelled."""
        return self._halt.reason

    def prioritize(self, image_id: int) -> bool:
        """Score this image next (e.g. the drop on screen). False when it is not waiting in this run."""
        with self._lock:
            for i, item in enumerate(self._pending):
                if item.image_id == image_id:
                    del self._pending[i]
                    self._pending.appendleft(item)
                    self._priority.add(image_id)
                    return True
        return False

    def cancel(self) -> None:
        self._cancel.set()
        self._halt.stop()
        self._decoders.gate.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    # -- decoding (in the DecodeStage's threads) ------------------------------------------------

    def _next_item(self) -> WorkItem | None:
        with self._lock:
            return self._pending.popleft() if self._pending else None

    def _prepare(self, item: WorkItem) -> tuple[WorkItem, object, str | None]:
        """(item, payload, error): payload is the uint8 square the model sees, or JPEG bytes (a uint8
        tensor) for GPU decoding."""
        try:
            data = read_bytes(item.path)
            if self.gpu_decode and data[:2] == b"\xff\xd8":
                with open_header(data) as im:  # header only: EXIF-rotated or CMYK files go the CPU way
                    if im.mode == "RGB" and is_upright(im):
                        return item, torch.frombuffer(bytearray(data), dtype=torch.uint8), None
            rgb = decode(data, min_side=self.scorer.preprocess.decode_min_side())
            return item, self.scorer.preprocess.fit_square(rgb), None
        except ImageLoadError as exc:
            return item, None, str(exc)
        except Exception as exc:  # never let one odd file kill a run
            return item, None, f"cannot be decoded ({type(exc).__name__}: {exc})"

    # -- the caller's thread: forward passes ------------------------------------------------------

    def __iter__(self) -> Iterator[ScoredImage]:
        start = time.perf_counter()
        if self.db_path is not None and self.model_id is not None:
            self._writer = PredictionWriter(self.db_path, self.model_id, self._halt)
            self._writer.start()
        self._decoders.start(self.workers, self._next_item, self._prepare, self._priority.__contains__)
        try:
            while not self._decoders.done:
                batch = self._decoders.next_batch()
                if batch:
                    yield from self._run_batch(batch)
        finally:
            self._halt.stop()  # no-op after a failure; stops the decoders after a full run or an early exit
            self._decoders.stop()
            if self._writer is not None:
                self._writer.finish()
            self.seconds = time.perf_counter() - start

    def _forward(self, batch) -> tuple[list[tuple[WorkItem, np.ndarray]], list[tuple[WorkItem, str]]]:
        squares = [(it, p) for it, p, err in batch if err is None and isinstance(p, np.ndarray)]
        jpegs = [(it, p) for it, p, err in batch if err is None and isinstance(p, torch.Tensor)]
        failed = [(it, err) for it, _, err in batch if err is not None]
        results: list[tuple[WorkItem, np.ndarray]] = []
        if squares:
            probs = self.scorer.forward_uint8(torch.from_numpy(np.stack([p for _, p in squares])))
            results += list(zip((it for it, _ in squares), probs))
        if jpegs:
            results += self._gpu_batch(jpegs, failed)
        return results, failed

    def _run_batch(self, batch) -> Iterator[ScoredImage]:
        try:
            results, failed = self._forward(batch)
        except Exception as exc:  # a model that cannot run on these inputs stops the run with one line
            self._halt.stop(f"scoring stopped: {failure_text(exc)}")
            return
        broken = [item for item, probs in results if not np.isfinite(probs).all()]
        if broken:
            self._halt.stop(nan_message(len(broken), len(results), broken[0].path))
            return
        preds, errors = [], []
        for item, probs in results:
            self.scored += 1
            self._priority.discard(item.image_id)
            preds.append(PredictionRow(item.image_id, probs, item.size, item.mtime))
        for item, err in failed:
            self._priority.discard(item.image_id)
            root = unmapped_root(item.path)
            if root is not None:  # not unreadable: a workstation that maps its root reads it
                self.unmapped[root] = self.unmapped.get(root, 0) + 1
                continue
            self.errors += 1
            errors.append((item.image_id, err))
        if self._writer is not None:
            self._writer.put(preds, errors)
        for item, probs in results:
            yield ScoredImage(item.image_id, probs, None, self.scorer.top3(probs))
        for item, err in failed:
            yield ScoredImage(item.image_id, None, err)

    def _gpu_batch(self, jpegs, failed) -> list[tuple[WorkItem, np.ndarray]]:
        """Decode JPEG bytes on the GPU in one call; files nvJPEG rejects fall back to the CPU."""
        from torchvision.io import ImageReadMode, decode_jpeg

        try:
            images = decode_jpeg([p for _, p in jpegs], mode=ImageReadMode.RGB, device=self.scorer.device)
            probs = self.scorer.forward_uint8_gpu(images)
            return list(zip((it for it, _ in jpegs), probs))
        except RuntimeError:
            self.gpu_decode = False  # this device/driver cannot: decode on the CPU from now on
            out = []
            for it, _ in jpegs:
                _, square, err = self._prepare(it)
                if err is not None:
                    failed.append((it, err))
                else:
                    out.append((it, self.scorer.forward_uint8(torch.from_numpy(square[None]))[0]))
            return out


def nan_message(broken: int, batch: int, example: str) -> str:
    """Why a run refuses a model's output: NaN is no probability, and must never be stored."""
    return (f"the model computed NaN (not a number) instead of probabilities for {broken} of {batch} drops in a "
            f"batch (e.g. {example}): its weights are broken. Nothing of that batch was stored; score with "
            "another model, or retrain this one")


def score_images(
    scorer: Scorer,
    items: Sequence[WorkItem],
    *,
    db_path: str | Path | None,
    model_id: int | None,
    batch_size: int = 16,
    workers: int = 2,
    on_result: Callable[[ScoredImage], None] | None = None,
) -> ScoringRun:
    """Run a whole ScoringRun to the end (CLI, benchmarks); returns it for its counters."""
    run = ScoringRun(scorer, items, db_path=db_path, model_id=model_id, batch_size=batch_size, workers=workers)
    for result in run:
        if on_result:
            on_result(result)
    return run
