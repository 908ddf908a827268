"""Built-in demo data: synthetic plates written as an XChem Rock Imager export, with a time course.

Each plate has one imaging style (well kind, illumination, colour cast, focus, noise), as one imager
gives all its drops. Each drop has a fate drawn with the class balance of a real screen (mostly
clear or precipitate, a few crystals), crystals likelier in wells whose made-up screen condition
(``demo_screen``) suits the demo protein. Its outline and lighting stay fixed across inspections while
its contents develop: crystals appear at some inspection and grow, skins form, precipitate darkens. The truth of every
image goes to ``truth.csv``; a share of it is stored as earlier human annotations.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from xtalviewer.importers import import_paths
from xtalviewer.paths import data_dir
from xtalviewer.plates import row_letter
from xtalviewer.store.store import AnnotationRow, Store
from xtalviewer.synthetic import demo_screen
from xtalviewer.synthetic.renderer import CRYSTAL_KEYS, DropGeometry, random_geometry, random_style, render_drop_jpeg

# share of drops per fate in a typical sparse-matrix screen
FATE_WEIGHTS: dict[str, float] = {
    "clear": 0.34,
    "light_precipitate": 0.18,
    "heavy_precipitate": 0.14,
    "phase_separation": 0.06,
    "skin": 0.05,
    "other": 0.05,
    "microcrystals": 0.05,
    "needles": 0.045,
    "plates": 0.045,
    "crystals_3d": 0.045,
}
SCHEDULE_DAYS = (0, 1, 3, 7, 14, 21, 28, 42)
IMAGER = "RI1000-0081"
DEMO_ANNOTATOR = "demo-reviewer"
START = date(2026, 10, 5)


@dataclass
class DemoConfig:
    out: Path | None = None
    plates: int = 4
    inspections: int = 3
    drops: int = 2
    size: tuple[int, int] = (1224, 1024)
    labelled: float = 0.6
    seed: int = 0
    quality: int = 90
    workers: int | None = None


@dataclass(frozen=True)
class DemoImage:
    barcode: str
    inspection: int
    folder: str
    row: int
    col: int
    drop: int
    label: str
    path: Path
    style_seed: int  # the plate's imaging style
    geometry_seed: int
    content_seed: int
    growth: float


def barcode(plate: int) -> str:
    return f"XV{1001 + plate}"


def folder_name(plate: int, inspection: int, drops: int) -> str:
    day = START + timedelta(days=SCHEDULE_DAYS[inspection % len(SCHEDULE_DAYS)] + 7 * (inspection // len(SCHEDULE_DAYS)))
    return f"{barcode(plate)}_{day.isoformat()}_{IMAGER}-{drops}drop"


def plan(config: DemoConfig, out: Path) -> list[DemoImage]:
    """Every image of the demo: what it shows at each inspection (deterministic for a seed)."""
    rng = np.random.default_rng(config.seed)
    fates, weights = list(FATE_WEIGHTS), np.array(list(FATE_WEIGHTS.values()))
    weights = weights / weights.sum()
    # the made-up screen's chemistry: crystals likelier in some wells (one draw per drop, as before)
    crystal = np.array([f in CRYSTAL_KEYS for f in fates])
    well_weights = {}
    for r in range(1, 9):
        for c in range(1, 13):
            w = np.where(crystal, weights * demo_screen.crystal_propensity(r, c), weights)
            well_weights[(r, c)] = w / w.sum()
    n = config.inspections
    images: list[DemoImage] = []
    for p in range(config.plates):
        # From its own stream, so the fates of a seed stay what they were before plates had styles.
        style_seed = int(np.random.default_rng([config.seed, p, 0x5717]).integers(0, 2**31))
        for r in range(1, 9):
            for c in range(1, 13):
                for d in range(1, config.drops + 1):
                    fate = fates[rng.choice(len(fates), p=well_weights[(r, c)])]
                    geometry_seed, content_seed = (int(x) for x in rng.integers(0, 2**31, size=2))
                    late = fate in CRYSTAL_KEYS or fate == "skin"
                    onset = int(rng.integers(0, n)) if late and n > 1 else 0
                    for k in range(n):
                        shown = fate if k >= onset else "clear"
                        growth = 1.0 if shown == "clear" else 0.35 + 0.65 * (k - onset + 1) / max(1, n - onset)
                        folder = folder_name(p, k, config.drops)
                        path = out / folder / f"{barcode(p)}_{c:02d}{row_letter(r)}_{d}.jpg"
                        images.append(DemoImage(barcode(p), k, folder, r, c, d, shown, path, style_seed,
                                                geometry_seed, content_seed, round(min(1.0, growth), 3)))
    return images


def drop_geometry(img: DemoImage) -> DropGeometry:
    """The drop's well, outline and lighting, drawn from its plate's imaging style."""
    style = random_style(np.random.default_rng(img.style_seed))
    return random_geometry(np.random.default_rng(img.geometry_seed), style)


def _render_one(job: tuple[DemoImage, tuple[int, int], int]) -> None:
    img, size, quality = job
    if img.path.exists() and img.path.stat().st_size > 0:
        return
    data = render_drop_jpeg(img.label, drop_geometry(img), img.content_seed, img.growth, size=size, quality=quality)
    img.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = img.path.with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, img.path)


def _write_rockmaker_csvs(images: list[DemoImage], out: Path) -> None:
    """The RockMaker CSV an XChem export has beside each plate's folders."""
    by_plate: dict[str, list[DemoImage]] = {}
    for img in images:
        by_plate.setdefault(img.barcode, []).append(img)
    for code, items in by_plate.items():
        plate_id = int(code[2:])
        with open(out / f"{code}.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["BatchID", "DateImaged", "DropNum", "ImagerName", "PlateID", "ProfileID", "WellColNum",
                        "WellNum", "WellRowLetter"])
            for img in items:
                day = img.folder.split("_")[1]
                minute = (img.row - 1) * 12 + img.col
                w.writerow([plate_id * 10 + img.inspection, f"{day} 09:{minute // 60:02d}:{minute % 60:02d}", img.drop,
                            IMAGER, plate_id, 1, img.col, (img.row - 1) * 12 + img.col, row_letter(img.row)])


