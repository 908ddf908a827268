"""``xtalviewer stats`` counts an HWI jpg + uvt + shg time stamp as one inspection."""

from imagefiles import write_hwi

from xtalviewer.cli import main


def test_stats_counts_one_inspection_per_hwi_time_stamp(capsys, tmp_path, db_path):
    plate = write_hwi(tmp_path / "hwi", stamps=("201807151230", "201807221230"))
    assert main(["import", str(tmp_path / "hwi"), "--db", str(db_path)]) == 0
    assert "2 inspections" in capsys.readouterr().out
    assert main(["stats", "--db", str(db_path)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(plate))
    assert line.split()[4:6] == ["2", "8"]  # inspections, (visible) images
    assert line.split()[-1] == "16"  # the UV and SHG images beside them
