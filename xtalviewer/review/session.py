"""The review session: the open inspection, its drops in the chosen order and filters, the drop on
screen and the selection, labelling with undo and redo, and the counts a reviewer plans by.

No Qt: the review window binds widgets and keys to a ``ReviewSession`` and paints what it holds,
so everything a reviewer can do is testable headless. The session reads and writes only through
named ``Store`` methods; a label is committed before any method here returns. Beside it:
``queue.py`` (orders, filters, reading the queue), ``labelling.py`` (writing labels, undo and redo),
``navigation.py`` (where the reviewer goes next), ``model_choice.py`` (which model it follows).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from xtalviewer.crystal_call import OperatingPoint, is_hit
from xtalviewer.files.image_roots import unmapped_root
from xtalviewer.review import labelling
from xtalviewer.review.labelling import LabelChange, UndoHistory, UnsavedLabels
from xtalviewer.review.plate_map import PlateLayout
from xtalviewer.review.queue import MODEL_ORDERS, ORDER_KEYS, Filters, read_queue
from xtalviewer.store.rows import Annotation, BestOverTime, CourseImage, Flag, Image, Inspection, InspectionSummary, \
    Model, QueueRow
from xtalviewer.store.screen_rows import WellCondition
from xtalviewer.store.schema import VISIBLE
from xtalviewer.store.store import Store, now_iso

class ReviewError(Exception):
    """An action that does not apply to what is on screen; the message says why."""


@dataclass
class ReviewSession:
    """What one reviewer has open. Rows are the store's review-queue rows (``QueueRow``); the GUI shows
    them as they are, and the session replaces a row when its label, prediction or load error changes."""

    store: Store
    annotator: str
    model: Model | None = None
    order: str = "plate"
    filters: Filters = field(default_factory=Filters)
    auto_advance: bool = True
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.scheme = self.store.scheme
        self.operating_point = self.store.operating_point(self.model_id)
        self.inspection: Inspection | None = None
        self.inspection_ids: list[int] = []
        self.rows: list[QueueRow] = []
        self.inherited: dict[int, tuple[str, str]] = {}
        self.best: dict[int, BestOverTime] = {}  # each drop's best over its inspections
        self.flags: dict[int, Flag] = {}  # drops flagged for a second look -> the newest flag event
        self.conditions: dict[str, WellCondition] = {}  # well -> its screen condition (none without a screen)
        self.modes: list[str] = [VISIBLE]  # imaging modes of the open inspection, visible first
        self.shown_mode = VISIBLE  # the mode the image view shows (M cycles); the queue holds visible drops
        self.side_by_side = False
        self.blind_plates: set[int] = set()  # blind review: earlier labels and the model hidden there
        self.blind_labelled: set[int] = set()  # drops labelled since blind review began (shown)
        self._blind_since = ""
        self.layout: PlateLayout | None = None
        self._by_id: dict[int, int] = {}
        self.current = -1
        self.selection: list[int] = []
        self.pending_label: str | None = None
        self.unsaved: UnsavedLabels | None = None  # a label write the database refused, kept for a retry
        self.shown_at = self.clock()  # when the current drop came on screen (a label's lead time)
        self.undo_history = UndoHistory()
        if self.order not in ORDER_KEYS:
            self.order = "plate"

    # -- model --------------------------------------------------------------------------------------

    @property
    def model_id(self) -> int | None:
        return self.model.id if self.model else None

    def set_model(self, model: Model | None) -> None:
        """Predictions, hits and orders follow this model from the next reload on."""
        self.model = model
        self.operating_point: OperatingPoint = self.store.operating_point(self.model_id)

    def is_hit(self, row: QueueRow) -> bool:
        return bool(is_hit(row.crystal_prob, self.operating_point.threshold))

    def best_hit(self, image_id: int) -> BestOverTime | None:
        """The drop's best over time when it was a hit at some inspection (the grid's mark)."""
        found = self.best.get(image_id)
        return found if found is not None and found.first_hit_inspection is not None else None

    # -- inspection, order, filters -------------------------------------------------------------------

    def set_inspections(self, inspection_ids: Sequence[int]) -> None:
        """The inspections in browsing order (Page Up / Page Down walk them)."""
        self.inspection_ids = list(inspection_ids)

    def open_inspection(self, inspection_id: int, keep_image: int | None = None) -> bool:
        """Open an inspection; keep ``keep_image`` (or the first drop) current. False if it is gone."""
        found = self.store.inspection(inspection_id)
        if found is None:
            return False
        self.inspection = found
        self.reload(keep_image=keep_image)
        return True

    def close_inspection(self) -> None:
        """Nothing open, an empty queue (a cold start, as the navigation benchmark measures it)."""
        self.inspection, self.rows, self._by_id, self.inherited = None, [], {}, {}
        self.best, self.flags, self.layout, self.conditions = {}, {}, None, {}
        self.selection, self.current = [], -1

    def reload(self, keep_image: int | None = None) -> int:
        """Read the queue again; the current drop stays current when it is still in it. Returns the current row."""
        if self.inspection is None:
            return -1
        keep = keep_image if keep_image is not None else self.current_image_id
        inspection_id = self.inspection.id
        self.modes = self.store.inspection_modes(inspection_id) or [VISIBLE]
        if self.shown_mode not in self.modes:
            self.shown_mode = self.modes[0]
        self.rows, self.conditions = read_queue(self.store, self.model_id, self.inspection, self.order, self.filters,
                                                self.queue_mode)
        self.inherited = self.store.inherited_labels(inspection_id)
        self.best = self.store.best_over_time(self.model_id, inspection_id)
        self.flags = self.store.flags(inspection_id)
        insp = self.inspection
        self.layout = PlateLayout.of(self.rows, insp.rows, insp.cols, insp.drops) if self.plate_map else None
        self._by_id = {r.id: i for i, r in enumerate(self.rows)}
        row = self._by_id.get(keep, 0) if keep is not None else 0
        self.selection = []
        self.set_current(row if self.rows else -1)
        return self.current

    @property
    def queue_mode(self) -> str:
        """The mode whose images are the drops: visible, or the first one an inspection has without it."""
        return VISIBLE if VISIBLE in self.modes else self.modes[0]

    @property
    def plate_map(self) -> bool:
        """Plate order without filters is the plate itself; other orders and filters are a flowing queue."""
        return self.order == "plate" and not self.filters.any()

    def check_queue(self, order: str, filters: Filters) -> None:
        """Refuse an order or filter that would show the model's answer during blind review."""
        if order not in ORDER_KEYS:
            raise ValueError(f"unknown review order {order!r}; choose from {', '.join(ORDER_KEYS)}")
        if self.blind and (order in MODEL_ORDERS or filters.shows_model()):
            raise ReviewError("Blind review hides the model's answer: its orders and filters are off until "
                              "blind review ends (Ctrl+B)")

    def set_order(self, order: str) -> int:
        self.check_queue(order, self.filters)
        self.order = order
        return self.reload()

    def set_filters(self, filters: Filters | None = None, **changes) -> int:
        """Replace the filters (or change some: ``set_filters(hit=True)``) and reload."""
        new = replace(filters or self.filters, **changes)
        self.check_queue(self.order, new)
        self.filters = new
        return self.reload()

    def clear_filters(self) -> int:
        return self.set_filters(Filters())

    def step(self, step: int) -> tuple[int, int | None] | None:
        """Page Up/Down: (the neighbouring inspection, the same drop in it), or None at either end.
        Within one plate the same drop stays current, so paging walks a drop through its time course."""
        ids = self.inspection_ids
        if not ids or self.inspection is None:
            return None
        i = ids.index(self.inspection.id) if self.inspection.id in ids else 0
        target = ids[max(0, min(len(ids) - 1, i + step))]
        if target == self.inspection.id:
            return None
        r = self.current_drop
        keep = self.store.same_drop(target, r.plate_id, r.well, r.drop_no, r.mode) if r else None
        return target, keep

    # -- rows, current drop, selection ------------------------------------------------------------------

    def row(self, i: int) -> QueueRow | None:
        return self.rows[i] if 0 <= i < len(self.rows) else None

    def condition_of(self, row: QueueRow | None) -> WellCondition | None:
        """The screen condition of the drop's well (None without a screen, or a well it does not list)."""
        return self.conditions.get(row.well) if row is not None else None

    def row_of(self, image_id: int | None) -> int | None:
        return self._by_id.get(image_id) if image_id is not None else None

    @property
    def current_drop(self) -> QueueRow | None:
        return self.row(self.current)

    @property
    def current_image_id(self) -> int | None:
        r = self.current_drop
        return r.id if r else None

    def set_current(self, row: int) -> None:
        """The drop on screen; the lead time of a label counts from here."""
        self.current = row if 0 <= row < len(self.rows) else -1
        self.shown_at = self.clock()

    def set_selection(self, rows: Sequence[int]) -> None:
        self.selection = sorted({r for r in rows if 0 <= r < len(self.rows)})

    def targets(self) -> list[int]:
        """The rows a label key labels: the selection when several drops are selected, else the current one."""
        if len(self.selection) > 1:
            return list(self.selection)
        return [self.current] if self.current >= 0 else []

    def own_label(self, row: QueueRow) -> str | None:
        """The drop's label at this inspection, as the reviewer may see it: in blind review only
        the labels given since it began."""
        if self.blind and row.id not in self.blind_labelled:
            return None
        return row.label

    def inherited_label(self, image_id: int) -> str | None:
        """The label carried from an earlier inspection, shown until the reviewer confirms one
        (never in blind review)."""
        row = self.row_of(image_id)
        if self.blind or (row is not None and self.rows[row].label):
            return None
        found = self.inherited.get(image_id)
        return found[0] if found else None

    def shown_label(self, row: QueueRow) -> str | None:
        return self.own_label(row) or self.inherited_label(row.id)

    def move_in_plate(self, d_row: int, d_col: int) -> int:
        """Arrows on the plate map: the next well in that direction (see ``PlateLayout.move``)."""
        if self.layout is not None:
            self.set_current(self.layout.move(self.current, d_row, d_col))
        return self.current

    def cycle_drop(self, step: int = 1) -> int:
        """The next drop of the current well (the drops of a well in turn)."""
        if self.layout is not None:
            self.set_current(self.layout.cycle(self.current, step))
        return self.current

    # -- labelling ----------------------------------------------------------------------------------------

    def label(self, key: str, *, source: str = "human") -> LabelChange | None:
        """Label the target drops, commit, and (with auto-advance) move past them. None: nothing to label."""
        return labelling.label(self, key, source=source)

    def accept_prediction(self) -> LabelChange | None:
        """Enter: the model's top 1 becomes the current drop's label."""
        r = self.current_drop
        if self.blind:
            raise ReviewError("Blind review hides the model's answer: label with the class keys")
        if not r or not r.top1:
            raise ReviewError("No prediction to accept for this drop yet")
        if len(self.targets()) > 1:
            raise ReviewError("Enter accepts one drop's prediction; select a single drop")
        return self.label(r.top1, source="accepted-prediction")

    @property
    def undo_text(self) -> str | None:
        return self.undo_history.undo_text

    @property
    def redo_text(self) -> str | None:
        return self.undo_history.redo_text

    def undo_redo_items(self) -> tuple[tuple[str, bool], tuple[str, bool]]:
        """Edit > Undo and Redo as the menu shows them: (text, on) each (``UndoHistory.menu_items``)."""
        return self.undo_history.menu_items()

    def undo(self) -> LabelChange | None:
        """Write annotations that put the labels back as they were (history only grows)."""
        return labelling.take_back(self, undo=True)

    def redo(self) -> LabelChange | None:
        return labelling.take_back(self, undo=False)

    def retry_labels(self) -> LabelChange | None:
        """Send the labels that were not saved again (None: nothing waits)."""
        return labelling.retry(self)

    # -- what background work found ----------------------------------------------------------------------

    def apply_prediction(self, image_id: int, fields: dict) -> int | None:
        """A drop scored while on screen: keep its prediction in the queue. ``fields``: the QueueRow
        fields the result fills in (top1 ... p3, crystal_prob, crystal_top3). Returns its row."""
        row = self.row_of(image_id)
        if row is not None:
            self.rows[row] = replace(self.rows[row], **fields)
        return row

    def mark_unreadable(self, image_id: int, error: str) -> bool:
        """A drop whose image cannot be decoded: note it in the queue and the store, once. True if new.
        Not a drop whose image root this workstation does not map: another one reads it."""
        row = self.row_of(image_id)
        if row is None or self.rows[row].load_error or unmapped_root(self.rows[row].path):
            return False
        self.rows[row] = replace(self.rows[row], load_error=error)
        self.store.mark_load_error(image_id, error)
        return True

    # -- counts -------------------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Of the drops in the queue: shown, labelled, hits at the model's operating point, crystal in top 3, scored."""
        return {
            "shown": len(self.rows),
            "labelled": sum(1 for r in self.rows if r.label),
            "hits": sum(1 for r in self.rows if self.is_hit(r)),
            "crystal_top3": sum(1 for r in self.rows if r.crystal_top3),
            "scored": sum(1 for r in self.rows if r.top1),
        }

    def inspection_counts(self) -> InspectionSummary | None:
        """The whole inspection's counts as the plate browser shows them (the store's summary row)."""
        if self.inspection is None:
            return None
        rows = self.store.inspection_summaries(self.model_id, self.inspection.id)
        return rows[0] if rows else None

    def history(self) -> list[Annotation | Flag]:
        """The drop's labels and second-look events, newest first; in blind review only what this
        reviewer did since it began."""
        r = self.current_drop
        if r is None:
            return []
        events = self.store.drop_history(r.id)
        if self.blind:
            events = [e for e in events if e.annotator == self.annotator and e.created_at >= self._blind_since]
        return events

    def time_course(self) -> list[CourseImage]:
        """The drop at every inspection in the mode on screen (labels hidden in blind review)."""
        r = self.current_drop
        if r is None:
            return []
        course = self.store.drop_course(r.plate_id, r.well, r.drop_no, self.shown_mode)
        if self.blind:
            course = [c if c.id == r.id and c.id in self.blind_labelled else
                      replace(c, shown_label=None, inherited=False) for c in course]
        return course

    # -- imaging modes -----------------------------------------------------------------------------------

    def cycle_mode(self) -> str:
        """M: the next imaging mode of the inspection in the image view (and the time course)."""
        self.shown_mode = self.modes[(self.modes.index(self.shown_mode) + 1) % len(self.modes)] \
            if self.shown_mode in self.modes else self.modes[0]
        return self.shown_mode

    def mode_images(self) -> dict[str, QueueRow | Image]:
        """mode -> image of the current drop at this inspection (just the drop when one mode)."""
        r = self.current_drop
        if r is None:
            return {}
        if len(self.modes) == 1:
            return {r.mode: r}
        return self.store.drop_modes(r.inspection_id, r.well, r.drop_no)

    # -- second look and blind review ---------------------------------------------------------------------

    def flag(self, on: bool = True, note: str | None = None) -> int:
        """D: mark the target drops as needing a second look (or clear the mark), committed at once.
        Returns how many drops changed."""
        rows = self.targets()
        ids = [self.rows[i].id for i in rows if (self.rows[i].id in self.flags) != on]
        if not ids:
            return 0
        self.store.add_flags(ids, on, self.annotator, note=note)
        self.flags = self.store.flags(self.inspection.id) if self.inspection else {}
        return len(ids)

    @property
    def blind(self) -> bool:
        return self.inspection is not None and self.inspection.plate_id in self.blind_plates

    @property
    def shows_model(self) -> bool:
        return self.model is not None and not self.blind

    def set_blind(self, on: bool) -> int:
        """Blind review of the open plate: earlier labels, inherited labels and the model's answer
        stay hidden until it is turned off; the queue goes back to plate order without filters."""
        if self.inspection is None:
            raise ReviewError("Open a plate first")
        plate = self.inspection.plate_id
        if on:
            self.blind_plates.add(plate)
            self.blind_labelled, self._blind_since = set(), now_iso()
            self.order, self.filters = "plate", Filters()
        else:
            self.blind_plates.discard(plate)
        return self.reload()
