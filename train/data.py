"""Training data from the store: which images, how they are split, and a decoded-image cache.

The split is by plate (so one drop's inspections never sit on both sides), falling back to whole
drops within plates when a store has too few plates for three splits, or when its crystals sit on
too few plates for training and validation both to hold some. Images are decoded once, at training
resolution, into a uint8 array on disk that every epoch, every architecture and every DDP rank
reuse: decoding full-size JPEGs each epoch would cost more than the forward pass on a CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from xtalviewer.imaging.decode import ImageLoadError, load_rgb
from xtalviewer.labels import LabelScheme
from xtalviewer.model.architectures import Preprocess
from xtalviewer.paths import cache_dir
from xtalviewer.files.regular import open_regular
from xtalviewer.store.store import SOURCES, Store

DEFAULT_SOURCES = ("human", "import")  # what a reviewer judged; accepted predictions only on request
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Sample:
    image_id: int
    path: str
    mtime: float | None
    label: int
    plate: str
    well: str
    drop: int


def labelled_samples(store: Store, sources: Sequence[str] = DEFAULT_SOURCES) -> list[Sample]:
    """Images whose current label came from one of ``sources`` (and that are not marked unreadable)."""
    bad = [s for s in sources if s not in SOURCES]
    if bad:
        raise ValueError(f"unknown label source {bad[0]!r} (choose from {', '.join(SOURCES)})")
    index = {k: n for n, k in enumerate(store.scheme.keys)}
    return [Sample(r.id, r.path, r.mtime, index[r.label], r.barcode, r.well, r.drop_no)
            for r in store.labelled_images(sources)]


def samples_from_csv(store: Store, csv_path: str | Path) -> tuple[list[Sample], list[tuple[int, str]]]:
    """A labelled set from a CSV (image_path,label or the export format) instead of the store's labels."""
    import csv

    index = {k: n for n, k in enumerate(store.scheme.keys)}
    out, problems = [], []
    try:
        fh = open_regular(csv_path, "r", newline="", encoding="utf-8-sig")  # a FIFO must not hang evaluate
    except OSError as exc:
        raise ValueError(f"{csv_path}: cannot be read ({exc.strerror or exc})") from None
    with fh:
        reader = csv.DictReader(fh)
        if "image_path" not in (reader.fieldnames or []) or "label" not in (reader.fieldnames or []):
            raise ValueError(f"{csv_path}: needs the columns image_path,label")
        for row in reader:
            key = store.scheme.resolve(row.get("label") or "")
            if key is None:
                problems.append((reader.line_num, f"unknown label '{row.get('label')}'"))
                continue
            r = store.image_with_plate(row["image_path"])
            if r is None:
                problems.append((reader.line_num, f"no such image in the database: {row['image_path']}"))
                continue
            out.append(Sample(r.id, r.path, r.mtime, index[key], r.barcode, r.well, r.drop_no))
    return out, problems


def split_samples(samples: Sequence[Sample], val: float = 0.15, test: float = 0.15, seed: int = 0,
                  min_plates: int = 3, crystal_labels: Collection[int] = ()) -> tuple[dict[str, list[Sample]], str]:
    """Split into train/val/test by plate, or by drop within plates when there are fewer than
    ``min_plates`` plates, or when the split by plate would leave training or validation without a
    drop labelled with one of ``crystal_labels`` (a few labelled plates often hold every crystal on
    one plate: training then never sees a crystal, or validation cannot place the operating point).

    Returns the splits and the unit used ('plate' or 'drop'). Groups are shuffled with ``seed`` and
    dealt to test, then val, until each holds its share of images; the rest train. Split by drop,
    drops with a crystal are dealt apart from the others (validation first, one kept for training),
    so each split gets its share of them; ``describe_split`` says what each split holds.
    """
    crystal = set(crystal_labels)
    plates = sorted({s.plate for s in samples})
    if len(plates) >= min_plates:
        splits = _deal(samples, lambda s: (s.plate,), val, test, seed)
        if not crystal or not any(s.label in crystal for s in samples) or \
                all(any(s.label in crystal for s in splits[name]) for name in ("train", "val")):
            return splits, "plate"
    by_drop: Callable[[Sample], tuple] = lambda s: (s.plate, s.well, s.drop)
    if not crystal:
        return _deal(samples, by_drop, val, test, seed), "drop"
    crystal_drops = {by_drop(s) for s in samples if s.label in crystal}
    with_crystal = _deal([s for s in samples if by_drop(s) in crystal_drops], by_drop, val, test, seed,
                         val_first=True)
    others = _deal([s for s in samples if by_drop(s) not in crystal_drops], by_drop, val, test, seed)
    return {name: with_crystal[name] + others[name] for name in SPLITS}, "drop"


