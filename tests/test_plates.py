import pytest

from xtalviewer.plates import (
    PlateType,
    columns_for_well_numbers,
    infer_plate_type,
    parse_well,
    row_letter,
    row_number,
    well_from_number,
    well_name,
)


def test_well_names_round_trip_on_every_format():
    for rows, cols in ((8, 12), (16, 24), (32, 48)):
        for r in range(1, rows + 1):
            for c in range(1, cols + 1):
                assert parse_well(well_name(r, c)) == (r, c)


def test_row_letters_beyond_z_for_1536_plates():
    assert row_letter(1) == "A" and row_letter(26) == "Z" and row_letter(27) == "AA" and row_letter(32) == "AF"
    assert row_number("af") == 32
    assert well_name(32, 48) == "AF48"


def test_parse_well_accepts_common_spellings_and_rejects_others():
    assert parse_well("A1") == (1, 1)
    assert parse_well("h012") == (8, 12)
    for bad in ("A0", "Z99", "1A", "", "AAA1"):
        with pytest.raises(ValueError):
            parse_well(bad)


def test_rockmaker_well_numbers_are_row_major():
    assert well_from_number(1, 12) == (1, 1)
    assert well_from_number(2, 12) == (1, 2)
    assert well_from_number(49, 12) == (5, 1)  # E1
    assert well_from_number(96, 12) == (8, 12)
    assert columns_for_well_numbers(96) == 12
    assert columns_for_well_numbers(97) == 24
    assert columns_for_well_numbers(1536) == 48


def test_infer_plate_type_picks_the_smallest_standard_plate():
    assert infer_plate_type(8, 12, 2) == PlateType(8, 12, 2)
    assert infer_plate_type(3, 13, 1) == PlateType(16, 24, 1)
    assert infer_plate_type(17, 2, 1) == PlateType(32, 48, 1)
    assert infer_plate_type(1, 1, 1, hint=PlateType(32, 48, 1)) == PlateType(32, 48, 1)
    assert infer_plate_type(2, 2, 1, hint=PlateType(1, 1, 3)).drops == 3
    assert PlateType(16, 24, 3).label == "384-well, 3 drops"
