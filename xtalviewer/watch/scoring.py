"""Scoring what the watcher imported: the predict pipeline (``Scorer`` and ``ScoringRun`` of
model/inference.py: decoding threads, batched forward passes, a writer thread) on an inspection's
drops, the checkpoint kept loaded between inspections, and the counts of its one log line.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from xtalviewer.model.inference import Scorer, ScoringRun, WorkItem, work_list
from xtalviewer.store.store import Store
from xtalviewer.watch.events import InspectionImported, InspectionScored, NewHit, NewHits


@dataclass
class ModelChoice:
    """The model to score with now, or why there is none (``reason``, with a ``hint`` for the log)."""

    model: object | None = None
    scorer: Scorer | None = None
    loaded: str | None = None  # "X (resnet18@128) on cpu" when its checkpoint was loaded just now
    reason: str | None = None
    hint: str | None = None


class LoadedModel:
    """The active model's checkpoint on a device, loaded again only when the active model changes."""

    def __init__(self, device: str = "auto"):
        self.device = device
        self._key: tuple | None = None
        self._scorer: Scorer | None = None
        self.name: str | None = None

    def current(self, store: Store) -> ModelChoice:
        from xtalviewer.labels import SchemeError
        from xtalviewer.model.architectures import CheckpointError, load_checkpoint
        from xtalviewer.model.inference import describe_device, select_device
        from xtalviewer.model.registry import current_model

        model = current_model(store)
        if model is None:
            return ModelChoice(reason="no model to score with", hint="train one (xtal-train) or activate one "
                               "(xtalviewer models activate ID); inspections are imported meanwhile and scored "
                               "once there is one")
        key = (model.id, model.path)
        if key == self._key:
            return ModelChoice(model, self._scorer)
        try:
            meta, net = load_checkpoint(key[1], store.scheme)
            device = select_device(self.device)
            scorer = Scorer(net, meta, device)
        except (CheckpointError, SchemeError, OSError, RuntimeError, ValueError) as exc:
            return ModelChoice(reason=f"model {model.name} cannot be loaded",
                               hint=f"{exc}; tried again with back-off")
        self._key, self._scorer, self.name = key, scorer, model.name
        return ModelChoice(model, scorer, loaded=f"{self.name} ({meta.arch}@{meta.input_size}) on "
                                                 f"{describe_device(device)}")


def drops_to_score(store: Store, model_id: int, inspection_ids: Iterable[int]) -> tuple[list[WorkItem], dict[int, int]]:
    """The drops of these inspections that still need this model's prediction (the predict work
    list, per plate), and the inspection of each (image id -> inspection id)."""
    plates: dict[int, set[int]] = {}
    for inspection_id in inspection_ids:
        inspection = store.inspection(inspection_id)
        if inspection is not None:
            plates.setdefault(inspection.plate_id, set()).add(inspection_id)
    items, inspection_of = [], {}
    for plate_id, wanted in plates.items():
        plate_items = work_list(store, model_id, plate_id=plate_id)
        inspections = store.inspections_of_images(it.image_id for it in plate_items)
        for item in plate_items:
            inspection_id = inspections.get(item.image_id)
            if inspection_id in wanted:
                items.append(item)
                inspection_of[item.image_id] = inspection_id
    return items, inspection_of


@dataclass
class Scored:
    """What a scoring run did: drops scored per inspection, and why it stopped early, if it did."""

    per_inspection: dict[int, int] = field(default_factory=dict)
    failure: str | None = None
    cancelled: bool = False
    seconds: float = 0.0


def score_drops(scorer: Scorer, items: list[WorkItem], inspection_of: dict[int, int], *, db: Path, model_id: int,
                batch_size: int, workers: int, stop: threading.Event) -> Scored:
    """One ScoringRun over the drops; a set ``stop`` cancels it between batches (the rest stays
    unscored for the next start)."""
    out = Scored(dict.fromkeys(inspection_of.values(), 0))
    start = time.perf_counter()
    if items:
        run = ScoringRun(scorer, items, db_path=db, model_id=model_id, batch_size=batch_size, workers=workers)
        for result in run:
            if result.probs is not None:
                out.per_inspection[inspection_of[result.image_id]] += 1
            if stop.is_set():
                run.cancel()
        out.failure = run.error  # any stage that failed stopped the whole run; the rest is scored on a retry
        out.cancelled = run.cancelled
    out.seconds = time.perf_counter() - start
    return out


def inspection_counts(store: Store, inspection_id: int, model_id: int | None) -> dict[str, int]:
    """Drops (visible images), hits at the model's operating point, unreadable drops of an inspection."""
    rows = store.inspection_summaries(model_id, inspection_id)
    if not rows:
        return {"drops": 0, "hits": 0, "unreadable": 0}
    row = rows[0]
    return {"drops": row.images or 0, "hits": row.predicted_hits or 0,
            "unreadable": row.unreadable or 0}


def new_hits(store: Store, model_id: int, plate: str, inspection_id: int) -> list:
    """Drops first a hit at this inspection, as ``hits --new`` lists them (hit-list rows)."""
    rows = store.hit_list(model_id, plate=plate, new_only=True)
    return [r for r in rows if r.inspection_id == inspection_id]


def unscored_under(store: Store, model_id: int, folders: Iterable[str]) -> tuple[int, set[int]]:
    """(drops, inspections) under these folders that still need this model's prediction."""
    roots = tuple(f.rstrip(os.sep) + os.sep for f in folders)
    items = [it for it in work_list(store, model_id) if it.path.startswith(roots)]
    return len(items), set(store.inspections_of_images(it.image_id for it in items).values())


def write_summary(store: Store, model, path: Path, days: int) -> str | None:
    """Rewrite the morning summary (the new hits of the last ``days``) at ``path``, in the format its
    suffix names; the reason when it could not be written."""
    from xtalviewer.report.hits import hit_rule, summary_format, write_hits

    since = (date.today() - timedelta(days=days)).isoformat()
    model_id = model.id
    try:
        rows = store.hit_list(model_id, since=since, new_only=True)
        write_hits(path, rows, summary_format(path), rule=hit_rule(model, store.operating_point(model_id)),
                   title=f"New hits since {since}", new_only=True)
    except (OSError, ValueError) as exc:
        return str(exc)
    return None


def scored_events(store: Store, model, inspection_id: int, imported: InspectionImported | None, *, scored: int,
                  score_s: float, stored_at: float) -> tuple[InspectionScored, NewHits | None]:
    """What the watcher says about an inspection it scored: its line (drops, hits, new hits) and the
    drops that became hits at it (None when there are none)."""
    model_id = model.id
    inspection = store.inspection(inspection_id)
    plate, key = inspection.barcode, inspection.key
    counts = inspection_counts(store, inspection_id, model_id)
    new = new_hits(store, model_id, plate, inspection_id)
    event = InspectionScored(
        plate=plate, inspection=key, inspection_id=inspection_id, imaged_at=inspection.imaged_at,
        drops=counts["drops"], scored=scored, unreadable=counts["unreadable"], hits=counts["hits"],
        new_hits=len(new), model=model.name, score_s=score_s, stored_at=stored_at,
        ready_at=imported.ready_at if imported else None, import_s=imported.import_s if imported else None)
    if not new:
        return event, None
    threshold = store.operating_point(model_id).threshold
    return event, NewHits(plate, key, inspection_id, threshold, tuple(
        NewHit(*(getattr(r, k) for k in ("image_id", "well", "drop", "crystal_prob", "image_path"))) for r in new))
