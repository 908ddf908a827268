"""A tiny labelled store for training tests: 4 plates x 2 inspections, colours that tell classes apart."""

from __future__ import annotations

from pathlib import Path

from imagefiles import write_image

from xtalviewer.importers import import_paths
from xtalviewer.store.store import AnnotationRow, Store

KEYS = ["clear", "light_precipitate", "heavy_precipitate", "phase_separation", "skin", "other",
        "microcrystals", "needles", "plates", "crystals_3d"]


def labelled_store(root: Path, plates: int = 4, per_inspection: int = 20, inspections: int = 2,
                   source: str = "human") -> Path:
    truth = []
    for p in range(plates):
        for k in range(inspections):
            folder = root / "images" / f"TP{p}_2026-03-0{k + 1}_RI1000-0081-1drop"
            for i in range(per_inspection):
                cls = i % len(KEYS)
                path = write_image(folder / f"TP{p}_{i % 12 + 1:02d}{'ABCDEFGH'[i // 12]}_1.jpg", size=(56, 48),
                                   color=(cls * 25, 255 - cls * 25, (cls * 70) % 256))
                truth.append((str(path), KEYS[cls]))
    db = root / "train.db"
    with Store(db) as s:
        import_paths(s, [root / "images"])
        s.add_annotations([AnnotationRow(s.image_id_by_path(p), lab, "t", source=source)
                           for p, lab in truth])
    return db
