"""The numbers behind the Plots dialog: label counts per plate, model-vs-human agreement and a plate's
crystal-probability map. Plain functions over a ``Store``, one grouped store query each, so they stay
fast on a store of half a million images and can run on any thread that has its own connection.
"""

from __future__ import annotations

import numpy as np

from xtalviewer.crystal_call import is_hit
from xtalviewer.plates import row_letter, well_name
from xtalviewer.store.rows import Inspection
from xtalviewer.store.store import Store

# label sources that count as a reviewer's judgement; a label accepted from a prediction would
# agree with the model by construction and inflate the agreement
JUDGED_SOURCES = ("human", "import")

def label_counts_per_plate(store: Store, latest_only: bool = True) -> tuple[list[str], list[str | None], np.ndarray]:
    """Drops per plate and current label: ``(barcodes, keys, counts)``.

    ``keys`` are the scheme's class keys in scheme order followed by ``None`` (unlabelled); ``counts``
    has one row per barcode (sorted) and one column per key. ``latest_only`` counts the drops of each
    plate's latest inspection only (what the plate looks like now); otherwise every image counts.
    """
    keys: list[str | None] = [*store.scheme.keys, None]
    column = {k: j for j, k in enumerate(keys)}
    barcodes = store.barcodes()
    row_of = {b: i for i, b in enumerate(barcodes)}
    counts = np.zeros((len(barcodes), len(keys)), dtype=np.int64)
    for barcode, label, n in store.plate_label_counts(latest_only):
        if barcode in row_of and label in column:
            counts[row_of[barcode], column[label]] += n
    return barcodes, keys, counts


def agreement(store: Store, model_id: int | None) -> dict:
    """How often a model's top 1 matches the reviewers' current labels, overall and per plate.

    Counts images whose current label came from a person or an import (not from accepting a
    prediction) and that this model has scored. ``crystal`` agreement: the label and the model's
    top 1 are both crystal classes or both not. Rates are None when no image qualifies.
    Keys: n, top1, top3, crystal (rates), top1_n, top3_n, crystal_n (counts), keys (class order of
    ``confusion``: rows = human label, columns = model top 1), confusion, barcodes, plate_n,
    plate_top1, plate_top3 (per plate with at least one image, by barcode), labelled (all images
    with a judged label), model_id.
    """
    keys = store.scheme.keys
    index = {k: j for j, k in enumerate(keys)}
    crystal = np.asarray(store.scheme.crystal_mask)
    labelled = store.judged_label_count(JUDGED_SOURCES)
    confusion = np.zeros((len(keys), len(keys)), dtype=np.int64)
    plates: dict[str, list[int]] = {}  # barcode -> [n, top1 hits, top3 hits]
    if model_id is not None:
        rows = store.label_vs_prediction(model_id, JUDGED_SOURCES)
        for barcode, label, top1, n, top3_hits in rows:
            if label not in index or top1 not in index:
                continue
            confusion[index[label], index[top1]] += n
            tally = plates.setdefault(barcode, [0, 0, 0])
            tally[0] += n
            tally[1] += n if label == top1 else 0
            tally[2] += top3_hits or 0
    n = int(confusion.sum())
    top1_n = int(np.trace(confusion))
    top3_n = sum(t[2] for t in plates.values())
    crystal_n = int(confusion[np.ix_(crystal, crystal)].sum() + confusion[np.ix_(~crystal, ~crystal)].sum())
    barcodes = sorted(plates)
    tallies = np.array([plates[b] for b in barcodes], dtype=np.float64).reshape(-1, 3)
    return {
        "model_id": model_id,
        "labelled": int(labelled),
        "n": n,
        "top1_n": top1_n,
        "top3_n": int(top3_n),
        "crystal_n": crystal_n,
        "top1": top1_n / n if n else None,
        "top3": top3_n / n if n else None,
        "crystal": crystal_n / n if n else None,
        "keys": list(keys),
        "confusion": confusion,
        "barcodes": barcodes,
        "plate_n": tallies[:, 0].astype(np.int64),
        "plate_top1": tallies[:, 1] / tallies[:, 0] if len(barcodes) else np.zeros(0),
        "plate_top3": tallies[:, 2] / tallies[:, 0] if len(barcodes) else np.zeros(0),
    }


