"""``predict --latest`` scores each plate's latest inspection that holds images of the model's mode:
a time stamp that holds only UV or SHG images is not the visible model's latest, and images of other
modes are never counted as "already scored"."""

from imagefiles import write_hwi
from modelfiles import tiny_checkpoint

from xtalviewer.cli import main
from xtalviewer.importers import import_paths
from xtalviewer.store.store import Store


def test_predict_latest_scores_the_latest_visible_inspection_and_counts_by_mode(tmp_path, store_location, capsys):
    images = tmp_path / "img"
    plate = write_hwi(images, stamps=("201807151230",), kinds=("jpg", "uvt"))  # visible and UV: 4 drops each
    write_hwi(images, stamps=("201807221230",), kinds=("uvt", "shg"))  # a week later: UV and SHG only
    db = store_location
    with Store(db) as s:
        import_paths(s, [images])
        ckpt = tiny_checkpoint(tmp_path / "tiny.pt", s.scheme)
        s.add_model(name="tiny", arch="resnet18", classes=s.scheme.keys, input_size=32, path=str(ckpt), activate=True)
    assert main(["predict", "--db", str(db), "--latest", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "Scored 4 images" in out and "0 already scored" in out, out
    assert "12 images of other imaging modes are not this model's to score" in out
    with Store(db, readonly=True) as s:
        keys = [r["key"] for r in s.query("SELECT n.key FROM prediction p JOIN image i ON i.id = p.image_id "
                                          "JOIN inspection n ON n.id = i.inspection_id WHERE i.mode = 'visible'")]
        assert keys == ["201807151230"] * 4 and plate
    assert main(["predict", "--db", str(db), "--latest", "--device", "cpu"]) == 0  # nothing left: all 4 scored
    assert "Scored 0 images" in (out := capsys.readouterr().out) and "4 already scored" in out, out
