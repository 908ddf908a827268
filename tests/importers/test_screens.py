"""Screen files: HWI's cocktail-list layout (header variants, empty cells, 1536-well positions), the
plain well,condition CSV (names or numbers, component columns or text), Rock Maker's screen XML;
bad rows named by line and nothing stored; the imager's CSV naming the plate's screen on import.
Every screen here is made up for the test."""

from pathlib import Path

import pytest
from imagefiles import write_image

from xtalviewer.importers import import_paths
from xtalviewer.importers.screens import (ScreenFileError, components_from_text, parse_amount, read_screen_file,
                                          unit_text)
from xtalviewer.store.store import Store

HWI_STYLE = (
    '"Composite List",,,,,,,,,,,\n'
    '"Well position in plate","Cocktail #","Commercial Code","Chemical Additive","Chemical Formula",Concentration,'
    '"Chemical Additive",Concentration,pH,"Chemical Additive",Concentration,,\n'
    '1,T_0001,,"Zinc acetate ",ZnAc,"0.05 M",Imidazole,"0.1 M",6.5,"PEG 2000","12% (w/v)",,\n'
    '193,T_0002,,,,,Bicine,"0.1 M",9,"PEG 6000","10%w/v",,\n'
    '1536,T_0003,,"Lithium  chloride",LiCl,"1.2 M",,,,,,,\n'
)
# a later generation: "Conc" columns, a header cell across two lines, no quoting
HWI_VARIANT = (
    'Composite List,,,,,,,,,,\n'
    'Well position in plate,Cocktail #,"96 Deep\nWell #",Chemical Additive,Chemical Formula,Conc,Chemical Additive,'
    'Conc,pH,Chemical Additive,Conc\n'
    '5,V_0002,Made-up A2,,,,Sodium acetate,0.3 M,4.8,PEG 3350,17% (w/v)\n'
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_amounts_units_and_condition_text():
    assert parse_amount("0.1 M") == (0.1, "M") and parse_amount("100 mM") == (100.0, "mM")
    assert parse_amount("20% (v/v)") == (20.0, "% (v/v)") and parse_amount("5% w/v") == (5.0, "% (w/v)")
    assert parse_amount("0,2 M") == (0.2, "M") and parse_amount("7") == (7.0, None)
    with pytest.raises(ValueError):
        parse_amount("a lot")
    assert unit_text("%W/V") == "% (w/v)" and unit_text(" ") is None
    components, ph = components_from_text("0.1 M HEPES pH 7.5, 20% (w/v) PEG 3350; 1,2-propanediol, pH 7")
    assert [(c.chemical, c.concentration, c.unit, c.ph) for c in components] == [
        ("HEPES", 0.1, "M", 7.5), ("PEG 3350", 20.0, "% (w/v)", None), ("1,2-propanediol", None, None, None)]
    assert ph == 7.0


def test_the_hwi_cocktail_list_gives_positions_on_1536_wells_and_components(tmp_path):
    screen = read_screen_file(write(tmp_path, "made_up_cocktails.csv", HWI_STYLE))
    assert (screen.name, screen.rows, screen.cols, screen.source) == ("made_up_cocktails", 32, 48,
                                                                     "hwi: made_up_cocktails.csv")
    first, second, last = screen.conditions
    assert (first.position, first.row, first.col, first.code, first.ph) == (1, 1, 1, "T_0001", 6.5)
    assert first.description == "0.05 M Zinc acetate; 0.1 M Imidazole pH 6.5; 12% (w/v) PEG 2000"
    assert (second.row, second.col) == (5, 1)  # 193 = row-major on 48 columns: E01
    assert [c.chemical for c in second.components] == ["Bicine", "PEG 6000"]  # the empty first additive is skipped
    assert second.components[1].unit == "% (w/v)"
    assert (last.row, last.col, last.ph, last.components[0].chemical) == (32, 48, None, "Lithium chloride")
    (variant,) = read_screen_file(write(tmp_path, "v.csv", HWI_VARIANT), name="Variant").conditions
    assert (variant.position, variant.code, variant.ph) == (5, "V_0002", 4.8)
    assert variant.description == "0.3 M Sodium acetate pH 4.8; 17% (w/v) PEG 3350"


def test_bad_rows_are_named_by_line_and_nothing_is_kept(tmp_path):
    bad = HWI_STYLE + '1,T_0004,,Urea,,"2 M",,,,,,,\n0,T_0005,,Urea,,,,,,,,,\n7,T_0006,,Urea,,"plenty",,,,,,,\n' \
        '9,T_0007,,,,,,,,,,,\n11,T_0008,,Urea,,,Tris,"0.1 M",neutral,,,,\n'
    with pytest.raises(ScreenFileError) as caught:
        read_screen_file(write(tmp_path, "bad.csv", bad))
    text = str(caught.value)
    assert "5 lines cannot be used, so nothing was stored" in text
    for line, why in ((6, "position 1 again (first on line 3)"), (7, "not a whole number from 1 to 1536"),
                      (8, "not a concentration: 'plenty'"), (9, "no chemical"), (10, "not a pH: 'neutral'")):
        assert f"line {line}: " in text and why in text


def test_the_plain_csv_takes_well_names_or_numbers_and_components_as_columns_or_text(tmp_path):
    text = ("well,code,condition,ph,component_1,concentration_1,unit_1,component_2,concentration_2,ph_2\n"
            "A1,C1,,,PEG 3350,25,% w/v,Tris,0.1 M,8.5\n"
            "2,C2,0.2 M ammonium sulfate; 0.1 M sodium citrate pH 5.6,,,,,,,\n"
            "h12,,Made-up mixture,6.2,,,,,,\n")
    screen = read_screen_file(write(tmp_path, "lab.csv", text), name="Lab grid")
    a1, a2, h12 = screen.conditions
    assert (screen.name, screen.rows, screen.cols) == ("Lab grid", 8, 12)
    assert a1.description == "25% (w/v) PEG 3350; 0.1 M Tris pH 8.5" and a1.ph == 8.5
    assert (a2.row, a2.col, a2.ph) == (1, 2, 5.6) and [c.chemical for c in a2.components] == [
        "ammonium sulfate", "sodium citrate"]
    assert (h12.position, h12.ph, h12.components[0].chemical) == (96, 6.2, "Made-up mixture")
    with pytest.raises(ScreenFileError, match=r"line 3: well 'Z99'.*line 4: well A01 again \(first on line 2\)"):
        read_screen_file(write(tmp_path, "bad.csv", "well,condition\nA1,PEG\nZ99,salt\nA01,salt\n"))
    with pytest.raises(ScreenFileError, match="must name the columns: well, condition"):
        read_screen_file(write(tmp_path, "none.csv", "position_in_tray,what\n1,x\n"))


ROCK_MAKER = """<?xml version="1.0" encoding="utf-8"?>
<screen>
  <name>Made-up Rock Maker screen</name>
  <ingredients>
    <ingredient><name>PEG 4000</name><stocks><stock><localID>1</localID><stockConcentration>50</stockConcentration>
      <units>%w/v</units></stock></stocks></ingredient>
    <ingredient><name>Sodium cacodylate</name><stocks><stock><localID>2</localID>
      <stockConcentration>1</stockConcentration><units>M</units><pH>6.5</pH></stock></stocks></ingredient>
  </ingredients>
  <conditions>
    <condition><conditionIngredient><stockLocalID>1</stockLocalID><concentration>18</concentration>
      <type>Precipitant</type></conditionIngredient>
      <conditionIngredient><stockLocalID>2</stockLocalID><concentration>0.1</concentration><pH>6.5</pH>
      <type>Buffer</type></conditionIngredient></condition>
    <condition><conditionIngredient><stockLocalID>1</stockLocalID><concentration>24</concentration>
      <type>Precipitant</type></conditionIngredient></condition>
  </conditions>
</screen>
"""


def test_rock_maker_screen_xml_lists_conditions_row_major(tmp_path):
    screen = read_screen_file(write(tmp_path, "rm.xml", ROCK_MAKER))
    first, second = screen.conditions
    assert screen.name == "Made-up Rock Maker screen" and (screen.rows, screen.cols) == (8, 12)
    assert first.description == "18% (w/v) PEG 4000; 0.1 M Sodium cacodylate pH 6.5" and first.ph == 6.5
    assert (second.position, second.row, second.col) == (2, 1, 2)
    broken = ROCK_MAKER.replace("<stockLocalID>1</stockLocalID><concentration>24", "<stockLocalID>9</stockLocalID>"
                                                                                   "<concentration>24")
    with pytest.raises(ScreenFileError, match="condition 2: stock 9 is not among"):
        read_screen_file(write(tmp_path, "broken.xml", broken))


def test_not_a_screen_file(tmp_path):
    with pytest.raises(ScreenFileError, match="binary file"):
        read_screen_file(write(tmp_path, "x.csv", "well,condition\n\0\0\0"))
    with pytest.raises(ScreenFileError, match="no conditions found"):
        read_screen_file(write(tmp_path, "empty.csv", "well,condition\n"))
    with pytest.raises(ScreenFileError, match="cannot be read"):
        read_screen_file(tmp_path / "missing.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("well,condition\nA1,0.1 M sodium citrate \xb7 2 H2O\n".encode("cp1252"))
    assert read_screen_file(latin).conditions[0].description.endswith("\u00b7 2 H2O")


def test_the_imagers_csv_naming_the_screen_assigns_it_on_import(tmp_path, db_path):
    folder = tmp_path / "90j8_2018-04-11_RI1000-0081-1drop"
    for col in (1, 2):
        write_image(folder / f"90j8_{col:02d}A_1.jpg", size=(40, 30))
    (tmp_path / "90j8.csv").write_text(
        "BatchID,DateImaged,DropNum,ImagerName,PlateID,ProfileID,WellColNum,WellNum,WellRowLetter,ScreenName\n"
        "616,2018-04-11 09:14:05,1,RI1000-0081,692,1,1,1,A,Lab grid\n")
    with Store(db_path) as s:
        s.add_screen(read_screen_file(write(tmp_path, "grid.csv", "well,condition\nA1,20% PEG 3350\nA2,2 M urea\n"),
                                      name="Lab grid"))
        import_paths(s, [folder, tmp_path / "90j8.csv"])
        found = s.plate_screen(s.plate_by_barcode("90j8").id)
        assert (found.screen, found.source) == ("Lab grid", "imager")
        assert s.plate_conditions(found.plate_id)["A02"].description == "2 M urea"
