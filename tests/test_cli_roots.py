"""``xtalviewer roots``: list the store's image roots with this workstation's folders, define one
(the paths already stored below it move under it), map and unmap one here; bad input is one line
and exit 2. On both engines."""

from __future__ import annotations

import json

from imagefiles import write_image

from xtalviewer.cli import main
from xtalviewer.settings import settings_path
from xtalviewer.store.store import Store


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def mapping_here() -> dict:
    return json.loads(settings_path().read_text()).get("image_roots", {}) if settings_path().exists() else {}


def test_define_map_and_unmap_a_root(capsys, store_location, tmp_path):
    share = (tmp_path / "mnt" / "rockimager").resolve()
    for col in (1, 2):
        write_image(share / "P7_2026-02-03_RI1000-0081-2drop" / f"P7_{col:02d}A_1.jpg")
    assert run(capsys, "import", share, "--db", store_location)[0] == 0
    code, out, err = run(capsys, "roots", "--db", store_location)
    assert code == 0 and "No image roots" in out and "(2 images)" in out, err

    code, out, err = run(capsys, "roots", "add", "RockImager", share, "--db", store_location)
    assert code == 0, err
    assert f"Image root RockImager defined at {share}: 2 image paths below it now stored relative to it" in out
    assert mapping_here() == {"RockImager": str(share)}
    code, out, _ = run(capsys, "roots", "--db", store_location)
    assert code == 0 and f"RockImager                  2  {share} (exists; settings)" in out
    assert "0 images under no root" in out

    # another workstation: the share mounted elsewhere, mapped there
    elsewhere = tmp_path / "Z"
    share.rename(elsewhere)
    assert run(capsys, "roots", "unmap", "RockImager", "--db", store_location)[0] == 0
    assert mapping_here() == {}
    code, out, _ = run(capsys, "roots", "--db", store_location)
    assert "not mapped (defined at" in out and "xtalviewer roots map RockImager FOLDER" in out
    # before it maps the root, this workstation imports the share's new plate by its own absolute paths;
    # the drops recorded below the root are left as the lab recorded them, and the import says why
    write_image(elsewhere / "Q1_2026-02-03_RI1000-0081-1drop" / "Q1_01A_1.jpg")
    code, out, err = run(capsys, "import", elsewhere, "--db", store_location)
    assert code == 0 and "2 drops of plate P7 are recorded under an image root this workstation does not map" in out
    code, out, err = run(capsys, "roots", "map", "RockImager", elsewhere, "--db", store_location)
    assert code == 0 and "3 images below it" in out, err
    assert "1 image path recorded below" in out and "now stored relative to the root" in out
    assert mapping_here() == {"RockImager": str(elsewhere.resolve())}
    with Store(store_location) as s:  # the settings' mapping is what every store opened here uses
        assert s.images_under_no_root() == 0
        paths = s.image_paths()[:2]
        assert all(p.startswith(str(elsewhere.resolve()) + "/") for p in s.image_paths())
    # a label CSV naming this workstation's paths finds the images; the export writes them
    labels = tmp_path / "labels.csv"
    labels.write_text(f"image_path,label\n{paths[0]},needles\n")
    code, out, err = run(capsys, "import-labels", labels, "--annotator", "ann", "--db", store_location)
    assert code == 0, err
    code, _, err = run(capsys, "export", "-o", tmp_path / "out.csv", "--db", store_location)
    rows = (tmp_path / "out.csv").read_text().splitlines()[1:]
    assert code == 0 and [r.split(",")[5:7] for r in rows][:2] == [[paths[0], "needles"], [paths[1], ""]], err


def test_bad_input_is_one_line_and_exit_2(capsys, store_location, tmp_path):
    folder = tmp_path / "share"
    write_image(folder / "P7_2026-02-03_RI1000-0081-2drop" / "P7_01A_1.jpg")
    assert run(capsys, "import", folder, "--db", store_location)[0] == 0
    assert run(capsys, "roots", "add", "RockImager", folder, "--db", store_location)[0] == 0
    cases = [
        (("add", "RockImager", folder), "image root 'RockImager' exists already"),
        (("add", "Other", tmp_path / "missing"), "does not exist"),
        (("add", "Rock Imager", folder), "cannot name an image root"),
        (("map", "Nope", folder), "no image root 'Nope'"),
        (("map", "RockImager", tmp_path / "missing"), "does not exist"),
        (("unmap", "Other"), "is not mapped in this workstation's settings"),
    ]
    for argv, says in cases:
        code, out, err = run(capsys, "roots", *argv, "--db", store_location)
        assert code == 2, (argv, out, err)
        assert err.count("\n") == 1 and err.startswith("xtalviewer roots: error: ") and says in err, (argv, err)
    with Store(store_location) as s:
        assert [r.name for r in s.image_roots()] == ["RockImager"]
