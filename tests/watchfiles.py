"""Helpers of the watcher's tests and bench: real JPEG files written slowly into real folders (as an
imager over a share writes them), and a watcher running in a thread with its callbacks recorded."""

from __future__ import annotations

import io
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from xtalviewer.watch import WatchCallbacks, WatchConfig, WatchService
from xtalviewer.watch.folders import Backoff


def jpeg_bytes(seed: int, size: tuple[int, int] = (48, 40)) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def xchem_folder(root: Path, barcode: str = "WT01", day: str = "2026-03-01") -> Path:
    return root / f"{barcode}_{day}_RI1000-0081-2drop"


def xchem_file(folder: Path, col: int, row: str, drop: int) -> Path:
    return folder / f"{folder.name.split('_')[0]}_{col:02d}{row}_{drop}.jpg"


def write_slowly(path: Path, data: bytes, pause: float) -> None:
    """Half the file, flushed (a reader sees it), a pause, then the rest: as an imager over a share."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data[: len(data) // 2])
        fh.flush()
        time.sleep(pause)
        fh.write(data[len(data) // 2:])


def write_inspection(folder: Path, drops: int = 4, seed: int = 0) -> list[Path]:
    paths = []
    for n in range(drops):
        path = xchem_file(folder, 1 + n // 2, "A", 1 + n % 2)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg_bytes(seed * 100 + n))
        paths.append(path)
    return paths



class Recorder(WatchCallbacks):
    """Every callback kept, in order, safe to read from the test's thread."""

    def __init__(self) -> None:
        super().__init__(status=self._status, imported=self._imported, scored=self._scored,
                         new_hits=self._new_hits)
        self.lock = threading.Lock()
        self.lines: list[str] = []
        self.imports: list = []
        self.scores: list = []
        self.hits: list = []

    def _status(self, text: str) -> None:
        with self.lock:
            self.lines.append(text)

    def _imported(self, event) -> None:
        with self.lock:
            self.imports.append(event)

    def _scored(self, event) -> None:
        with self.lock:
            self.scores.append(event)

    def _new_hits(self, event) -> None:
        with self.lock:
            self.hits.append(event)

    def wait_for(self, predicate, timeout: float = 20.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if predicate(self):
                    return True
            time.sleep(0.05)
        return False


def config(db: Path, folders, **overrides) -> WatchConfig:
    values = dict(db=db, folders=list(folders), settle_s=1.0, batch_size=8, workers=1,
                  backoff=Backoff(first=0.3, most=1.0))
    values.update(overrides)
    return WatchConfig(**values)


@contextmanager
def running(service: WatchService):
    """The watcher in a thread, as the app runs it; stopped and joined at the end."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            service.run(stop)
        except BaseException as exc:  # surfaced in the test
            errors.append(exc)

    thread = threading.Thread(target=target, name="watch", daemon=True)
    thread.start()
    try:
        yield service
    finally:
        stop.set()
        service.wake()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the watcher did not stop"
        assert not errors, errors
