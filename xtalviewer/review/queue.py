"""Which drops of an inspection the reviewer walks, and in which order: the review orders, the
filters (the model's call, labels, the well's screen condition), and reading the queue from the
store with them. No Qt; the session (``review/session.py``) holds what was read."""

from __future__ import annotations

from dataclasses import dataclass

from xtalviewer.store.rows import Inspection, QueueRow
from xtalviewer.store.screen_rows import WellCondition
from xtalviewer.store.store import Store

ORDERS = (("plate", "Plate order"), ("crystal", "Likely crystals first"), ("margin", "Most uncertain (margin)"),
          ("entropy", "Most uncertain (entropy)"), ("disagreement", "Disagreements"),
          ("best", "Best over time"), ("disputed", "Disputed (second look)"))
ORDER_KEYS = tuple(k for k, _ in ORDERS)
MODEL_ORDERS = ("crystal", "margin", "entropy", "disagreement", "best")  # they rank by the model's answer


@dataclass(frozen=True)
class Filters:
    """Which drops of the inspection the queue keeps. ``hit`` is the model's call at its operating
    point; ``crystal_top3`` the second strategy (a crystal class among the three most likely)."""

    label: str | None = None
    predicted: str | None = None
    hit: bool | None = None
    crystal_top3: bool | None = None
    unreviewed: bool = False
    component: str | None = None  # "condition contains": a component of the well's screen condition
    ph_range: tuple[float, float] | None = None  # the condition's pH, low <= pH < high

    def any(self) -> bool:
        return self != Filters()

    def shows_model(self) -> bool:
        """Whether these filters select by the model's answer (blind review refuses them)."""
        return bool(self.predicted) or self.hit is not None or self.crystal_top3 is not None

    def keeps_condition(self, condition: WellCondition | None) -> bool:
        """Whether a drop whose well held ``condition`` passes the condition filters."""
        if not self.component and self.ph_range is None:
            return True
        if condition is None:
            return False
        return (not self.component or condition.has_component(self.component)) and \
            (self.ph_range is None or condition.in_ph_range(*self.ph_range))


def read_queue(store: Store, model_id: int | None, inspection: Inspection, order: str, filters: Filters,
               mode: str) -> tuple[list[QueueRow], dict[str, WellCondition]]:
    """The inspection's drops (images of ``mode``) in ``order`` that ``filters`` keep, and the plate's
    screen conditions by well (empty without a screen)."""
    f = filters
    rows = store.review_queue(model_id, order, inspection_id=inspection.id, unlabelled_only=f.unreviewed,
                              label=f.label, predicted=f.predicted, crystal_top3=f.crystal_top3, hit=f.hit, mode=mode)
    conditions = store.plate_conditions(inspection.plate_id)
    if f.component or f.ph_range is not None:
        rows = [r for r in rows if f.keeps_condition(conditions.get(r.well))]
    return rows, conditions
