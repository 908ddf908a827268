"""Child process for the durability tests: label drops as fast as it can and acknowledge each one.

    python crashchild.py DB WRITER N            # the store's labelling call
    python crashchild.py DB WRITER N --gui      # the review window's own labelling path (offscreen)

Every line on stdout is an acknowledgement, printed only after the label was committed:
"<annotation id> <image id> <label>". The parent kills this process at random moments and checks
that every acknowledged label survived.
"""

from __future__ import annotations

import os
import sys

KEYS = ["clear", "light_precipitate", "heavy_precipitate", "phase_separation", "skin", "other",
        "microcrystals", "needles", "plates", "crystals_3d"]


def store_path(db: str, writer: str, n: int) -> None:
    from xtalviewer.store.store import Store

    store = Store(db)
    ids = [r[0] for r in store.conn.execute("SELECT id FROM image ORDER BY id")]
    for i in range(n):
        image_id, label = ids[i % len(ids)], KEYS[(i * 7 + len(writer)) % len(KEYS)]
        ann = store.add_annotation(image_id, label, writer, lead_ms=i)
        sys.stdout.write(f"{ann} {image_id} {label}\n")
        sys.stdout.flush()


def gui_path(db: str, writer: str, n: int) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from xtalviewer.settings import Settings
    from xtalviewer.gui.app.main_window import MainWindow

    app = QApplication([])
    window = MainWindow(db, Settings(annotator=writer, thumbnail_dir=os.path.join(os.path.dirname(db), "thumbs")),
                        start_scoring=False)
    window.show()
    while window.inspection is None or window.grid_model.rowCount() == 0:
        app.processEvents()
    rows = window.grid_model.rowCount()
    for i in range(n):
        window.set_current_row(i % rows)
        image_id = window.current_image_id()
        label = KEYS[i % len(KEYS)]
        if window.apply_label(label):
            ann = window.store.conn.execute("SELECT MAX(id) FROM annotation WHERE image_id = ?", (image_id,)).fetchone()[0]
            sys.stdout.write(f"{ann} {image_id} {label}\n")
            sys.stdout.flush()
        app.processEvents()


if __name__ == "__main__":
    db, writer, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    (gui_path if "--gui" in sys.argv else store_path)(db, writer, count)
