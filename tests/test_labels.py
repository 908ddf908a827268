import json

import pytest

from xtalviewer.labels import SchemeError, available_schemes, load_scheme, load_scheme_file


def write(tmp_path, doc, name="lab.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def base_doc():
    return json.loads(json.dumps({
        "name": "lab",
        "classes": [
            {"key": "clear", "name": "Clear", "hotkey": "1", "color": "#ffffff", "crystal": False, "marco": "Clear"},
            {"key": "xtal", "name": "Crystal", "hotkey": "2", "color": "#ff0000", "crystal": True, "marco": "Crystals"},
        ],
    }))


def test_default_xtal10_matches_the_design_table():
    s = load_scheme()
    assert s.id == "xtal10"
    assert s.keys == ["clear", "light_precipitate", "heavy_precipitate", "phase_separation", "skin", "other",
                      "microcrystals", "needles", "plates", "crystals_3d"]
    assert [c.hotkey for c in s.classes] == list("1234567890")
    assert s.crystal_keys == {"microcrystals", "needles", "plates", "crystals_3d"}
    assert [c.marco for c in s.classes] == ["Clear", "Precipitate", "Precipitate", "Other", "Other", "Other",
                                            "Crystals", "Crystals", "Crystals", "Crystals"]
    assert s.by_hotkey("0").key == "crystals_3d"


def test_marco4_loads_and_both_are_listed():
    s = load_scheme("marco4")
    assert s.keys == ["crystals", "precipitate", "clear", "other"]
    assert s.crystal_keys == {"crystals"}
    assert {"xtal10", "marco4"} <= set(available_schemes())


def test_resolve_accepts_keys_names_and_marco_aliases():
    s = load_scheme("xtal10")
    assert s.resolve("needles") == "needles"
    assert s.resolve("3D crystals") == "crystals_3d"
    assert s.resolve("  CRYSTALS ") == "crystals_3d"  # MARCO class name
    assert s.resolve("Precipitate") == "heavy_precipitate"
    assert s.resolve("banana") is None
    assert s.resolve("") is None


def test_valid_user_scheme_loads(tmp_path):
    s = load_scheme_file(write(tmp_path, base_doc()))
    assert s.id == "lab" and s.keys == ["clear", "xtal"]


def test_user_scheme_folder_is_searched(isolated_home):
    folder = isolated_home / "label_schemes"
    folder.mkdir()
    write(folder, base_doc(), "mylab.json")
    assert load_scheme("mylab").keys == ["clear", "xtal"]
    assert "mylab" in available_schemes()


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["classes"][1].update(hotkey="1"), "duplicate hotkey '1'"),
        (lambda d: d["classes"][1].update(key="clear"), "duplicate key 'clear'"),
        (lambda d: d["classes"][0].update(shortcut="x"), "unknown field 'shortcut'"),
        (lambda d: d.update(version=2), "unknown field 'version'"),
        (lambda d: d.update(classes=[]), "class list is empty"),
        (lambda d: d.pop("classes"), "missing the 'classes' list"),
        (lambda d: d["classes"][0].pop("color"), "missing field 'color'"),
        (lambda d: d["classes"][0].update(crystal="no"), "'crystal' must be a true/false"),
        (lambda d: d["classes"][0].update(color="red"), "must look like #rrggbb"),
        (lambda d: d["classes"][0].update(marco="Sludge"), "marco 'Sludge'"),
        (lambda d: d["classes"][0].update(hotkey="12"), "single printable character"),
        (lambda d: d["classes"][0].update(key="Has Space"), "lower-case"),
        (lambda d: d["classes"][1].update(crystal=False), "no class is marked"),
        (lambda d: d.update(aliases={"Crystals": "nothing"}), "unknown class key 'nothing'"),
    ],
)
def test_bad_scheme_gives_one_clear_message_naming_the_file(tmp_path, mutate, expected):
    doc = base_doc()
    mutate(doc)
    path = write(tmp_path, doc)
    with pytest.raises(SchemeError) as err:
        load_scheme_file(path)
    message = str(err.value)
    assert str(path) in message
    assert expected in message
    assert "\n" not in message


def test_malformed_json_reports_line_and_column(tmp_path):
    path = write(tmp_path, '{"classes": [\n  {"key": "a",}\n]}')
    with pytest.raises(SchemeError, match=r"not valid JSON: .* line 2"):
        load_scheme_file(path)


def test_missing_scheme_names_known_ones():
    with pytest.raises(SchemeError, match="known schemes: .*xtal10"):
        load_scheme("nope")


def test_a_scheme_nested_too_deeply_is_one_line_not_a_recursion_error(tmp_path, capsys):
    from xtalviewer.cli import main

    path = write(tmp_path, '{"classes": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(SchemeError, match="nests lists or objects more deeply"):
        load_scheme_file(path)
    (tmp_path / "plate").mkdir()
    assert main(["import", "--db", str(tmp_path / "x.db"), "--scheme", str(path), str(tmp_path / "plate")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nests lists or objects more deeply" in err
    assert not (tmp_path / "x.db").exists()
