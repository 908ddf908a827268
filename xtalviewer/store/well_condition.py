"""The one join that puts a well's screen condition beside an image: the plate's screen
(``plate_screen``) and that screen's condition at the image's row and column. The hit list, the
export and the plate report select through it; a plate without a screen gives NULLs."""

from __future__ import annotations


def condition_join(image: str = "i") -> str:
    """LEFT JOINs adding ``wsc`` (the well's screen condition) for images aliased ``image``."""
    return (f"LEFT JOIN plate_screen wps ON wps.plate_id = {image}.plate_id "
            f"LEFT JOIN screen_condition wsc ON wsc.screen_id = wps.screen_id AND wsc.row = {image}.row "
            f"AND wsc.col = {image}.col")


CONDITION_COLUMNS = "wsc.description, wsc.ph"  # rows' ``condition`` and ``ph``
