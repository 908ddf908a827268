"""A reader that leaves early (``xtalviewer stats | head -1``) ends the command quietly with exit
141 (128 + SIGPIPE, as `grep` or `cat` would), never a BrokenPipeError traceback; the work is done."""

import os
import subprocess
import sys

import pytest
from imagefiles import write_image

from xtalviewer.cli import EXIT_BROKEN_PIPE, main
from xtalviewer.store.store import Store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipe")
    for well in ("A01", "A02", "B01"):
        write_image(folder / "PL1" / f"{well}.jpg", size=(16, 12))
        write_image(folder / "PL2" / f"{well}.jpg", size=(16, 12))
    db = folder / "x.db"
    assert main(["import", "--db", str(db), str(folder / "PL1")]) == 0  # registers the shipped base model
    (folder / "labels.csv").write_text("image_path,label\n" + "".join(
        f"{p},clear\n" for p in sorted((folder / "PL1").iterdir())))
    return folder, db


@pytest.mark.parametrize("command", [["stats"], ["hits"], ["models"], ["import", "PL2"], ["import-labels", "labels.csv"]])
def test_a_reader_that_left_ends_the_command_quietly(store, command):
    folder, db = store
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        proc = subprocess.run([sys.executable, "-m", "xtalviewer", *command, "--db", str(db)], cwd=folder,
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == EXIT_BROKEN_PIPE and proc.stderr == "", proc.stderr
    with Store(db, readonly=True) as s:  # what the command does was done before anything was printed
        if command[0] == "import":
            assert s.plate_by_barcode("PL2") is not None
        if command[0] == "import-labels":
            assert s.label_counts().get("clear") == 3
