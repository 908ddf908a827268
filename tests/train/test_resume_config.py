"""--resume reads a run's args.json back: a file of the wrong shape is one line, exit 2."""

import pytest

from train.cli import main


@pytest.mark.parametrize("saved, problem", [
    ("[1, 2, 3]", "holds a JSON list, not an object of settings"),
    ('{"arch": 5, "epochs": 3}', "setting 'arch' is 5; it must be text"),
    ('{"epochs": "ten"}', "setting 'epochs' is \"ten\"; it must be a whole number or null"),
    ("[" * 100_000 + "]" * 100_000, "nests more deeply"),
])
def test_resume_with_args_json_of_the_wrong_shape_is_one_line(tmp_path, capsys, saved, problem):
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "args.json").write_text(saved)
    (run / "split.json").write_text("{}")
    assert main(["--resume", "r1", "--runs-dir", str(tmp_path / "runs"), "--db", str(tmp_path / "x.db")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "args.json is damaged" in err and problem in err, err
