"""Training-loop benchmark: xtal-train's loop against a plain torchvision-reference-style loop.

    python bench/train.py --json

Same data (real-size 1224x1024 synthetic drop JPEGs), same architecture, same input size and the
same number of epochs, in one run. The reference loop is what a first script looks like: PIL decode
and torchvision transforms in a DataLoader (2 workers), SGD, float32, nothing else. Ours is
``train.loop.train_one_epoch`` on the decoded cache (built once, and its build time is counted),
with batch augmentation and mixed precision where the device has it. Reported: images per second
of each and their ratio (target >= 1.0 on a CPU; >= 1.5 on a GPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train.data import DecodedCache, labelled_samples  # noqa: E402
from train.loop import LoopSpec, batches, train_one_epoch, warmup_cosine  # noqa: E402
from xtalviewer.importers import import_paths  # noqa: E402
from xtalviewer.model.inference import describe_device, select_device  # noqa: E402
from xtalviewer.model.architectures import Preprocess, autocast_dtype, build_model, resolve_arch  # noqa: E402
from xtalviewer.plates import row_letter  # noqa: E402
from xtalviewer.store.store import AnnotationRow, Store  # noqa: E402
from xtalviewer.synthetic.renderer import CLASS_KEYS, random_drop  # noqa: E402


def make_store(root: Path, n: int) -> Path:
    rng = np.random.default_rng(3)
    truth = []
    for i in range(n):
        plate, k = divmod(i, 192)
        row, rest = divmod(k, 24)
        col, drop = divmod(rest, 2)
        folder = root / f"TB{plate:02d}_2026-11-25_RI1000-0081-2drop"
        folder.mkdir(parents=True, exist_ok=True)
        label = CLASS_KEYS[i % len(CLASS_KEYS)]
        path = folder / f"TB{plate:02d}_{col + 1:02d}{row_letter(row + 1)}_{drop + 1}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(random_drop(label, rng), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        truth.append((str(path), label))
    db = root / "bench.db"
    with Store(db) as s:
        import_paths(s, [root])
        s.add_annotations([AnnotationRow(s.image_id_by_path(p), l, "bench", source="human") for p, l in truth])
    return db


def reference_loop(samples, arch: str, size: int, epochs: int, batch_size: int, device: torch.device) -> float:
    """torchvision references/classification style: PIL + transforms in a DataLoader, SGD, fp32."""
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    tf = transforms.Compose([transforms.Resize((size, size)), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                             transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])

    class Files(Dataset):
        def __len__(self):
            return len(samples)

        def __getitem__(self, i):
            s = samples[i]
            with Image.open(s.path) as im:
                return tf(im.convert("RGB")), s.label

    loader = DataLoader(Files(), batch_size=batch_size, shuffle=True, num_workers=2, drop_last=True,
                        pin_memory=device.type == "cuda", persistent_workers=True)
    torch.manual_seed(0)
    model = build_model(arch, len(CLASS_KEYS), size).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    seen = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - t0)


def our_loop(samples, db: Path, cache_dir: Path, arch: str, size: int, epochs: int, batch_size: int,
             device: torch.device) -> tuple[float, float]:
    """(images/s including the one-off cache build, images/s of the epochs alone)."""
    preprocess = Preprocess(input_size=size)
    t0 = time.perf_counter()
    cache = DecodedCache(samples, preprocess, folder=cache_dir).build(workers=2)
    build_s = time.perf_counter() - t0
    torch.manual_seed(0)
    model = build_model(arch, len(CLASS_KEYS), size).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    amp = autocast_dtype(device, arch, training=True)
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None
    with Store(db) as s:
        scheme = s.scheme
    spec = LoopSpec(arch=arch, run_dir=cache_dir, run_id="bench", scheme=scheme, preprocess=preprocess, device=device,
                    epochs=epochs, batch_size=batch_size, lr=1e-3, weight_decay=1e-4, patience=99, seed=0, amp=amp)
    labels = np.array([s.label for s in samples], dtype=np.int64)
    gen = torch.Generator().manual_seed(0)
    scheduler = warmup_cosine(opt, 1, {"steps": epochs * len(samples) // batch_size})
    crystal = torch.tensor(scheme.crystal_mask, device=device)
    seen = 0
    rng = np.random.default_rng(0)
    t1 = time.perf_counter()
    for _ in range(1, epochs + 1):
        idx = rng.permutation(len(samples))
        idx = idx[: len(idx) // batch_size * batch_size]
        train_one_epoch(model, batches(cache.array, labels, idx, batch_size, device), opt, scheduler, spec, gen, scaler,
                        crystal, lambda: False, lambda *a: None)
        seen += len(idx)
    if device.type == "cuda":
        torch.cuda.synchronize()
    epochs_s = time.perf_counter() - t1
    return seen / (epochs_s + build_s), seen / epochs_s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--images", type=int, default=384)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    arch = resolve_arch(args.arch)
    device = select_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db = make_store(root / "plates", args.images)
        with Store(db) as s:
            samples = labelled_samples(s)
        reference = reference_loop(samples, arch, args.image_size, args.epochs, args.batch_size, device)
        ours_total, ours_epochs = our_loop(samples, db, root / "cache", arch, args.image_size, args.epochs,
                                           args.batch_size, device)
    result = {
        "device": describe_device(device),
        "arch": arch,
        "image_size": args.image_size,
        "images": args.images,
        "epochs": args.epochs,
        "mixed_precision": str(autocast_dtype(device, arch, training=True)),
        "reference_img_s": round(reference, 2),
        "ours_img_s": round(ours_total, 2),
        "ours_epochs_only_img_s": round(ours_epochs, 2),
        "ratio": round(ours_total / reference, 3),
        "target_ratio": 1.5 if device.type == "cuda" else 1.0,
    }
    result["target_met"] = result["ratio"] >= result["target_ratio"]
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