def _deal(samples: Sequence[Sample], key: Callable[[Sample], tuple], val: float, test: float, seed: int, *,
          val_first: bool = False) -> dict[str, list[Sample]]:
    """Groups of ``key`` shuffled with ``seed``, dealt to test and val (val first with ``val_first``)
    until each holds its share of images, always leaving one group for training."""
    groups: dict[tuple, list[Sample]] = {}
    for s in samples:
        groups.setdefault(key(s), []).append(s)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    total = len(samples)
    out: dict[str, list[Sample]] = {name: [] for name in SPLITS}
    targets = [("test", test * total), ("val", val * total)]
    remaining = list(order)
    for name, share in reversed(targets) if val_first else targets:
        while remaining and len(out[name]) < share and len(remaining) > 1:
            out[name].extend(groups[remaining.pop(0)])
    for g in remaining:
        out["train"].extend(groups[g])
    return out


def crystal_labels(scheme: LabelScheme) -> list[int]:
    """The label indices (``Sample.label``) of the scheme's crystal classes."""
    return [i for i, is_crystal in enumerate(scheme.crystal_mask) if is_crystal]


def describe_split(splits: dict[str, list[Sample]], unit: str, crystal_labels: Collection[int],
                   plates: int) -> list[str]:
    """What a run prints about its split: images and crystal images per split, why it is by drop,
    and a warning when training or validation still holds no crystal."""
    crystal = set(crystal_labels)
    counts = {name: sum(s.label in crystal for s in part) for name, part in splits.items()}
    if unit == "plate":
        why = f"by plate ({plates} plates)"
    elif plates >= 3:
        why = ("by drop within plates: the split by plate left training or validation without a crystal drop "
               f"(the crystals are on few of the {plates} plates)")
    else:
        why = f"by drop within plates (only {plates} plate{'s' * (plates != 1)})"
    lines = [f"Split {why}: " + ", ".join(f"{name} {len(splits[name])} images ({counts[name]} crystal)"
                                         for name in SPLITS)]
    missing = [name for name in ("train", "val") if not counts[name]]
    if missing:
        total = sum(counts.values())
        lines.append(f"Warning: {' and '.join({'train': 'training', 'val': 'validation'}[m] for m in missing)} "
                     f"{'has' if len(missing) == 1 else 'have'} no crystal drop ({total} crystal image"
                     f"{'s' * (total != 1)} labelled in all): label more crystal drops for a model that finds them"
                     + ("; the hit threshold cannot be fitted to a crystal recall" if "val" in missing else ""))
    return lines


def save_split(path: Path, splits: dict[str, list[Sample]], unit: str) -> None:
    path.write_text(json.dumps({"unit": unit, **{k: [asdict(s) for s in v] for k, v in splits.items()}}))


def load_split(path: Path) -> tuple[dict[str, list[Sample]], str]:
    doc = json.loads(path.read_text())
    return {k: [Sample(**s) for s in doc[k]] for k in SPLITS}, doc["unit"]


def class_counts(samples: Sequence[Sample], n_classes: int) -> np.ndarray:
    counts = np.zeros(n_classes, dtype=np.int64)
    for s in samples:
        counts[s.label] += 1
    return counts


def sample_weights(samples: Sequence[Sample], n_classes: int, balance: str = "sqrt") -> np.ndarray:
    """Per-image sampling weights: 'full' evens the classes out, 'sqrt' halfway (in log terms), 'none'."""
    counts = class_counts(samples, n_classes).astype(np.float64)
    power = {"none": 0.0, "sqrt": 0.5, "full": 1.0}[balance]
    per_class = np.where(counts > 0, 1.0 / np.maximum(counts, 1) ** power, 0.0)
    return np.array([per_class[s.label] for s in samples])


class DecodedCache:
    """All images of a sample list, decoded and fitted to ``preprocess.input_size``, as (N, S, S, 3) uint8.

    Backed by a .npy file under the cache folder, keyed by the images (path and mtime) and the
    preprocessing, so it is built once and opened instantly by later runs and other ranks.
    Images that fail to decode are listed in ``failed`` and masked out via ``ok``.
    """

    def __init__(self, samples: Sequence[Sample], preprocess: Preprocess, folder: Path | None = None):
        self.samples = list(samples)
        self.preprocess = preprocess
        ident = json.dumps([preprocess.to_dict(), [(s.path, s.mtime) for s in self.samples]])
        digest = hashlib.sha1(ident.encode("utf-8", "surrogateescape")).hexdigest()[:20]
        self.folder = Path(folder) if folder else cache_dir() / "train"
        self.path = self.folder / f"{digest}-{preprocess.input_size}.npy"
        self.status_path = self.path.with_suffix(".json")
        self.array: np.ndarray | None = None
        self.failed: list[tuple[int, str]] = []
        self.crop_fallbacks = 0  # images whose well/drop was not found, so the whole frame was used

    @property
    def ok(self) -> np.ndarray:
        bad = {i for i, _ in self.failed}
        return np.array([i not in bad for i in range(len(self.samples))], dtype=bool)

    def ready(self) -> bool:
        return self.path.is_file() and self.status_path.is_file()

    def open(self) -> DecodedCache:
        sweep_stale_parts(self.folder)
        self.array = np.load(self.path, mmap_mode="r")
        status = json.loads(self.status_path.read_text())
        self.failed = [tuple(x) for x in status["failed"]]
        self.crop_fallbacks = int(status.get("crop_fallbacks", 0))
        return self

    def build(self, workers: int = 2, progress: Callable[[int, int], None] | None = None,
              cancel: Callable[[], bool] | None = None) -> DecodedCache:
        """Decode every image (threads: OpenCV releases the GIL), write the .npy atomically.

        ``cancel`` is polled as images finish; a cancelled or failed build leaves no partial file.
        """
        if self.ready():
            return self.open()
        self.folder.mkdir(parents=True, exist_ok=True)
        sweep_stale_parts(self.folder)
        s = self.preprocess.input_size
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.part")
        try:
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(self.samples), s, s, 3))
            failed: list[tuple[int, str]] = []
            fallbacks: list[int] = []
            stop = threading.Event()
            preprocess = self.preprocess

            def one(i: int) -> None:
                if stop.is_set():
                    return
                try:
                    region, box = preprocess.crop_region(load_rgb(self.samples[i].path,
                                                                  min_side=preprocess.decode_min_side()))
                    if box is not None and box.found == "frame":
                        fallbacks.append(i)
                    arr[i] = preprocess.fit_region(region)
                except ImageLoadError as exc:
                    failed.append((i, str(exc)))
                    arr[i] = 0

            done = 0
            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                for _ in pool.map(one, range(len(self.samples))):
                    done += 1
                    if cancel and cancel():
                        stop.set()
                        raise KeyboardInterrupt
                    if progress and (done % 64 == 0 or done == len(self.samples)):
                        progress(done, len(self.samples))
            arr.flush()
            arr = None  # release the mapping before the rename
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        self.status_path.write_text(json.dumps({"failed": sorted(failed), "crop_fallbacks": len(fallbacks)}))
        return self.open()


