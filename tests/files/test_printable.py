"""Names from outside are shown escaped: a file named with a terminal escape sequence must not drive
the terminal ``import`` prints to, and ESC or NUL must not reach an HTML report."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from imagefiles import write_image

from xtalviewer.cli import main
from xtalviewer.files.printable import printable
from xtalviewer.importers import import_paths
from xtalviewer.report.hits import render_hits
from xtalviewer.report.html import build_report
from xtalviewer.imaging.thumbnails import ThumbnailCache
from xtalviewer.store.store import Store

ESC = "\x1b"
CONTROL = [chr(c) for c in range(32)] + ["\x7f"]


@pytest.mark.parametrize("raw, shown", [
    ("plain/a b.jpg", "plain/a b.jpg"),
    (f"A01{ESC}[2J{ESC}]0;title\x07.jpg", "A01\\x1b[2J\\x1b]0;title\\x07.jpg"),
    ("nul\x00 and\nnew line", "nul\\x00 and\\x0anew line"),
    (os.fsdecode(b"latin\xe9.jpg"), "latin\\xe9.jpg"),  # a byte that is not UTF-8
    ("\u202egpj.exe", "\\u202egpj.exe"),  # right-to-left override
    (Path("/lab/é ü/A01.jpg"), "/lab/é ü/A01.jpg"),
    (b"bytes\x1b", "bytes\\x1b"),
    ("C:\\plates\\A01.jpg", "C:\\plates\\A01.jpg"),
])
def test_printable_escapes_control_characters_only(raw, shown):
    assert printable(raw) == shown


def test_import_shows_file_names_escaped(tmp_path, db_path, capsys):
    folder = tmp_path / f"PL{ESC}[31m"
    write_image(folder / "A01.jpg", size=(16, 12))
    write_image(folder / f"A01_thumb{ESC}[5m.jpg", size=(16, 12))  # skipped: a second image of A01
    (folder / f"B01{ESC}]0;pwned\x07.jpg").write_bytes(b"not an image")  # unreadable
    assert main(["import", "-v", "--db", str(db_path), str(folder)]) == 0
    out = capsys.readouterr().out
    assert ESC not in out and "\x07" not in out
    assert "B01\\x1b]0;pwned\\x07.jpg: not an image file" in out and "A01_thumb\\x1b[5m.jpg" in out
    assert main(["import", "--db", str(db_path), str(tmp_path / f"gone{ESC}[2J")]) == 2
    err = capsys.readouterr().err
    assert ESC not in err and "gone\\x1b[2J: no such file or folder" in err
    assert main(["stats", "--db", str(db_path)]) == 0
    assert ESC not in capsys.readouterr().out


def test_control_characters_never_reach_an_html_report(tmp_path, db_path):
    folder = tmp_path / f"PL{ESC}[31m"
    write_image(folder / "A01.jpg", size=(16, 12))
    (folder / f"A02{ESC}[2J.jpg").write_bytes(b"not an image")
    with Store(db_path) as store:
        import_paths(store, [folder])
        (plate,) = store.barcodes()
        for image_id in store.image_ids():  # crystal labels: both drops are in the report's hit list
            store.add_annotation(image_id, "needles", f"ann\x00{ESC}[31m")
        text = build_report(store, plate, thumb_cache=ThumbnailCache(tmp_path / "thumbs"))
    assert all(c not in text for c in CONTROL if c not in "\n")
    assert "ann\\x00\\x1b[31m" in text and "A02\\x1b[2J.jpg" in text and "PL\\x1b[31m" in text
    text.encode("utf-8")


def test_control_characters_never_reach_a_hit_list_document():
    from xtalviewer.store.rows import Hit

    row = Hit(1, 1, f"PL{ESC}[31m", "i1", None, "A01", 1, f"/x/A01\x00{ESC}.jpg", "needles", 0.9, True, True, 0.9,
              "i1", None)
    for fmt, shown in (("md", "A01\\\\x00\\\\x1b.jpg"), ("html", "A01\\x00\\x1b.jpg")):  # Markdown doubles a \\
        text = render_hits([row], fmt, rule="rule", title="Hits", new_only=False)
        assert ESC not in text and "\x00" not in text and shown in text
