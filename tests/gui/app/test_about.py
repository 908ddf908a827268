import subprocess
import sys

import torch
from PySide6.QtCore import qVersion

from xtalviewer import __version__
from xtalviewer.gui.app.about import about_text


def test_about_names_every_version_and_the_database(tmp_path):
    text = about_text(tmp_path / "lab.db")
    assert __version__ in text and qVersion() in text and torch.__version__ in text
    assert "CUDA device:" in text and str(tmp_path / "lab.db") in text


def test_version_flag():
    out = subprocess.run([sys.executable, "-m", "xtalviewer", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"xtalviewer {__version__}"
