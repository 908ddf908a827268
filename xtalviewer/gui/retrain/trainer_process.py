"""Starting the trainer for the Retrain dialog: its command line, and a launch that runs OUR
``train`` package even when the working folder holds someone else's ``train.py`` or ``train/``.

``python -P`` with PYTHONSAFEPATH=1 keeps the working folder off ``sys.path`` and our package's root
goes first on ``PYTHONPATH`` (``xtalviewer.module_launch``, as for ``--nproc`` runs); the process also
starts in the user data folder, not wherever the app was started. Output is unbuffered UTF-8, read
as JSON-lines events (``train.events``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QProcess, QProcessEnvironment

from xtalviewer.store.location import location_of
from xtalviewer.module_launch import module_command, own_code_environment
from xtalviewer.paths import data_dir

INITS = (("active", "Continue from the current model"), ("imagenet", "ImageNet weights"), ("scratch", "Scratch"))


def train_command(db_path: Path | str, archs: Sequence[str], epochs: int | None, image_size: int | None,
                  batch_size: int, device: str, runs_dir: Path | str | None = None, *, init: str | None = None,
                  crystal_recall: float | None = None) -> list[str]:
    """The training subprocess' argv; the dialog activates models itself, so ``--activate none``.
    ``epochs``/``image_size`` None: the trainer's recipe; ``init``: active, imagenet or scratch;
    ``crystal_recall``: the operating point's target recall."""
    # a file by its absolute path; a server's URL without a password (PGPASSWORD, inherited, carries it)
    cmd = module_command("train", ["--db", location_of(db_path).absolute().argument(), "--arch", ",".join(archs),
                                   "--batch-size", str(batch_size), "--device", device, "--events", "-",
                                   "--activate", "none"])
    if epochs:
        cmd += ["--epochs", str(epochs)]
    if image_size:
        cmd += ["--image-size", str(image_size)]
    if init is not None:
        cmd += ["--init", init]
    if crystal_recall is not None:
        cmd += ["--crystal-recall", f"{crystal_recall:g}"]
    if runs_dir is not None:
        cmd += ["--runs-dir", str(Path(runs_dir).absolute())]
    return cmd


def neutral_folder() -> str:
    """Where the trainer runs: the user data folder, never the folder the app was started from."""
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


def start_trainer(process: QProcess, cmd: list[str]) -> None:
    """Start ``cmd`` in ``process`` as described above; failures arrive as ``errorOccurred``."""
    env = QProcessEnvironment.systemEnvironment()
    for key, value in own_code_environment({"PYTHONPATH": env.value("PYTHONPATH", "")}).items():
        env.insert(key, value)
    env.insert("PYTHONUNBUFFERED", "1")
    env.insert("PYTHONIOENCODING", "utf-8")
    process.setProcessEnvironment(env)
    process.setWorkingDirectory(neutral_folder())
    process.start(cmd[0], cmd[1:])


class LineBuffer:
    """Whole lines from a byte stream that arrives in arbitrary chunks; the partial tail waits."""

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, data: bytes) -> list[str]:
        *lines, self._tail = (self._tail + data).split(b"\n")
        return [_text(raw) for raw in lines]

    def flush(self) -> list[str]:
        rest, self._tail = self._tail, b""
        return [_text(rest)] if rest.strip() else []


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r").rsplit("\r", 1)[-1]  # a progress bar's last redraw
