"""The labelled-set scoring behind bench/real.py and the demo's real-drop line, on images made here."""

import cv2

from dropimages import small_drop
from xtalviewer.model.real_drops import describe_on_real_drops, read_labels, summarise
from xtalviewer.model.registry import shipped_base_model


def write_set(folder):
    folder.mkdir()
    lines = ["file,crystal,source_label,source,note"]
    for i, (label, crystal) in enumerate([("crystals_3d", 1), ("needles", 1), ("clear", 0), ("skin", 0)]):
        name = f"drop_{i}.jpg"
        cv2.imwrite(str(folder / name), cv2.cvtColor(small_drop(label, seed=10 + i), cv2.COLOR_RGB2BGR))
        lines.append(f"{name},{crystal},{label},lab/imager-{i % 2} (made here),")
    lines.append("missing.jpg,0,clear,lab/imager-0,")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return folder / "labels.csv"


def test_a_labelled_set_is_read_scored_and_summarised_per_source(tmp_path):
    labels = write_set(tmp_path / "set")
    rows = read_labels(labels)
    assert [r["source"] for r in rows][:2] == ["imager-0", "imager-1"] and rows[0]["crystal"] and not rows[2]["crystal"]
    summary = summarise([dict(r, crystal_prob=p, crystal_top3=p > 0.1) for r, p in zip(rows[:4], [0.9, 0.3, 0.2, 0.05])],
                        threshold=0.25)
    assert summary == {"images": 4, "crystals": 2, "auc": 1.0, "recall": 1.0, "non_crystal_flagged": 0.0,
                       "top3_recall": 1.0, "top3_non_crystal_flagged": 0.5}
    line = describe_on_real_drops(shipped_base_model(), labels)  # the unreadable file is left out, not fatal
    assert line.startswith("AUC ") and "4 real drops, 2 with crystals" in line
    assert describe_on_real_drops(shipped_base_model(), tmp_path / "nowhere.csv") is None
