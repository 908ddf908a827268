import json

from xtalviewer.settings import SETTINGS_VERSION, Settings, load_settings, save_settings, settings_path


def test_defaults_when_there_is_no_file(isolated_home):
    settings, note = load_settings()
    assert settings == Settings() and note is None
    assert settings_path().is_relative_to(isolated_home)


def test_round_trip_keeps_every_field(tmp_path):
    path = tmp_path / "s.json"
    original = Settings(annotator="Ada", auto_advance=False, device="cpu", default_model=7, thumbnail_dir="/x/t",
                        thumbnail_limit_mb=512, thumbnail_size=200, label_scheme="marco4",
                        hotkeys={"needles": "n"}, review_order="crystal")
    save_settings(original, path)
    doc = json.loads(path.read_text())
    assert doc["version"] == SETTINGS_VERSION
    loaded, note = load_settings(path)
    assert loaded == original and note is None


def test_unknown_keys_survive_and_wrong_types_fall_back_to_defaults(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"version": 9, "annotator": "Bo", "auto_advance": "yes", "from_the_future": [1, 2]}))
    loaded, _ = load_settings(path)
    assert loaded.annotator == "Bo" and loaded.auto_advance is True  # default, not the string
    assert loaded.extra == {"from_the_future": [1, 2]}
    save_settings(loaded, path)
    assert json.loads(path.read_text())["from_the_future"] == [1, 2]


def test_a_broken_file_is_set_aside_with_a_note(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("{ not json")
    loaded, note = load_settings(path)
    assert loaded == Settings() and "could not be read" in note
    assert (tmp_path / "s.json.broken").read_text() == "{ not json" and not path.exists()


def test_the_database_chosen_in_preferences_comes_after_db_and_the_environment(tmp_path, monkeypatch):
    from xtalviewer.paths import data_dir
    from xtalviewer.settings import default_db_location, saved_database

    assert default_db_location() == data_dir() / "xtalviewer.db"  # nothing chosen: the data folder's file
    save_settings(Settings(database="postgresql://xtal@db.lab/xtalviewer"))
    assert default_db_location() == "postgresql://xtal@db.lab/xtalviewer"  # a URL stays text
    save_settings(Settings(database=str(tmp_path / "lab.db")))
    assert default_db_location() == tmp_path / "lab.db"
    monkeypatch.setenv("XTALVIEWER_DB", str(tmp_path / "env.db"))
    assert default_db_location() == tmp_path / "env.db"  # the environment comes first
    monkeypatch.delenv("XTALVIEWER_DB")
    path = settings_path()
    path.write_text("{broken", encoding="utf-8")
    assert saved_database() == "" and default_db_location() == data_dir() / "xtalviewer.db"
    assert path.read_text(encoding="utf-8") == "{broken"  # asking never sets the broken file aside


def test_a_command_without_db_opens_the_database_chosen_in_preferences(tmp_path, capsys):
    from xtalviewer.cli import main
    from xtalviewer.paths import data_dir
    from xtalviewer.plates import PlateType
    from xtalviewer.store.store import Store

    chosen = tmp_path / "chosen.db"
    with Store(chosen, create=True) as s:
        s.upsert_plate("CHOSEN1", PlateType(8, 12, 1))
    assert main(["stats"]) == 2  # the data folder's file does not exist: a read-only command refuses it
    capsys.readouterr()
    save_settings(Settings(database=str(chosen)))
    assert main(["stats"]) == 0
    assert "CHOSEN1" in capsys.readouterr().out
    assert not (data_dir() / "xtalviewer.db").exists()
