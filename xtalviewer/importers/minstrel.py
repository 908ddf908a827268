"""Rigaku Minstrel file names: long underscore-separated names such as
``RMM3_01_470_RGKU_Test1_Clon1_FB_0000FB000000_003_081218_01_03_02_E0_99_030_001_RDI.jpg``:
... barcode, inspection number, yymmdd imaging date, row number, column number, drop, ...
"""

from __future__ import annotations

import re
from pathlib import Path

from xtalviewer.importers.filenames import FoundImage, ParseContext, iso_date

LAYOUT = "minstrel"
_INSPECTION = re.compile(r"^\d{3}$")
_YYMMDD = re.compile(r"^\d{6}$")
_TWO = re.compile(r"^\d{2}$")


def parse(path: Path, ctx: ParseContext) -> FoundImage | None:
    tokens = path.stem.split("_")
    if len(tokens) < 7:
        return None
    for i in range(1, len(tokens) - 4):
        inspection, day, row, col, drop = tokens[i : i + 5]
        if not (_INSPECTION.match(inspection) and _YYMMDD.match(day) and _TWO.match(row) and _TWO.match(col)
                and _TWO.match(drop)):
            continue
        imaged = iso_date(day, "%y%m%d")
        r, c, d = int(row), int(col), int(drop)
        if imaged is None or not (1 <= r <= 32 and 1 <= c <= 48 and 1 <= d <= 9):
            continue
        return FoundImage(
            path=path,
            barcode=tokens[i - 1],
            inspection_key=f"inspection {int(inspection)}",
            layout=LAYOUT,
            row=r,
            col=c,
            drop=d,
            imaged_at=imaged,
            imager=tokens[0] if i > 1 else None,
            meta={"name_prefix": "_".join(tokens[: i - 1]), "name_suffix": "_".join(tokens[i + 5 :]),
                  "inspection_number": int(inspection)},
        )
    return None
