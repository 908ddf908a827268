"""Realism check: synthetic drops beside real ones, as a contact sheet and simple image statistics.

    python bench/realism.py -o realism.png                 # sheet plus readable statistics
    python bench/realism.py -n 48 --json                   # one JSON object, for comparing runs

A model trained only on synthetic plates fails on real ones when the two look different, so this
puts N seeded synthetic drops (every class, every style) next to the reference images
(``--reference DIR``, default ``../shared/reference-drops`` beside the repository, searched
recursively for *.jpg/*.jpeg) for a person to judge, and prints statistics of both sets so that
drift is visible without looking: mean HSV saturation (of all pixels, and of the lit ones), luma
mean/std and an 8-bin luma histogram, edge density (share of Canny edge pixels at a fixed working
size), dark share (pixels darker than a well wall's luma threshold) and blue minus red (colour
cast). Synthetic drops go through a JPEG round trip at the demo's
quality, since every real image is a JPEG. Both sides are also summarised per group (synthetic by
well kind, references by folder), so that like can be compared with like: round wells with the
XChem images, square with Rigaku, zoomed with MARCO. Without the reference folder it reports the
synthetic side only and says so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xtalviewer.synthetic import renderer as synthetic  # noqa: E402

WORK_SIZE = (320, 256)  # statistics are taken at this size, so image size does not change them
TILE = (256, 214)
COLUMNS = 8
DARK_LUMA = 50  # a well wall in brightfield is darker than this; a lit floor or drop is not
CANNY = (60, 150)
JPEG_QUALITY = 90  # what the demo writes
STAT_KEYS = ("saturation", "saturation_lit", "luma_mean", "luma_std", "edge_density", "dark_share", "blue_minus_red")


def default_reference() -> Path:
    """``../shared/reference-drops`` beside the repository, or beside its main checkout for a worktree."""
    candidates = [REPO.parent / "shared" / "reference-drops"]
    try:
        common = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--path-format=absolute", "--git-common-dir"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
        if common:
            candidates.append(Path(common).parent.parent / "shared" / "reference-drops")
    except (OSError, subprocess.SubprocessError):
        pass
    return next((c for c in candidates if c.is_dir()), candidates[0])


def find_references(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg") and p.is_file())


def image_stats(rgb: np.ndarray) -> dict:
    """Colour, brightness and texture figures of one image, taken at WORK_SIZE."""
    small = cv2.resize(rgb, WORK_SIZE, interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    luma = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    hist = np.bincount((luma // 32).ravel(), minlength=8).astype(np.float64) / luma.size
    edges = cv2.Canny(luma, *CANNY)
    mean_rgb = small.reshape(-1, 3).mean(axis=0)
    lit = luma >= DARK_LUMA
    return {
        "saturation": float(hsv[..., 1].mean() / 255.0),
        # Saturation of the dark wall is noise; that of the lit floor and drop is the colour cast.
        "saturation_lit": float(hsv[..., 1][lit].mean() / 255.0) if lit.any() else 0.0,
        "luma_mean": float(luma.mean()),
        "luma_std": float(luma.std()),
        "luma_hist8": hist.tolist(),
        "edge_density": float((edges > 0).mean()),
        "dark_share": float((luma < DARK_LUMA).mean()),
        "blue_minus_red": float(mean_rgb[2] - mean_rgb[0]),
    }


def summarise(stats: list[dict]) -> dict | None:
    """Mean (and spread across images) of each figure over a set of images."""
    if not stats:
        return None
    out: dict = {"images": len(stats)}
    for key in STAT_KEYS:
        vals = [s[key] for s in stats]
        out[key] = round(statistics.fmean(vals), 4)
        out[key + "_sd"] = round(statistics.pstdev(vals), 4)
    out["luma_hist8"] = [round(float(x), 4) for x in np.mean([s["luma_hist8"] for s in stats], axis=0)]
    return out


def jpeg_round_trip(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _style_name(geometry: object) -> str:
    """A short name of the drop's imaging style when the generator has styles, else ''."""
    style = getattr(geometry, "style", None)
    if style is None:
        return ""
    return f"{getattr(style, 'well', '')}/{getattr(style, 'light', '')}"


def render_synthetic(n: int, seed: int,
                     size: tuple[int, int]) -> tuple[list[np.ndarray], list[str], list[str], list[float]]:
    """n seeded drops cycling through the classes, each from a freshly drawn style.

    Returns the images, their captions, their well kinds ('' without styles) and render times
    (CPU milliseconds on one thread, so that other load on the machine counts less).
    """
    rng = np.random.default_rng(seed)
    images, captions, kinds, times = [], [], [], []
    for i in range(n):
        label = synthetic.CLASS_KEYS[i % len(synthetic.CLASS_KEYS)]
        geometry = synthetic.random_geometry(rng)
        content_seed = int(rng.integers(0, 2**31))
        growth = float(rng.uniform(0.6, 1.0))
        t0 = time.process_time()
        rgb = synthetic.render_drop(label, geometry, content_seed, growth, size=size)
        times.append((time.process_time() - t0) * 1000.0)
        images.append(jpeg_round_trip(rgb))
        style = _style_name(geometry)
        captions.append(f"{label}" + (f" {style}" if style else ""))
        kinds.append(style.split("/")[0])
    return images, captions, kinds, times


