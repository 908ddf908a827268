"""``--db`` is the same option before and after the command: ``xtalviewer --db X stats`` reads X."""

from xtalviewer.cli import main
from xtalviewer.store.store import Store


def test_db_before_the_command_is_the_database_the_command_uses(tmp_path, capsys, monkeypatch):
    chosen, default = tmp_path / "chosen.db", tmp_path / "default.db"
    monkeypatch.setenv("XTALVIEWER_DB", str(default))
    Store(chosen).close()
    Store(default).close()
    assert main(["--db", str(chosen), "stats"]) == 0
    assert f"Database {chosen} " in capsys.readouterr().out
    assert main(["stats", "--db", str(chosen)]) == 0
    assert f"Database {chosen} " in capsys.readouterr().out
    assert main(["stats"]) == 0
    assert f"Database {default} " in capsys.readouterr().out
