"""Versions and paths for the About box (and bug reports)."""

from __future__ import annotations

from pathlib import Path


def about_text(db_path: Path | None) -> str:
    import PySide6
    import torch
    import torchvision
    from PySide6.QtCore import qVersion

    from xtalviewer import __version__

    cuda = (f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})" if torch.cuda.is_available()
            else "none")
    return (
        f"<b>xtalviewer {__version__}</b><br>"
        "Review crystallization drops with live CNN predictions, correct labels, retrain.<br><br>"
        f"Qt {qVersion()} (PySide6 {PySide6.__version__})<br>"
        f"torch {torch.__version__}, torchvision {torchvision.__version__}<br>"
        f"CUDA device: {cuda}<br>"
        f"Database: {db_path}"
    )