def _tile(rgb: np.ndarray, caption: str) -> np.ndarray:
    """The image letterboxed into one tile, with a caption strip."""
    tw, th = TILE
    h, w = rgb.shape[:2]
    scale = min(tw / w, th / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    tile = np.full((th + 16, tw, 3), 24, np.uint8)
    y0, x0 = (th - nh) // 2, (tw - nw) // 2
    tile[y0:y0 + nh, x0:x0 + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    cv2.putText(tile, caption[:40], (3, th + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (235, 235, 235), 1, cv2.LINE_AA)
    return tile


def _banner(text: str) -> np.ndarray:
    bar = np.full((26, TILE[0] * COLUMNS, 3), 60, np.uint8)
    cv2.putText(bar, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return bar


def _grid(tiles: list[np.ndarray]) -> np.ndarray:
    blank = np.full_like(tiles[0], 24)
    rows = []
    for i in range(0, len(tiles), COLUMNS):
        row = tiles[i:i + COLUMNS]
        rows.append(np.hstack(row + [blank] * (COLUMNS - len(row))))
    return np.vstack(rows)


def contact_sheet(synth: list[tuple[np.ndarray, str]], refs: list[tuple[np.ndarray, str]]) -> np.ndarray:
    parts = [_banner(f"synthetic ({len(synth)})"), _grid([_tile(im, c) for im, c in synth])]
    if refs:
        parts += [_banner(f"reference ({len(refs)})"), _grid([_tile(im, c) for im, c in refs])]
    else:
        parts.append(_banner("reference folder missing: synthetic only"))
    return np.vstack(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--count", type=int, default=40, help="synthetic drops to render")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", default="1224x1024", help="synthetic image size WIDTHxHEIGHT")
    ap.add_argument("--reference", type=Path, default=None,
                    help="folder of real drop JPEGs (default: ../shared/reference-drops beside the repository)")
    ap.add_argument("-o", "--out", type=Path, help="write the contact sheet to this PNG")
    ap.add_argument("--json", action="store_true", help="print exactly one JSON object")
    args = ap.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    if args.reference is None:
        args.reference = default_reference()
    cv2.setNumThreads(1)  # render times per core

    images, captions, kinds, times = render_synthetic(args.count, args.seed, size)  # type: ignore[arg-type]
    ref_paths = find_references(args.reference)
    refs = []
    for p in ref_paths:
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if bgr is not None:
            refs.append((cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), p.relative_to(args.reference).as_posix()))

    by_group: dict[str, list[dict]] = {}
    ref_stats = []
    for rgb, name in refs:
        s = image_stats(rgb)
        ref_stats.append(s)
        group = name.split("/")[0] if "/" in name else name.split("_")[0]
        by_group.setdefault(group, []).append(s)
    synth_stats = [image_stats(im) for im in images]
    synth_groups: dict[str, list[dict]] = {}
    for kind, st in zip(kinds, synth_stats):
        if kind:
            synth_groups.setdefault(kind, []).append(st)
    result = {
        "synthetic": summarise(synth_stats),
        "synthetic_groups": {k: summarise(v) for k, v in sorted(synth_groups.items())},
        "reference": summarise(ref_stats),
        "reference_groups": {g: summarise(v) for g, v in sorted(by_group.items())},
        "reference_dir": str(args.reference),
        "reference_found": bool(refs),
        "synthetic_count": len(images),
        "size": list(size),
        "render_cpu_ms_median": round(statistics.median(times), 1) if times else None,
        "sheet": None,
    }
    if not refs:
        result["note"] = f"no reference images under {args.reference}: synthetic only"
    if args.out:
        sheet = contact_sheet(list(zip(images, captions)), refs)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        result["sheet"] = str(args.out)
    if args.json:
        print(json.dumps(result))
        return 0
    if not refs:
        print(result["note"])
    print(f"{'':24}{'saturation':>11}{'sat lit':>8}{'luma':>8}{'luma sd':>9}{'edges':>8}{'dark':>7}{'b-r':>7}"
          "  luma histogram (8 bins)")
    rows = [("synthetic", result["synthetic"])]
    rows += [(f"  {g}", s) for g, s in result["synthetic_groups"].items()]
    rows += [("reference", result["reference"])]
    rows += [(f"  {g}", s) for g, s in result["reference_groups"].items()]
    for name, s in rows:
        if s is None:
            continue
        hist = " ".join(f"{x:.2f}" for x in s["luma_hist8"])
        print(f"{name:24}{s['saturation']:>11.3f}{s['saturation_lit']:>8.3f}{s['luma_mean']:>8.1f}{s['luma_std']:>9.1f}"
              f"{s['edge_density']:>8.3f}{s['dark_share']:>7.3f}{s['blue_minus_red']:>7.1f}  {hist}")
    print(f"render: {result['render_cpu_ms_median']} ms CPU (one thread) median per {size[0]}x{size[1]} image")
    if result["sheet"]:
        print(f"sheet: {result['sheet']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