_PART_NAME = re.compile(r"\.npy\.(\d+)\.part$")
STALE_PART_S = 24 * 3600  # where a process cannot be asked after (Windows), a day-old part is a dead one


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, run by someone else
        return True
    return True


def sweep_stale_parts(folder: Path) -> list[Path]:
    """Delete half-built cache files (``<name>.npy.<pid>.part``) whose building process is gone:
    a killed build (SIGKILL, power cut) leaves one, tens of MB each. Returns what was deleted."""
    removed = []
    for part in folder.glob("*.npy.*.part"):
        m = _PART_NAME.search(part.name)
        if m is None:
            continue
        pid = int(m.group(1))
        try:
            if os.name == "nt":  # os.kill(pid, 0) would send Ctrl+C there
                gone = time.time() - part.stat().st_mtime > STALE_PART_S
            else:
                gone = pid != os.getpid() and not _process_alive(pid)
            if gone:
                part.unlink()
                removed.append(part)
        except OSError:  # another process swept it first
            pass
    return removed


def describe_counts(samples: Sequence[Sample], keys: Sequence[str]) -> str:
    c = Counter(keys[s.label] for s in samples)
    return ", ".join(f"{k} {c[k]}" for k in keys if c[k])


def with_composites(data: np.ndarray, labels: np.ndarray, train_idx: np.ndarray, weights: np.ndarray,
                    samples: Sequence[Sample], preprocess: Preprocess, keys: Sequence[str], crystal: Sequence[bool],
                    count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The training set plus ``count`` crystals composited into the lab's own clear training drops.

    Real backgrounds: a synthetic crystal (``synthetic.composite``) drawn into a drop of this lab's
    imager that a reviewer called clear, so the imager's look is the same for crystal and clear drops
    and only the crystal tells them apart. Returns (data, labels, train indices, weights, how many
    backgrounds were used); unchanged when there is no clear training drop or no crystal class the
    generator can draw."""
    from xtalviewer.synthetic.renderer import CRYSTAL_KEYS, composite

    drawable = [k for k in sorted(CRYSTAL_KEYS) if k in keys and crystal[list(keys).index(k)]]  # fixed order: seeded runs repeat
    clear = [i for i in train_idx if "clear" in keys and labels[i] == list(keys).index("clear")]
    if count <= 0 or not drawable or not clear:
        return data, labels, train_idx, weights, 0
    rng = np.random.default_rng([seed, 7])
    backgrounds = rng.choice(clear, size=min(len(clear), max(1, count // 4)), replace=False)
    decoded = {}
    for i in backgrounds:
        try:
            decoded[int(i)] = load_rgb(samples[int(i)].path, min_side=preprocess.decode_min_side())
        except ImageLoadError:
            continue
    if not decoded:
        return data, labels, train_idx, weights, 0
    order = list(decoded)
    squares, new_labels = [], []
    for n in range(count):
        key = drawable[int(rng.integers(0, len(drawable)))]
        out, _ = composite(decoded[order[n % len(order)]], key, rng)
        squares.append(preprocess.fit_square(out))
        new_labels.append(list(keys).index(key))
    start = len(data)
    data = np.concatenate([np.asarray(data), np.stack(squares)])
    labels = np.concatenate([labels, np.array(new_labels, dtype=labels.dtype)])
    weight = float(np.median(weights)) if len(weights) else 1.0
    return (data, labels, np.concatenate([train_idx, np.arange(start, start + count)]),
            np.concatenate([weights, np.full(count, weight)]), len(order))
