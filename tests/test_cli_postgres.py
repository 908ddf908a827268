"""The command line on a PostgreSQL store, as a lab's workstation uses it: XTALVIEWER_DB naming the
server, a password that never shows (output, errors, child processes' command lines), and a wrong
password or an unreachable server as one line and exit 2."""

from __future__ import annotations

import socket

import pytest
from imagefiles import write_image

from xtalviewer.cli import main
from xtalviewer.gui.retrain.trainer_process import train_command
from xtalviewer.store.location import location_of

SECRET = "s3cret-PW"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def plate_folder(tmp_path):
    folder = tmp_path / "P7_2026-02-03_RI1000-0081-2drop"
    for col in (1, 2):
        write_image(folder / f"P7_{col:02d}A_1.jpg")
    return folder


@pytest.fixture
def password_url(pg_cluster, monkeypatch):
    """A role that must give its password; PGPASSWORD is put back as it was after the test."""
    monkeypatch.setenv("PGPASSWORD", "")  # what the commands put there is undone at the end
    name = f"lab_{id(monkeypatch) % 100000}"
    return pg_cluster.password_role(name, SECRET)


def test_a_password_in_the_url_works_and_never_shows(capsys, plate_folder, password_url):
    typed = password_url.replace("@", f":{SECRET}@", 1)
    code, out, err = run(capsys, "import", plate_folder, "--db", typed)
    assert code == 0 and "Recorded 1 plate" in out, err
    code, out, err = run(capsys, "stats", "--db", typed)
    assert code == 0 and f"Database {password_url} " in out
    assert SECRET not in out + err


def test_a_wrong_password_or_no_server_is_one_line_and_exit_2(capsys, password_url):
    code, out, err = run(capsys, "stats", "--db", password_url.replace("@", ":not-it@", 1))
    assert code == 2 and err.count("\n") == 1 and "password authentication failed" in err
    assert "not-it" not in err and "Traceback" not in err
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, _, err = run(capsys, "import", "/nowhere", "--db", f"postgresql://ann:{SECRET}@127.0.0.1:{port}/lab")
    assert code == 2 and err.count("\n") == 1 and SECRET not in err
    code, _, err = run(capsys, "stats", "--db", f"postgresql://ann:{SECRET}@127.0.0.1:{port}/lab")
    assert code == 2 and err.count("\n") == 1 and "cannot connect to PostgreSQL database" in err
    assert "postgresql://ann@127.0.0.1" in err and SECRET not in err


def test_xtalviewer_db_names_the_server(capsys, plate_folder, pg_url, monkeypatch):
    monkeypatch.setenv("XTALVIEWER_DB", pg_url)
    assert run(capsys, "import", plate_folder)[0] == 0
    code, out, _ = run(capsys, "stats")
    assert code == 0 and f"Database {pg_url} " in out and "P7" in out


def test_processes_started_for_a_store_get_no_password_on_their_command_line(tmp_path):
    typed = location_of(f"postgresql://ann:{SECRET}@db.lab:5432/xtal?sslmode=require")
    argv = train_command(typed, ["resnet"], None, None, 16, "cpu")
    assert "postgresql://ann@db.lab:5432/xtal?sslmode=require" in argv and SECRET not in " ".join(argv)
    assert str(typed) == typed.argument() == "postgresql://ann@db.lab:5432/xtal?sslmode=require"
    assert typed.child_env() == {"PGPASSWORD": SECRET}  # what a child needs, through its environment
    assert location_of(tmp_path / "lab.db").absolute().argument() == str(tmp_path / "lab.db")


def test_an_empty_server_database_is_made_a_store_by_import_only(capsys, plate_folder, pg_url):
    code, _, err = run(capsys, "stats", "--db", pg_url)
    assert code == 2 and "holds no xtalviewer store yet" in err
    assert run(capsys, "import", plate_folder, "--db", pg_url)[0] == 0
    assert run(capsys, "stats", "--db", pg_url)[0] == 0
