"""Where the reviewer goes next, decided without Qt: the inspection to open once the plate browser
has read its rows, the inspection of a time-course image, a drop picked in the plots or the hit
list. Each changes or answers for a ``ReviewSession``; the review commands show the result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from xtalviewer.review.queue import Filters
from xtalviewer.store.rows import CourseImage, InspectionSummary

if TYPE_CHECKING:
    from xtalviewer.review.session import ReviewSession


def inspection_after_refresh(session: ReviewSession, inspections: Sequence[InspectionSummary],
                             wanted_plate: str | None = None, then_open: int | None = None) -> int | None:
    """The plate browser read its rows (browsing order, which Page Up/Down walk): the inspection to
    open now. The one asked for, else the one open, else the latest of ``wanted_plate``
    (``xtalviewer --plate``), else the latest of all. None: it is open already, or there is none."""
    session.set_inspections([r.id for r in inspections])
    target = then_open or (session.inspection.id if session.inspection else None)
    if target is None and inspections:
        target = next((r.id for r in reversed(inspections) if r.barcode == wanted_plate), inspections[-1].id)
    return None if session.inspection is not None and session.inspection.id == target else target


def course_step(session: ReviewSession, image: CourseImage) -> tuple[int, int | None] | None:
    """A time-course image picked: (its inspection, the same drop there in the queue's mode, to keep
    current), as ``ReviewSession.step`` answers; None when it is the inspection open."""
    if session.inspection is None or image.inspection_id == session.inspection.id:
        return None
    keep = image.id if image.mode == session.queue_mode else session.store.same_drop(
        image.inspection_id, image.plate_id, image.well, image.drop_no, session.queue_mode)
    return image.inspection_id, keep


def go_to_image(session: ReviewSession, image_id: int) -> Literal["opened", "moved"] | None:
    """A drop picked elsewhere becomes current. 'moved': it was in the queue; 'opened': its inspection
    was opened with the filters cleared (they may have hidden it); None: the store no longer has it."""
    inspection_id = session.store.inspection_of_image(image_id)
    if inspection_id is None:
        return None
    row = session.row_of(image_id)
    if session.inspection is not None and session.inspection.id == inspection_id and row is not None:
        session.set_current(row)
        return "moved"
    session.filters = Filters()
    return "opened" if session.open_inspection(inspection_id, keep_image=image_id) else None