def inspection_choices(store: Store) -> list[Inspection]:
    """Every inspection with its plate, oldest first within a plate: what the map's pickers offer."""
    return store.inspection_choices()


def crystal_map(store: Store, model_id: int | None, inspection_id: int) -> dict:
    """One inspection laid out as its plate: ``rows`` x ``cols * drops`` cells, row A first, column 1
    first, the drops of a well side by side (drop d of well (r, c) is cell ``[r-1, (c-1)*drops + d-1]``).

    Keys: rows, cols, drops, barcode, inspection (the store's ``Inspection``), row_names, prob (crystal probability,
    NaN where the model has not scored the drop or there is no image), top1 (model's top-1 key or
    None), labels (current label or None), crystal_label (bool), inherited (for unlabelled drops, the
    label the same drop got at an earlier inspection, as the review grid shows it), crystal_inherited
    (bool), image_ids (-1 where no image), operating_point (the model's crystal-call rule) and hit
    (bool: the model calls the drop a hit at that rule).
    """
    insp = store.inspection(inspection_id)
    if insp is None:
        raise KeyError(f"there is no inspection {inspection_id}")
    images = store.inspection_drops(inspection_id, model_id)
    rows = max([insp.rows, *(r[1] for r in images)])
    cols = max([insp.cols, *(r[2] for r in images)])
    drops = max([insp.drops, *(r[3] for r in images)])
    shape = (rows, cols * drops)
    prob = np.full(shape, np.nan)
    image_ids = np.full(shape, -1, dtype=np.int64)
    labels = np.full(shape, None, dtype=object)
    top1 = np.full(shape, None, dtype=object)
    inherited = np.full(shape, None, dtype=object)
    cell: dict[int, tuple[int, int]] = {}
    for image_id, r, c, d, label, p, t1 in images:
        at = cell[image_id] = (r - 1, (c - 1) * drops + d - 1)
        image_ids[at], labels[at], top1[at] = image_id, label, t1
        if p is not None:
            prob[at] = p
    for image_id, (label, _) in store.inherited_labels(inspection_id).items():
        if image_id in cell:
            inherited[cell[image_id]] = label
    crystal_keys = store.scheme.crystal_keys
    is_crystal = np.frompyfunc(lambda k: k in crystal_keys, 1, 1)
    op = store.operating_point(model_id)
    with np.errstate(invalid="ignore"):
        hit = np.asarray(is_hit(prob, op.threshold), dtype=bool) & ~np.isnan(prob)
    return {
        "rows": rows, "cols": cols, "drops": drops, "barcode": insp.barcode, "inspection": insp,
        "row_names": [row_letter(r + 1) for r in range(rows)], "prob": prob, "top1": top1, "labels": labels,
        "crystal_label": is_crystal(labels).astype(bool), "inherited": inherited,
        "crystal_inherited": is_crystal(inherited).astype(bool), "image_ids": image_ids, "model_id": model_id,
        "operating_point": op, "hit": hit,
    }


def cell_info(data: dict, row: int, column: int) -> dict | None:
    """What a map cell holds: well, drop, image id, probability, hit, top 1, label, inherited label;
    None outside the plate."""
    if not (0 <= row < data["rows"] and 0 <= column < data["cols"] * data["drops"]):
        return None
    col, drop = divmod(column, data["drops"])
    p = data["prob"][row, column]
    image_id = int(data["image_ids"][row, column])
    return {
        "well": well_name(row + 1, col + 1), "drop": drop + 1,
        "image_id": image_id if image_id >= 0 else None,
        "prob": None if np.isnan(p) else float(p), "hit": bool(data["hit"][row, column]), "top1": data["top1"][row, column],
        "label": data["labels"][row, column], "inherited": data["inherited"][row, column],
    }
