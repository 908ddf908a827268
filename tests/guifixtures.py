"""A small plate for GUI tests: two inspections of 12 drops, one truncated image, a tiny model."""

from __future__ import annotations

from pathlib import Path

from imagefiles import write_image
from modelfiles import tiny_checkpoint

from xtalviewer.importers import import_paths
from xtalviewer.store.store import Store


def make_plate_db(root: Path, *, with_model: bool = True, broken: bool = True) -> Path:
    for day, folder in (("2026-04-01", "GP1_2026-04-01_RI1000-0081-1drop"), ("2026-04-08", "GP1_2026-04-08_RI1000-0081-1drop")):
        for i in range(12):
            write_image(root / "img" / folder / f"GP1_{i % 6 + 1:02d}{'AB'[i // 6]}_1.jpg", size=(160, 128),
                        color=(20 * i, 100, 200 - 10 * i))
    if broken:
        late = root / "img" / "GP1_2026-04-08_RI1000-0081-1drop" / "GP1_06B_1.jpg"
        data = late.read_bytes()
        late.write_bytes(data[: len(data) // 3])
    db = root / "gui.db"
    with Store(db) as s:
        import_paths(s, [root / "img"])
        if with_model:
            ckpt = tiny_checkpoint(root / "tiny.pt", s.scheme)
            s.add_model(name="tiny", arch="resnet18", classes=s.scheme.keys, input_size=32, path=str(ckpt),
                        activate=True)
    return db
