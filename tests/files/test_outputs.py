"""Output files: non-regular targets are refused and left alone; symbolic links are written through."""

import os
import stat

import pytest
from specialfiles import file_type, special_targets

from xtalviewer.files.outputs import OutputFileError, atomic_output, output_target, write_output


def test_every_non_regular_target_is_refused_and_left_as_it_was(tmp_path):
    for kind, path in special_targets(tmp_path).items():
        before = file_type(path)
        with pytest.raises(OutputFileError, match="not a regular file"):
            write_output(path, "<html></html>")
        assert file_type(path) == before, kind
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_a_symbolic_link_is_written_through_and_stays_a_link(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old")
    os.chmod(real, 0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    write_output(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # the file keeps its permissions


def test_a_dangling_link_creates_its_target(tmp_path):
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "later.csv")
    write_output(link, b"bytes")
    assert link.is_symlink() and (tmp_path / "later.csv").read_bytes() == b"bytes"


def test_a_link_to_a_device_is_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "out.html").symlink_to(fifo)
    with pytest.raises(OutputFileError, match="FIFO"):
        output_target(tmp_path / "out.html")


def test_a_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as fh:
        fh.write("half")
        raise RuntimeError("stop")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(OutputFileError, match="does not exist"):
        output_target(tmp_path / "missing" / "out.csv")