def write_truth(images: list[DemoImage], target: Path) -> None:
    with open(target, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image_path", "label", "plate", "inspection", "well", "drop"])
        for img in images:
            w.writerow([str(img.path), img.label, img.barcode, img.folder, f"{row_letter(img.row)}{img.col:02d}", img.drop])


def write_images(images: list[DemoImage], config: DemoConfig, log: Callable[[str], None] = print) -> None:
    """Render every planned image that is not on disk yet, on all cores."""
    todo = [img for img in images if not img.path.exists()]
    if not todo:
        return
    workers = config.workers or max(1, os.cpu_count() or 1)
    jobs = [(img, config.size, config.quality) for img in todo]
    log(f"Rendering {len(todo)} synthetic drop images ({config.size[0]}x{config.size[1]}) on {workers} process(es)...")
    if workers == 1:
        for job in jobs:
            _render_one(job)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(_render_one, jobs, chunksize=16):
            pass


def store_earlier_labels(store: Store, images: list[DemoImage], share: float, seed: int) -> int:
    """Store the truth of a random share of images as human labels, dated a day after imaging."""
    rng = np.random.default_rng(seed + 1)
    chosen = [img for img in images if rng.random() < share]
    pending = []
    for img in chosen:
        image_id = store.image_id_by_path(str(img.path.absolute()))
        if image_id is None or store.history(image_id):
            continue
        day = date.fromisoformat(img.folder.split("_")[1]) + timedelta(days=1)
        when = datetime(day.year, day.month, day.day, 10, 0, tzinfo=timezone.utc)
        pending.append(AnnotationRow(image_id, img.label, DEMO_ANNOTATOR, source="human",
                                     created_at=when.isoformat(timespec="milliseconds")))
    store.add_annotations(pending)
    return len(pending)


def run_demo(store: Store, config: DemoConfig, log: Callable[[str], None] = print) -> list[DemoImage]:
    """Write, import and partly label the demo plates; safe to run again (nothing is duplicated)."""
    out = Path(config.out) if config.out else data_dir() / "demo"
    out.mkdir(parents=True, exist_ok=True)
    images = plan(config, out)
    write_images(images, config, log)
    _write_rockmaker_csvs(images, out)
    write_truth(images, out / "truth.csv")
    report = import_paths(store, [out])
    log(report.summary())
    store.add_screen(demo_screen.demo_screen(), replace=True)
    screen = store.screen(demo_screen.NAME)
    store.add_screen_rule("prefix", demo_screen.BARCODE_PREFIX, screen.id)
    log(f"Screen: {demo_screen.NAME}, 96 conditions, given to the demo plates by the barcode rule "
        f"'{demo_screen.BARCODE_PREFIX}' (xtalviewer screens show, xtalviewer conditions)")
    stored = store_earlier_labels(store, images, config.labelled, config.seed)
    log(f"Stored {stored} earlier human labels ({config.labelled:.0%} share); truth of every image: {out / 'truth.csv'}")
    return images
